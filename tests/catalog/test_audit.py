"""The catalog's reads are audited through the writer's own pool (the catalog has no other
MES connection), and a MES database that is down or hangs neither fails nor slows them."""

from __future__ import annotations

import asyncio
import time

import asyncpg
import pytest

from services.catalog.app import create_app
from shared.settings import AuditSettings, Settings, parse_api_keys
from tests.helpers import assert_envelope
from tests.support.catalog import HEADERS, KEY
from tests.support.urls import url


def audited_catalog(protheus_dsn: str, mes_dsn: str, audit: AuditSettings):
    settings = Settings(
        protheus_db_url=protheus_dsn,
        mes_db_url=mes_dsn,
        api_keys=parse_api_keys(f"agent:{KEY}:catalog:read"),
        audit=audit,
    )
    return create_app(settings)


async def test_catalog_reads_land_in_the_audit_table(crafted, fresh_database, aiohttp_client):
    await crafted.product("P1", "PARAFUSO")
    mes_dsn = await fresh_database()  # empty: the writer brings the schema up itself
    client = await aiohttp_client(
        audited_catalog(crafted.dsn, mes_dsn, AuditSettings(enabled=True, flush_s=0.05))
    )
    for n in range(3):
        resp = await client.get(
            url(client, "product", code="P1"), headers={**HEADERS, "X-Request-ID": f"cat-{n}"}
        )
        await assert_envelope(resp, 200)
    await assert_envelope(
        await client.get(url(client, "legacy_product", code="NOPE"), headers=HEADERS), 404
    )
    await assert_envelope(await client.get("/healthz"), 200)  # public: not audited
    conn = await asyncpg.connect(mes_dsn)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                rows = await conn.fetch("SELECT * FROM audit_log ORDER BY at")
            except asyncpg.UndefinedTableError:
                rows = []
            if len(rows) >= 4 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.05)
    finally:
        await conn.close()
    assert [(r["key_name"], r["route"], r["status"]) for r in rows] == [
        ("agent", "product", 200),
        ("agent", "product", 200),
        ("agent", "product", 200),
        ("agent", "legacy_product", 404),
    ]
    assert [r["request_id"] for r in rows[:3]] == ["cat-0", "cat-1", "cat-2"]
    assert {r["service"] for r in rows} == {"catalog"}


@pytest.fixture
async def hanging_server():
    """A TCP server that accepts connections and never answers: a database that hangs."""
    writers = []

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield f"postgresql://postgres@127.0.0.1:{port}/mes"
    for writer in writers:
        writer.close()
    server.close()


@pytest.mark.parametrize("kind", ["refused", "hanging"])
async def test_a_mes_database_down_neither_fails_nor_slows_reads(
    kind, crafted, aiohttp_client, hanging_server
):
    await crafted.product("P1", "PARAFUSO")
    mes_dsn = hanging_server if kind == "hanging" else "postgresql://postgres@127.0.0.1:1/mes"
    audit = AuditSettings(enabled=True, flush_s=0.05, buffer_rows=5, batch_rows=5)
    client = await aiohttp_client(audited_catalog(crafted.dsn, mes_dsn, audit))
    # Warm up (first connection to the Protheus database), then time reads.
    product = url(client, "product", code="P1")
    await assert_envelope(await client.get(product, headers=HEADERS), 200)
    slowest = 0.0
    for _ in range(30):
        started = time.perf_counter()
        resp = await client.get(product, headers=HEADERS)
        await assert_envelope(resp, 200)
        slowest = max(slowest, time.perf_counter() - started)
    assert slowest < 0.5, slowest
    metrics = await (await client.get("/metrics")).text()
    dropped = next(
        float(line.split()[-1])
        for line in metrics.splitlines()
        if line.startswith('audit_rows_total{outcome="dropped"}')
    )
    assert dropped >= 20  # 31 rows, at most 5 buffered (+ a batch in flight)
    resp = await client.get("/readyz", headers=HEADERS)
    body = await resp.json()
    assert resp.status == 200  # the audit does not gate readiness
    assert body["data"]["checks"]["audit"]["status"] == "down"
    assert body["data"]["checks"]["audit"]["required"] is False

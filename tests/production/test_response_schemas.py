"""Every production answer is exactly what its declared response schema documents: the answer
loads through the schema and dumps back to the same JSON, byte for byte (fields, order, types)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import asyncpg
import marshmallow as ma
import orjson
import pytest

from services.production.orders import queries as order_queries
from services.production.orders import schemas as order_schemas
from services.production.reports import schemas as report_schemas
from services.production.stops import schemas as stop_schemas
from shared.json import dumps_bytes
from shared.settings import parse_api_keys
from tests.helpers import auth
from tests.support.production import KEYS, READ, WRITE, report_body
from tests.support.stops import insert_stop
from tests.support.urls import url


@pytest.fixture
async def client(aiohttp_client, production_app, protheus_dsn, mes_dsn):
    return await aiohttp_client(production_app(protheus_dsn=protheus_dsn, mes_dsn=mes_dsn))


async def answer(response: Any, status: int, schema: type[ma.Schema]) -> dict[str, Any]:
    """The answer's body, checked against `schema`: loading it refuses no key (none undeclared,
    no null where the schema says not nullable) and dumping what was loaded gives back the
    same bytes (the same fields, in the same order, of the same types)."""
    raw = await response.read()
    assert response.status == status, raw
    body = orjson.loads(raw)
    assert dumps_bytes(schema().dump(schema().load(body))) == raw
    return body


async def test_report_answers_are_their_schemas_dumps(client, orders, mes_dsn):
    body = await answer(
        await client.post(
            "/api/v1/production-reports",
            json=report_body(orders, lot="L1"),
            headers={**WRITE, "Idempotency-Key": "k1"},
        ),
        202,
        report_schemas.ReportAcceptedResponse,
    )
    report_id = body["data"]["id"]
    # A replayed answer is the first one, byte for byte.
    replay = await answer(
        await client.post(
            "/api/v1/production-reports",
            json=report_body(orders, lot="L1"),
            headers={**WRITE, "Idempotency-Key": "k1"},
        ),
        202,
        report_schemas.ReportAcceptedResponse,
    )
    assert dumps_bytes(replay) == dumps_bytes(body)
    await client.post(
        "/api/v1/production-reports",
        json=report_body(orders, scrapReason=None, scrapQuantity=0),
        headers=WRITE,
    )
    # Two attempts in the history, the first finished, the second rejected it.
    conn = await asyncpg.connect(mes_dsn)
    try:
        await conn.execute(
            """INSERT INTO report_attempts (report_id, attempt, finished_at, outcome, http_status,
                                            message, request_id)
               VALUES ($1, 1, now(), 'unknown', 502, 'HTTP 502', 'req-1'),
                      ($1, 2, now(), 'rejected', 400, 'recusado', NULL)""",
            uuid.UUID(report_id),
        )
        await conn.execute("DELETE FROM report_outbox WHERE report_id = $1", uuid.UUID(report_id))
        await conn.execute(
            "UPDATE production_reports SET status = 'rejected', attempts = 2, error = 'recusado' "
            "WHERE id = $1",
            uuid.UUID(report_id),
        )
    finally:
        await conn.close()
    got = await answer(
        await client.get(f"/api/v1/production-reports/{report_id}", headers=READ),
        200,
        report_schemas.ReportResponse,
    )
    assert [a["outcome"] for a in got["data"]["history"]] == ["unknown", "rejected"]
    listing = await answer(
        await client.get("/api/v1/production-reports", headers=READ),
        200,
        report_schemas.ReportListResponse,
    )
    assert listing["data"]["total"] == 2
    await answer(
        await client.get(
            "/api/v1/production-reports",
            params={"status": "rejected", "order": orders.open_order, "page": 3},
            headers=READ,
        ),
        200,
        report_schemas.ReportListResponse,
    )
    corrected = await answer(
        await client.patch(
            f"/api/v1/production-reports/{report_id}", json={"operator": "OP0002"}, headers=WRITE
        ),
        200,
        report_schemas.ReportResponse,
    )
    assert corrected["data"]["status"] == "pending"


async def test_order_answers_are_their_schemas_dumps(client, orders):
    await client.post("/api/v1/production-reports", json=report_body(orders), headers=WRITE)
    listing = await answer(
        await client.get("/api/v1/production-orders", headers=READ),
        200,
        order_schemas.OrderListResponse,
    )
    assert listing["data"]["data"]
    await answer(
        await client.get(
            "/api/v1/production-orders",
            params={"status": "closed", "planned_from": "2020-01-01", "page": 1000},
            headers=READ,
        ),
        200,
        order_schemas.OrderListResponse,
    )
    detail = await answer(
        await client.get(f"/api/v1/production-orders/{orders.open_order}", headers=READ),
        200,
        order_schemas.OrderDetailResponse,
    )
    assert detail["data"]["operations"]
    assert detail["data"]["pendingReports"]


def test_an_order_declares_every_c2_column_the_statements_read_in_their_order():
    declared = [name for name in order_schemas.ProductionOrder().fields if name.startswith("C2_")]
    assert declared == [column.upper() for column in order_queries.ORDER_COLUMNS]


async def test_stop_answers_are_their_schemas_dumps(
    aiohttp_client, production_app, protheus_dsn, mes_dsn
):
    admin = "schemas-admin-key-0123456789abcdef"
    client = await aiohttp_client(
        production_app(
            protheus_dsn=protheus_dsn,
            mes_dsn=mes_dsn,
            api_keys=parse_api_keys(f"{KEYS};boss:{admin}:admin"),
        )
    )
    start = dt.datetime(2026, 3, 2, 8, tzinfo=dt.UTC)
    conn = await asyncpg.connect(mes_dsn)
    try:
        await conn.execute(
            "INSERT INTO machines (machine, site, area, line, last_seen) "
            "VALUES ('M1', 'porto', 'usinagem', 'linha1', now())"
        )
        closed = await insert_stop(conn, start_at=start, end_at=start + dt.timedelta(hours=1),
                                   plc_reason="E1")  # fmt: skip
        await insert_stop(conn, start_at=start + dt.timedelta(hours=2))  # open
        delivered = await insert_stop(
            conn, start_at=start - dt.timedelta(hours=2), end_at=start - dt.timedelta(hours=1),
            reason_code="01", classified_by="person", operator="OP01", note="nota",
            status="delivered", attempts=1, pushed_start=start - dt.timedelta(hours=2),
            pushed_end=start - dt.timedelta(hours=1), id_appointment="000001", manual=True,
        )  # fmt: skip
        await conn.execute(
            """INSERT INTO stop_attempts (stop_id, attempt, finished_at, outcome, http_status,
                                          message, request_id)
               VALUES ($1, 1, now(), 'delivered', 201, NULL, 'req-1')""",
            delivered,
        )
    finally:
        await conn.close()
    window = {"from": "2026-03-02T00:00:00-03:00", "to": "2026-03-03T00:00:00-03:00"}
    listing = await answer(
        await client.get(url(client, "stops_list"), headers=READ),
        200,
        stop_schemas.StopListResponse,
    )
    assert listing["data"]["total"] == 3
    await answer(
        await client.get(
            url(client, "stops_list", {**window, "line": "porto/usinagem/linha1", "page": 9}),
            headers=READ,
        ),
        200,
        stop_schemas.StopListResponse,
    )
    detail = await answer(
        await client.get(url(client, "stop", id=str(delivered)), headers=READ),
        200,
        stop_schemas.StopResponse,
    )
    assert detail["data"]["history"][0]["requestId"] == "req-1"
    split = await answer(
        await client.patch(
            url(client, "stop_change", id=str(closed)),
            json={"splitAt": (start + dt.timedelta(minutes=30)).isoformat()},
            headers=WRITE,
        ),
        200,
        stop_schemas.StopResponse,
    )
    assert len(split["data"]["splitInto"]) == 2
    await answer(
        await client.patch(
            url(client, "stop_change", id=str(closed)), json={"reason": "02"}, headers=WRITE
        ),
        200,
        stop_schemas.StopResponse,
    )
    await answer(
        await client.put(
            url(client, "stop_reason_mapping"), json={"mapping": {"E1": "03"}}, headers=auth(admin)
        ),
        200,
        stop_schemas.MappingResponse,
    )
    reasons = await answer(
        await client.get(url(client, "stop_reasons"), headers=READ),
        200,
        stop_schemas.StopReasonsResponse,
    )
    assert reasons["data"]
    for by in ("reason", "machine", "state"):
        pareto = await answer(
            await client.get(url(client, "downtime_pareto", {**window, "by": by}), headers=READ),
            200,
            stop_schemas.ParetoResponse,
        )
        assert pareto["data"]["rows"]

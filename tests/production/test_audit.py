"""The audit trail on the production service: rows land, writes are atomic with their audit
row, GET /api/v1/audit filters and paginates for admin keys only, retention, append-only,
and the Protheus attempts carry the submitting request's id."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from typing import Any

import asyncpg
import pytest

from services.production.app import create_app
from shared.audit import partitions
from shared.audit.writer import INSERT, AuditRow, AuditWriter
from shared.settings import AuditSettings, Settings, parse_api_keys
from tests.helpers import assert_envelope, auth
from tests.support.production import FAST, WRITE_KEY, drain, final, report, report_body
from tests.support.urls import url

ADMIN_KEY, READ_KEY = "audit-admin-key-0123456789abcdef", "audit-read-key-0123456789abcdef"
KEYS = (
    f"line1:{WRITE_KEY}:production:write,production:read;viewer:{READ_KEY}:production:read;"
    f"ops:{ADMIN_KEY}:admin"
)
ON = AuditSettings(enabled=True, flush_s=0.05)


@pytest.fixture
def audited_app(protheus_dsn, mes_dsn):
    def make(audit: AuditSettings = ON, **overrides: Any):
        settings = Settings(
            protheus_db_url=protheus_dsn,
            mes_db_url=mes_dsn,
            api_keys=parse_api_keys(KEYS),
            pusher=FAST,
            audit=audit,
            **overrides,
        )
        return create_app(settings)

    return make


async def audit_rows(dsn: str, where: str = "TRUE", *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetch(f"SELECT * FROM audit_log WHERE {where} ORDER BY at", *args)
    finally:
        await conn.close()


async def wait_rows(dsn: str, count: int, where: str = "TRUE", *args: Any) -> list[Any]:
    deadline = time.monotonic() + 10
    while True:
        rows = await audit_rows(dsn, where, *args)
        if len(rows) >= count or time.monotonic() > deadline:
            return rows
        await asyncio.sleep(0.05)


async def test_authenticated_requests_land_with_who_what_and_where(
    aiohttp_client, audited_app, mes_dsn
):
    client = await aiohttp_client(audited_app())
    reports = url(client, "production_reports_list")
    headers = {**auth(READ_KEY), "X-Request-ID": "req-read-1", "X-Real-IP": "203.0.113.7"}
    await assert_envelope(await client.get(reports, headers=headers), 200)
    # A valid key without the scope: recorded (403); no key or an unknown key: not (401).
    forbidden = {**auth(READ_KEY), "X-Request-ID": "req-forbidden-1"}
    resp = await client.post(url(client, "production_reports_create"), json={}, headers=forbidden)
    assert resp.status == 403
    for bad in ({}, auth("not-a-configured-key")):
        resp = await client.get(reports, headers={**bad, "X-Request-ID": "req-anon-1"})
        assert resp.status == 401
    rows = await wait_rows(mes_dsn, 2)
    by_id = {r["request_id"]: r for r in rows}
    assert set(by_id) == {"req-read-1", "req-forbidden-1"}
    read = by_id["req-read-1"]
    assert (read["key_name"], read["method"], read["route"], read["status"]) == (
        "viewer",
        "GET",
        "production_reports_list",
        200,
    )
    assert read["path"] == reports  # the path as requested
    assert read["peer"] == "127.0.0.1"
    assert read["client"] == "203.0.113.7"  # X-Real-IP from a trusted proxy (loopback)
    assert read["service"] == "production"
    assert abs((read["at"] - dt.datetime.now(dt.UTC)).total_seconds()) < 30
    denied = by_id["req-forbidden-1"]
    assert (denied["key_name"], denied["method"], denied["status"]) == ("viewer", "POST", 403)


async def test_x_real_ip_from_an_untrusted_peer_is_not_believed(
    aiohttp_client, audited_app, mes_dsn
):
    untrusted = AuditSettings(enabled=True, flush_s=0.05, trusted_proxies=())
    client = await aiohttp_client(audited_app(untrusted))
    headers = {**auth(READ_KEY), "X-Request-ID": "req-spoof", "X-Real-IP": "198.51.100.1"}
    await assert_envelope(
        await client.get(url(client, "production_reports_list"), headers=headers), 200
    )
    (row,) = await wait_rows(mes_dsn, 1)
    assert row["client"] == "127.0.0.1"


async def test_a_report_and_its_audit_row_commit_together_once(
    aiohttp_client, audited_app, orders, mes_dsn
):
    client = await aiohttp_client(audited_app())
    headers = {**auth(WRITE_KEY), "X-Request-ID": "req-post-1"}
    data = await assert_envelope(
        await client.post(
            url(client, "production_reports_create"), json=report_body(orders), headers=headers
        ),
        202,
    )
    # The audit row is there as soon as the answer is (same transaction), and only once.
    rows = await audit_rows(mes_dsn, "request_id = $1", "req-post-1")
    assert len(rows) == 1
    assert (rows[0]["status"], rows[0]["subject"], rows[0]["route"], rows[0]["key_name"]) == (
        202,
        data["id"],
        "production_reports_create",
        "line1",
    )
    await asyncio.sleep(0.3)  # a flush later, still one row
    assert len(await audit_rows(mes_dsn, "request_id = $1", "req-post-1")) == 1
    conn = await asyncpg.connect(mes_dsn)
    try:
        assert (
            await conn.fetchval(
                "SELECT request_id FROM production_reports WHERE id = $1", data["id"]
            )
            == "req-post-1"
        )
    finally:
        await conn.close()


async def test_a_failing_audit_insert_rolls_the_report_back_and_vice_versa(
    aiohttp_client, audited_app, orders, mes_dsn
):
    conn = await asyncpg.connect(mes_dsn)
    try:
        # The in-transaction row (it names its subject) fails; the middleware's row does not.
        await conn.execute(
            """CREATE FUNCTION fail_audit() RETURNS trigger LANGUAGE plpgsql AS $$
               BEGIN IF NEW.subject IS NOT NULL THEN RAISE EXCEPTION 'forced'; END IF;
               RETURN NEW; END $$;
               CREATE TRIGGER fail_audit BEFORE INSERT ON audit_log
               FOR EACH ROW EXECUTE FUNCTION fail_audit();"""
        )
        client = await aiohttp_client(audited_app())
        headers = {**auth(WRITE_KEY), "X-Request-ID": "req-fail-audit"}
        resp = await client.post(
            url(client, "production_reports_create"), json=report_body(orders), headers=headers
        )
        assert resp.status == 500
        assert await conn.fetchval("SELECT count(*) FROM production_reports") == 0
        assert await conn.fetchval("SELECT count(*) FROM report_outbox") == 0
        # Recorded once, by the middleware, with the status the client got.
        rows = await wait_rows(mes_dsn, 1, "request_id = $1", "req-fail-audit")
        assert [(r["status"], r["subject"]) for r in rows] == [(500, None)]

        # Now the audit insert succeeds and a later statement of the same transaction fails.
        await conn.execute("DROP TRIGGER fail_audit ON audit_log")
        await conn.execute(
            """CREATE FUNCTION fail_key() RETURNS trigger LANGUAGE plpgsql AS $$
               BEGIN RAISE EXCEPTION 'forced'; END $$;
               CREATE TRIGGER fail_key BEFORE INSERT ON idempotency_keys
               FOR EACH ROW EXECUTE FUNCTION fail_key();"""
        )
        headers = {**auth(WRITE_KEY), "X-Request-ID": "req-fail-key", "Idempotency-Key": "k1"}
        resp = await client.post(
            url(client, "production_reports_create"), json=report_body(orders), headers=headers
        )
        assert resp.status == 500
        assert await conn.fetchval("SELECT count(*) FROM production_reports") == 0
        rows = await wait_rows(mes_dsn, 1, "request_id = $1", "req-fail-key")
        assert [(r["status"], r["subject"]) for r in rows] == [(500, None)]
    finally:
        await conn.close()


async def seed_rows(dsn: str, rows: list[AuditRow]) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await partitions.ensure_days(conn, {r.at.date() for r in rows})
        await conn.executemany(INSERT, rows)
    finally:
        await conn.close()


def row(at: dt.datetime, request_id: str, key: str, route: str, status: int) -> AuditRow:
    return AuditRow(
        at, request_id, key, "GET", route, "/x", status, "10.0.0.1", "10.0.0.1", 1.0, None, "t"
    )


async def test_audit_api_filters_paginates_and_needs_admin(aiohttp_client, audited_app, mes_dsn):
    base = dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.UTC)
    await seed_rows(
        mes_dsn,
        [
            row(base, "a1", "dashboard", "product", 200),
            row(base + dt.timedelta(minutes=1), "a2", "dashboard", "product", 404),
            row(base + dt.timedelta(minutes=2), "a3", "dashboard", "products_list", 200),
            row(base + dt.timedelta(days=1), "a4", "agent", "product", 200),
            row(base + dt.timedelta(days=1, minutes=5), "a5", "dashboard", "product", 200),
        ],
    )
    client = await aiohttp_client(audited_app(AuditSettings(enabled=False)))
    audit = url(client, "audit_list")

    async def query(**params: str) -> dict[str, Any]:
        resp = await client.get(audit, params=params, headers=auth(ADMIN_KEY))
        return await assert_envelope(resp, 200)

    everything = await query()
    assert everything["total"] == 5
    assert [r["requestId"] for r in everything["data"]] == ["a5", "a4", "a3", "a2", "a1"]
    assert set(everything) >= {"total", "page", "pageSize", "totalPages", "filters", "data"}
    first = everything["data"][-1]
    assert first == {
        "at": base.isoformat(),
        "requestId": "a1",
        "key": "dashboard",
        "method": "GET",
        "route": "product",
        "path": "/x",
        "status": 200,
        "client": "10.0.0.1",
        "peer": "10.0.0.1",
        "durationMs": 1.0,
        "subject": None,
        "service": "t",
    }
    assert [r["requestId"] for r in (await query(key="agent"))["data"]] == ["a4"]
    assert {r["requestId"] for r in (await query(route="product"))["data"]} == {
        "a1",
        "a2",
        "a4",
        "a5",
    }
    assert [r["requestId"] for r in (await query(status="404"))["data"]] == ["a2"]
    window = await query(**{"from": "2026-03-02T09:00:30-03:00", "to": "2026-03-03T12:00:00Z"})
    assert [r["requestId"] for r in window["data"]] == ["a3", "a2"]
    assert window["filters"]["from"] == "2026-03-02T09:00:30-03:00"
    paged = await query(key="dashboard", page="2", page_size="3")
    assert (paged["total"], paged["page"], paged["pageSize"], paged["totalPages"]) == (4, 2, 3, 2)
    assert [r["requestId"] for r in paged["data"]] == ["a1"]

    for bad in (
        {"from": "2026-03-02T09:00:00"},  # no offset
        {"to": "yesterday"},
        {"from": "2026-03-03T00:00:00Z", "to": "2026-03-02T00:00:00Z"},
        {"status": "999"},
        {"page_size": "0"},
    ):
        resp = await client.get(audit, params=bad, headers=auth(ADMIN_KEY))
        body = await assert_envelope(resp, 400)
        assert body["error"]["code"] == "invalid_parameter", bad
    await assert_envelope(await client.get(audit, headers=auth(READ_KEY)), 403)
    await assert_envelope(await client.get(audit), 401)
    spec = await (await client.get(url(client, "production_openapi"))).json()
    # The published document's path key, written out: the contract is this literal path.
    operation = spec["paths"]["/api/v1/audit"]["get"]
    assert operation["x-required-scope"] == "admin"
    assert {p["name"] for p in operation["parameters"]} >= {"key", "route", "status", "from", "to"}


async def test_retention_drops_whole_old_partitions_and_keeps_recent_ones(mes_dsn):
    today = dt.datetime.now(dt.UTC).date()
    old, recent = today - dt.timedelta(days=40), today - dt.timedelta(days=2)
    noon = dt.time(12)
    await seed_rows(
        mes_dsn,
        [
            row(dt.datetime.combine(old, noon, dt.UTC), "old", "k", "r", 200),
            row(dt.datetime.combine(recent, noon, dt.UTC), "new", "k", "r", 200),
        ],
    )
    writer = AuditWriter(
        AuditSettings(enabled=True, retention_days=30), mes_dsn, _registry(), ca_file=None
    )
    conn = await asyncpg.connect(mes_dsn)
    try:
        await writer.prepare(conn)
        days = await partitions.existing_days(conn)
        assert old not in days
        assert {recent, today, today + dt.timedelta(days=1)} <= days
        assert [r["request_id"] for r in await conn.fetch("SELECT request_id FROM audit_log")] == [
            "new"
        ]
    finally:
        await conn.close()


def _registry():
    from prometheus_client import CollectorRegistry

    return CollectorRegistry()


async def test_audit_rows_can_be_neither_changed_nor_deleted(mes_dsn):
    await seed_rows(mes_dsn, [row(dt.datetime.now(dt.UTC), "x1", "k", "r", 200)])
    conn = await asyncpg.connect(mes_dsn)
    try:
        for statement in (
            "UPDATE audit_log SET status = 500",
            "DELETE FROM audit_log",
            "TRUNCATE audit_log",
        ):
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
                await conn.execute(statement)
        assert await conn.fetchval("SELECT count(*) FROM audit_log WHERE status = 200") == 1
    finally:
        await conn.close()


async def test_protheus_attempts_carry_the_submitting_request_id(
    setup_line,
    orders,
    mes_dsn,
):
    client, pusher = await setup_line()
    headers = {**auth(WRITE_KEY), "X-Request-ID": "req-linked-1"}
    data = await assert_envelope(
        await client.post(
            url(client, "production_reports_create"), json=report_body(orders), headers=headers
        ),
        202,
    )
    await drain([pusher()], final(mes_dsn, 1))
    got = await report(client, data["id"])
    assert got["status"] == "delivered"
    assert [h["requestId"] for h in got["history"]] == ["req-linked-1"]
    conn = await asyncpg.connect(mes_dsn)
    try:
        assert (
            await conn.fetchval(
                "SELECT request_id FROM report_attempts WHERE report_id = $1", data["id"]
            )
            == "req-linked-1"
        )
    finally:
        await conn.close()


def test_audit_settings_name_the_bad_variable():
    from shared.settings import ConfigError

    config = Settings.from_env({"AUDIT_RETENTION_DAYS": "7", "AUDIT_TRUSTED_PROXIES": ""}).audit
    assert (config.enabled, config.retention_days, config.trusted_proxies) == (True, 7, ())
    assert Settings.from_env({"AUDIT_ENABLED": "false"}).audit.enabled is False
    for name, value in (
        ("AUDIT_RETENTION_DAYS", "0"),
        ("AUDIT_ENABLED", "maybe"),
        ("AUDIT_BUFFER_ROWS", "x"),
        ("AUDIT_TRUSTED_PROXIES", "10.0.0.0/99"),
    ):
        with pytest.raises(ConfigError) as caught:
            Settings.from_env({name: value})
        assert caught.value.variable == name


def test_the_dev_composition_serves_the_audit_route_once():
    from devserver.launcher import compose_app

    app = compose_app(Settings(api_keys=parse_api_keys(KEYS)))
    path = url(app, "audit_list")
    routes = [r for r in app.router.routes() if r.resource and r.resource.canonical == path]
    assert [(r.method, r.name) for r in routes if r.method == "GET"] == [("GET", "audit_list")]


async def test_a_correction_and_its_audit_row_commit_together(
    aiohttp_client, audited_app, orders, mes_dsn
):
    client = await aiohttp_client(audited_app())
    data = await assert_envelope(
        await client.post(
            url(client, "production_reports_create"),
            json=report_body(orders),
            headers=auth(WRITE_KEY),
        ),
        202,
    )
    conn = await asyncpg.connect(mes_dsn)
    try:
        # As the pusher leaves a report Protheus refused.
        await conn.execute("DELETE FROM report_outbox WHERE report_id = $1", data["id"])
        await conn.execute(
            "UPDATE production_reports SET status = 'rejected' WHERE id = $1", data["id"]
        )
        headers = {**auth(WRITE_KEY), "X-Request-ID": "req-patch-1"}
        resp = await client.patch(
            url(client, "production_report_correct", id=data["id"]),
            json={"operator": "OP0002"},
            headers=headers,
        )
        await assert_envelope(resp, 200)
        rows = await audit_rows(mes_dsn, "request_id = $1", "req-patch-1")
        assert [(r["method"], r["status"], r["subject"]) for r in rows] == [
            ("PATCH", 200, data["id"])
        ]
        assert (
            await conn.fetchval(
                "SELECT request_id FROM production_reports WHERE id = $1", data["id"]
            )
            == "req-patch-1"
        )
        await asyncio.sleep(0.3)
        assert len(await audit_rows(mes_dsn, "request_id = $1", "req-patch-1")) == 1
    finally:
        await conn.close()

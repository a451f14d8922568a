"""The report API: validation, up-front checks against Protheus, durable idempotent acceptance."""

from __future__ import annotations

import asyncio
import io
import uuid
from typing import Any

import asyncpg
import pytest

from tests.helpers import assert_envelope
from tests.support.production import READ, WRITE, report_body
from tests.support.urls import url


@pytest.fixture
async def client(aiohttp_client, production_app, protheus_dsn, mes_dsn):
    return await aiohttp_client(production_app(protheus_dsn=protheus_dsn, mes_dsn=mes_dsn))


async def stored(mes_dsn: str, sql: str, *args):
    conn = await asyncpg.connect(mes_dsn)
    try:
        return await conn.fetch(sql, *args)
    finally:
        await conn.close()


async def test_accepted_report_is_stored_with_its_outbox_row(client, orders, mes_dsn):
    body = report_body(orders)
    data = await assert_envelope(
        await client.post(url(client, "production_reports_create"), json=body, headers=WRITE), 202
    )
    assert data["status"] == "pending"
    report_id = uuid.UUID(data["id"])
    rows = await stored(
        mes_dsn,
        "SELECT r.*, o.report_id IS NOT NULL AS queued FROM production_reports r LEFT JOIN report_outbox o ON o.report_id = r.id",
    )
    assert len(rows) == 1
    row = rows[0]
    assert (row["id"], row["queued"], row["client"], row["branch"]) == (
        report_id,
        True,
        "line1",
        "01",
    )
    assert row["item_code"]  # the order's product, read while validating
    got = await assert_envelope(
        await client.get(url(client, "production_report", id=str(report_id)), headers=READ), 200
    )
    assert got["status"] == "pending"
    assert got["attempts"] == 0
    assert (
        got["order"],
        got["operation"],
        got["machine"],
        got["goodQuantity"],
        got["scrapQuantity"],
    ) == (orders.open_order, orders.operation, orders.machine, 10.0, 1.0)
    assert got["scrapReason"] == "REBARBA"
    assert got["history"] == []


@pytest.mark.parametrize("which", ["unknown", "planned", "closed", "suspended", "operation"])
async def test_reports_contradicting_the_erp_are_422(client, orders, mes_dsn, which):
    body = {
        "unknown": report_body(orders, order="99999999999"),
        "planned": report_body(orders, order=orders.planned),
        "closed": report_body(orders, order=orders.closed),
        "suspended": report_body(orders, order=orders.suspended),
        "operation": report_body(orders, operation="Z9"),
    }[which]
    resp = await client.post(url(client, "production_reports_create"), json=body, headers=WRITE)
    error = await assert_envelope(resp, 422)
    assert error["error"]["code"] == "unprocessable"
    assert await stored(mes_dsn, "SELECT id FROM production_reports") == []


@pytest.mark.parametrize(
    ("change", "field", "rule"),
    [
        ({"order": None}, "order", "required"),
        ({"order": "123"}, "order", "length"),
        ({"start": "2026-03-02T08:00:00"}, "start", "format"),
        ({"start": "0001-01-01T00:00:00+14:00"}, "start", "range"),
        ({"machine": "M\u0000"}, "machine", "characters"),
        ({"end": "2026-03-02T07:00:00-03:00"}, "end", "order"),
        ({"goodQuantity": 0, "scrapQuantity": 0}, "goodQuantity", "positive"),
        ({"goodQuantity": -1}, "goodQuantity", "range"),
        ({"goodQuantity": "ten"}, "goodQuantity", "type"),
        ({"final": "maybe"}, "final", "type"),
        ({"color": "blue"}, "color", "unknown"),
    ],
)
async def test_bad_bodies_are_400_naming_the_field(client, orders, change, field, rule):
    body = report_body(orders)
    for key, value in change.items():
        if value is None:
            body.pop(key)
        else:
            body[key] = value
    error = await assert_envelope(
        await client.post(url(client, "production_reports_create"), json=body, headers=WRITE), 400
    )
    assert error["error"]["code"] == "invalid_body"
    assert {"field": field, "rule": rule} in [
        {"field": d["field"], "rule": d["rule"]} for d in error["error"]["details"]
    ]


async def test_transport_errors(client, orders):
    reports = url(client, "production_reports_create")
    resp = await client.post(
        reports,
        data="{",
        headers={**WRITE, "Content-Type": "application/json"},
    )
    assert (await assert_envelope(resp, 400))["error"]["code"] == "invalid_body"
    resp = await client.post(
        reports,
        data="order=1",
        headers={**WRITE, "Content-Type": "text/plain"},
    )
    await assert_envelope(resp, 415)
    big = io.BytesIO(b'{"order": "' + b"1" * (2 * 1024 * 1024) + b'"}')
    resp = await client.post(
        reports,
        data=big,
        headers={**WRITE, "Content-Type": "application/json"},
    )
    await assert_envelope(resp, 413)
    await assert_envelope(await client.post(reports, json=report_body(orders)), 401)
    await assert_envelope(await client.post(reports, json=report_body(orders), headers=READ), 403)


async def test_idempotency_key_replays_the_first_answer(client, orders, mes_dsn):
    reports = url(client, "production_reports_create")
    headers = {**WRITE, "Idempotency-Key": "tablet-7:000123"}
    body = report_body(orders)
    first = await assert_envelope(await client.post(reports, json=body, headers=headers), 202)
    again = await assert_envelope(await client.post(reports, json=body, headers=headers), 202)
    assert again == first
    other = await client.post(reports, json=report_body(orders, goodQuantity=11), headers=headers)
    assert (await assert_envelope(other, 422))["error"]["code"] == "unprocessable"
    assert len(await stored(mes_dsn, "SELECT id FROM production_reports")) == 1


@pytest.mark.parametrize("key", ["k" * 201, "   "])
async def test_a_bad_idempotency_key_is_refused_before_the_body_is_read(
    client, orders, mes_dsn, key
):
    """The header is declared with the body (@endpoint headers=) and checked first: a 400
    naming it, even for a body of the wrong type (no 415), and nothing stored."""
    reports = url(client, "production_reports_create")
    for answer in (
        await client.post(
            reports, json=report_body(orders), headers={**WRITE, "Idempotency-Key": key}
        ),
        await client.post(
            reports,
            data=b"<xml/>",
            headers={**WRITE, "Idempotency-Key": key, "Content-Type": "text/xml"},
        ),
    ):
        error = (await assert_envelope(answer, 400))["error"]
        assert error["code"] == "invalid_parameter"
        assert [(d["field"], d["rule"]) for d in error["details"]] == [
            ("Idempotency-Key", "length")
        ]
    assert not await stored(mes_dsn, "SELECT id FROM production_reports")


async def test_the_idempotency_key_is_documented_as_a_header(client):
    document = await (await client.get(url(client, "production_openapi"))).json()
    post = document["paths"]["/api/v1/production-reports"]["post"]
    (header,) = [p for p in post["parameters"] if p["in"] == "header"]
    assert header["name"] == "Idempotency-Key"
    assert not header.get("required", False)
    assert header["schema"]["minLength"] == 1


async def test_concurrent_retries_with_one_key_store_one_report(client, orders, mes_dsn):
    headers = {**WRITE, "Idempotency-Key": "burst"}
    body = report_body(orders)
    reports = url(client, "production_reports_create")
    answers = await asyncio.gather(
        *(client.post(reports, json=body, headers=headers) for _ in range(8))
    )
    ids = {(await assert_envelope(resp, 202))["id"] for resp in answers}
    assert len(ids) == 1
    assert len(await stored(mes_dsn, "SELECT id FROM production_reports")) == 1


async def test_a_key_answered_meanwhile_is_never_dropped_as_expired(client, orders, mes_dsn):
    """A request that found no row for its key must not delete the row a concurrent request
    with the same key committed in between: only rows older than IDEMPOTENCY_DAYS go (the
    lost row let a third retry store a second report)."""
    from services.production.reports import queries

    headers = {**WRITE, "Idempotency-Key": "kept"}
    await assert_envelope(
        await client.post(
            url(client, "production_reports_create"), json=report_body(orders), headers=headers
        ),
        202,
    )
    conn = await asyncpg.connect(mes_dsn)
    try:
        await queries.drop_idempotent(conn, client="line1", key="kept", days=7)
        assert await conn.fetchval("SELECT count(*) FROM idempotency_keys WHERE key = 'kept'") == 1
        await conn.execute(
            "UPDATE idempotency_keys SET created_at = now() - interval '8 days' WHERE key = 'kept'"
        )
        await queries.drop_idempotent(conn, client="line1", key="kept", days=7)
        assert await conn.fetchval("SELECT count(*) FROM idempotency_keys WHERE key = 'kept'") == 0
    finally:
        await conn.close()


async def test_a_422_is_replayed_too(client, orders):
    reports = url(client, "production_reports_create")
    headers = {**WRITE, "Idempotency-Key": "closed-order"}
    body = report_body(orders, order=orders.closed)
    first = await assert_envelope(await client.post(reports, json=body, headers=headers), 422)
    again = await assert_envelope(await client.post(reports, json=body, headers=headers), 422)
    assert again["message"] == first["message"]


async def test_with_the_erp_database_down_reports_are_still_accepted(
    aiohttp_client, production_app, mes_dsn, orders
):
    app = production_app(protheus_dsn="postgresql://postgres@127.0.0.1:1/none", mes_dsn=mes_dsn)
    client = await aiohttp_client(app)
    data = await assert_envelope(
        await client.post(
            url(client, "production_reports_create"), json=report_body(orders), headers=WRITE
        ),
        202,
    )
    rows = await stored(
        mes_dsn, "SELECT item_code FROM production_reports WHERE id = $1", uuid.UUID(data["id"])
    )
    assert rows[0]["item_code"] is None  # read again before sending
    ready = await assert_envelope(await client.get("/readyz"), 200)
    assert ready["checks"]["protheus_db"]["status"] == "down"


async def test_with_the_mes_database_down_posts_are_503(
    aiohttp_client, production_app, protheus_dsn, orders
):
    app = production_app(
        protheus_dsn=protheus_dsn, mes_dsn="postgresql://postgres@127.0.0.1:1/none"
    )
    client = await aiohttp_client(app)
    resp = await client.post(
        url(client, "production_reports_create"), json=report_body(orders), headers=WRITE
    )
    assert (await assert_envelope(resp, 503))["error"]["code"] == "dependency_unavailable"
    await assert_envelope(await client.get("/readyz"), 503)


async def test_list_filters_and_pages(client, orders):
    ids = []
    for good in (1, 2, 3):
        data = await assert_envelope(
            await client.post(
                url(client, "production_reports_create"),
                json=report_body(orders, goodQuantity=good),
                headers=WRITE,
            ),
            202,
        )
        ids.append(data["id"])

    async def listed(expect: int, **query: str | int) -> Any:
        resp = await client.get(url(client, "production_reports_list", query), headers=READ)
        return await assert_envelope(resp, expect)

    page = await listed(200, page_size=2)
    assert (page["total"], page["totalPages"], [r["id"] for r in page["data"]]) == (
        3,
        2,
        ids[::-1][:2],
    )
    page = await listed(200, status="pending", order=orders.open_order)
    assert page["total"] == 3
    page = await listed(200, status="delivered")
    assert page["total"] == 0
    error = await listed(400, status="lost")
    assert error["error"]["details"][0]["field"] == "status"


async def test_unknown_and_malformed_ids(client):
    await assert_envelope(
        await client.get(url(client, "production_report", id=str(uuid.uuid4())), headers=READ), 404
    )
    error = await assert_envelope(
        await client.get(url(client, "production_report", id="not-a-uuid"), headers=READ), 400
    )
    assert error["error"]["details"][0]["field"] == "id"


async def test_only_rejected_reports_can_be_corrected(client, orders, mes_dsn):
    data = await assert_envelope(
        await client.post(
            url(client, "production_reports_create"), json=report_body(orders), headers=WRITE
        ),
        202,
    )
    report = url(client, "production_report_correct", id=data["id"])
    await assert_envelope(await client.patch(report, json={"machine": "X"}, headers=WRITE), 409)
    conn = await asyncpg.connect(mes_dsn)
    try:
        await conn.execute(
            "WITH o AS (DELETE FROM report_outbox WHERE report_id = $1) "
            "UPDATE production_reports SET status = 'rejected', error = 'Recurso inexistente', attempts = 1 WHERE id = $1",
            uuid.UUID(data["id"]),
        )
    finally:
        await conn.close()
    error = await assert_envelope(
        await client.patch(report, json={"goodQuantity": 0, "scrapQuantity": 0}, headers=WRITE), 400
    )
    assert error["error"]["details"][0]["field"] == "goodQuantity"
    fixed = await assert_envelope(
        await client.patch(report, json={"goodQuantity": 12}, headers=WRITE), 200
    )
    assert (
        fixed["id"],
        fixed["status"],
        fixed["goodQuantity"],
        fixed["error"],
        fixed["attempts"],
    ) == (data["id"], "pending", 12.0, None, 1)
    queued = await stored(
        mes_dsn, "SELECT 1 FROM report_outbox WHERE report_id = $1", uuid.UUID(data["id"])
    )
    assert len(queued) == 1

"""Every production answer is exactly what its declared response schema documents: the answer
loads through the schema and dumps back to the same JSON, byte for byte (fields, order, types)."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import marshmallow as ma
import orjson
import pytest

from services.production.orders import queries as order_queries
from services.production.orders import schemas as order_schemas
from services.production.reports import schemas as report_schemas
from shared.json import dumps_bytes
from tests.support.production import READ, WRITE, report_body


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

"""GET /api/v1/anomalies and /api/v1/machines/{machine}/anomalies on the analytics app: shapes,
filters, pagination and errors; and the app's OpenAPI document."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import asyncpg
import pytest

from shared.settings import parse_api_keys
from tests.helpers import assert_envelope
from tests.support.telemetry_query import KEYS, READ

T0 = dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.UTC)
H = dt.timedelta(hours=1)

EVENTS = [
    # id, machine, kind, metrics, start, end
    ("M1", "spike", ["temperature"], T0, T0),
    ("M1", "stuck", ["pressure"], T0 + H, T0 + 2 * H),
    ("M2", "drift", ["vibration", "temperature"], T0 + 3 * H, None),
    ("M3", "out_of_range", ["pressure"], T0 + 4 * H, T0 + 5 * H),
]


@pytest.fixture
async def client(analytics_app, mes_dsn):
    conn = await asyncpg.connect(mes_dsn)
    try:
        await conn.executemany(
            "INSERT INTO machines (machine, site, area, line, last_seen) VALUES ($1, $2, $3, $4, $5)",
            [
                ("M1", "porto", "usinagem", "linha1", T0),
                ("M2", "porto", "usinagem", "linha1", T0),
                ("M3", "porto", "montagem", "linha2", T0),
                ("M4", "porto", "montagem", "linha2", T0),
            ],
        )
        await conn.executemany(
            "INSERT INTO anomaly_events (id, machine, kind, metrics, started_at, ended_at, score,"
            " detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            [
                (uuid.uuid4(), m, k, ms, s, e, 7.5, json.dumps({"value": 1.5}))
                for m, k, ms, s, e in EVENTS
            ],
        )
    finally:
        await conn.close()
    return await analytics_app(api_keys=parse_api_keys(KEYS))


async def get(client, path: str, expect: int = 200, headers=READ, **params):
    resp = await client.get(path, params=params, headers=headers)
    return await assert_envelope(resp, expect)


async def test_listing_newest_first_with_shape(client):
    body = await get(client, "/api/v1/anomalies")
    assert body["total"] == 4
    assert body["page"] == 1
    assert body["pageSize"] == 50
    assert body["totalPages"] == 1
    items = body["data"]
    assert [i["kind"] for i in items] == ["out_of_range", "drift", "stuck", "spike"]
    drift = items[1]
    assert set(drift) == {
        "id", "machine", "site", "area", "line", "kind", "metrics", "start", "end", "status",
        "score", "detail",
    }  # fmt: skip
    assert drift["status"] == "open"
    assert drift["end"] is None
    assert drift["metrics"] == ["vibration", "temperature"]
    assert (drift["site"], drift["area"], drift["line"]) == ("porto", "usinagem", "linha1")
    assert drift["detail"] == {"value": 1.5}
    assert drift["score"] == 7.5
    assert items[0]["status"] == "closed"
    assert dt.datetime.fromisoformat(items[0]["start"]) == T0 + 4 * H


async def test_filters_combine(client):
    by_machine = await get(client, "/api/v1/anomalies", machine="M1")
    assert [i["kind"] for i in by_machine["data"]] == ["stuck", "spike"]
    assert by_machine["filters"]["machine"] == "M1"
    by_line = await get(client, "/api/v1/anomalies", line="porto/montagem/linha2")
    assert [i["machine"] for i in by_line["data"]] == ["M3"]
    assert [i["kind"] for i in (await get(client, "/api/v1/anomalies", kind="drift"))["data"]] == [
        "drift"
    ]
    opened = await get(client, "/api/v1/anomalies", status="open")
    assert [i["kind"] for i in opened["data"]] == ["drift"]
    closed = await get(client, "/api/v1/anomalies", status="closed")
    assert closed["total"] == 3
    # Events touching [T0 + 90 min, T0 + 3 h 30): the stuck (ends later) and the open drift.
    window = await get(
        client,
        "/api/v1/anomalies",
        **{"from": (T0 + 1.5 * H).isoformat(), "to": (T0 + 3.5 * H).isoformat()},
    )
    assert [i["kind"] for i in window["data"]] == ["drift", "stuck"]


async def test_pagination(client):
    page = await get(client, "/api/v1/anomalies", page="2", page_size="3")
    assert (page["total"], page["page"], page["pageSize"], page["totalPages"]) == (4, 2, 3, 2)
    assert [i["kind"] for i in page["data"]] == ["spike"]


async def test_machine_route(client):
    body = await get(client, "/api/v1/machines/M2/anomalies")
    assert [i["kind"] for i in body["data"]] == ["drift"]
    assert (await get(client, "/api/v1/machines/M4/anomalies"))["total"] == 0  # known, none
    empty = await get(client, "/api/v1/machines/M1/anomalies", kind="drift")
    assert empty["total"] == 0
    assert empty["data"] == []


async def test_errors(client):
    error = await get(client, "/api/v1/machines/NOPE/anomalies", 404)
    assert error["error"]["code"] == "not_found"
    bad_kind = await get(client, "/api/v1/anomalies", 400, kind="explosion")
    assert bad_kind["error"]["code"] == "invalid_parameter"
    assert bad_kind["error"]["details"][0]["field"] == "kind"
    bad_from = await get(client, "/api/v1/anomalies", 400, **{"from": "2026-03-02T12:00:00"})
    assert bad_from["error"]["details"][0]["field"] == "from"
    bad_status = await get(client, "/api/v1/machines/M1/anomalies", 400, status="maybe")
    assert bad_status["error"]["details"][0]["field"] == "status"
    order = await get(
        client, "/api/v1/anomalies", 400, **{"from": T0.isoformat(), "to": T0.isoformat()}
    )
    assert order["error"]["details"][0]["field"] == "to"
    unauthorized = await get(client, "/api/v1/anomalies", 401, headers={})
    assert unauthorized["error"]["code"] == "unauthorized"
    await get(client, "/api/v1/machines/M1/anomalies", 401, headers={})


async def test_openapi_documents_the_routes(client):
    resp = await client.get("/api/v1/analytics/openapi.json")
    assert resp.status == 200
    doc = await resp.json()
    assert "/api/v1/anomalies" in doc["paths"]
    assert "/api/v1/machines/{machine}/anomalies" in doc["paths"]

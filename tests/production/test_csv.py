"""CSV answers of the production list routes (stops, downtime Pareto, reports): parsed with the
csv module, the documented header, every row of every JSON page for the same filters, the
dialects, the Accept negotiation, and errors that stay JSON envelopes."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from services.production.stops import handlers as stop_handlers
from shared.endpoint import endpoint_of
from shared.pagination import MAX_PAGE_SIZE
from shared.settings import parse_api_keys
from tests.helpers import assert_envelope, auth
from tests.support.csv_answers import as_cell, csv_answer, expected_rows, file_name
from tests.support.production import KEYS, READ
from tests.support.urls import url

OTHER_KEY = "csv-other-key-0123456789abcdef"  # telemetry:read only: 403 on production routes
BRT = dt.timezone(dt.timedelta(hours=-3))
DAY = dt.datetime(2026, 3, 2, tzinfo=BRT)
STOP_COLUMNS = [
    "id", "machine", "branch", "state", "plcReason", "reason", "reasonDescription",
    "classifiedBy", "operator", "note", "start", "end", "durationSeconds", "status",
    "attempts", "idAppointment", "error", "nextAttemptAt", "pushedStart", "pushedEnd", "manual",
]  # fmt: skip
REPORT_COLUMNS = [
    "id", "status", "attempts", "idAppointment", "error", "nextAttemptAt", "order",
    "operation", "machine", "operator", "start", "end", "goodQuantity", "scrapQuantity",
    "scrapReason", "final", "branch", "lot", "createdAt", "updatedAt",
]  # fmt: skip
PARETO_COLUMNS = ["key", "description", "seconds", "count", "share", "cumulativeShare"]
# More stops of M1 than two CSV pages: the export must go on to the third.
M1_STOPS = 2 * MAX_PAGE_SIZE + 7


@pytest.fixture
async def client(aiohttp_client, production_app, protheus_dsn, mes_dsn):
    app = production_app(
        protheus_dsn=protheus_dsn,
        mes_dsn=mes_dsn,
        api_keys=parse_api_keys(f"{KEYS};other:{OTHER_KEY}:telemetry:read"),
    )
    return await aiohttp_client(app)


@pytest.fixture
async def mes(mes_dsn) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(mes_dsn)
    yield conn
    await conn.close()


@pytest.fixture
async def stops(mes) -> None:
    """M1: closed stops 10 minutes apart, 90 s each, every third with a reason and some with
    text a spreadsheet would take for a formula; M2: a few, to be filtered out."""
    await mes.execute(
        """INSERT INTO stops (id, machine, branch, state, plc_reason, start_at, end_at,
                              reason_code, classified_by, note, status, attempts)
           SELECT gen_random_uuid(), $1, '01',
                  (ARRAY['stopped', 'fault', 'setup'])[1 + n % 3],
                  CASE WHEN n % 2 = 0 THEN 'E' || n END,
                  $2::timestamptz + n * interval '10 minutes',
                  $2::timestamptz + n * interval '10 minutes' + interval '90 seconds',
                  CASE WHEN n % 3 = 0 THEN 'R1' END,
                  CASE WHEN n % 3 = 0 THEN 'mapping' END,
                  CASE WHEN n % 100 = 1 THEN '=1+1; "aspas", vírgula' END,
                  CASE WHEN n % 3 = 0 THEN 'pending' ELSE 'unclassified' END, n % 4
           FROM generate_series(0, $3 - 1) AS n""",
        "M1",
        DAY,
        M1_STOPS,
    )
    await mes.execute(
        """INSERT INTO stops (id, machine, branch, state, start_at, end_at, status)
           SELECT gen_random_uuid(), 'M2', '01', 'idle', $1::timestamptz + n * interval '1 hour',
                  $1::timestamptz + n * interval '1 hour' + interval '5 minutes', 'unclassified'
           FROM generate_series(0, 4) AS n""",
        DAY,
    )


async def json_pages(client: Any, route: str, query: dict[str, Any]) -> list[dict[str, Any]]:
    """Every row of a paged JSON answer, page after page."""
    rows: list[dict[str, Any]] = []
    page = 1
    while True:
        params = {**query, "page": page, "page_size": MAX_PAGE_SIZE}
        data = await assert_envelope(
            await client.get(url(client, route, params), headers=READ), 200
        )
        rows.extend(data["data"])
        if page >= data["totalPages"]:
            return rows
        page += 1


async def test_stops_csv_has_every_row_of_every_page_as_the_json_shows_them(client, stops):
    query = {"machine": "M1", "from": DAY.isoformat()}
    resp = await client.get(url(client, "stops_list", {**query, "format": "csv"}), headers=READ)
    header, rows = await csv_answer(resp)
    assert header == STOP_COLUMNS
    assert file_name(resp) == "paradas.csv"
    assert resp.headers.get("Transfer-Encoding") == "chunked"
    listed = await json_pages(client, "stops_list", query)
    assert len(listed) == M1_STOPS
    assert rows == expected_rows(listed, STOP_COLUMNS)
    # Spot checks of the cell rules, on rows the JSON shows.
    first = dict(zip(header, rows[0], strict=True))
    assert dt.datetime.fromisoformat(first["start"]).utcoffset() is not None  # ISO with offset
    assert first["durationSeconds"] == "90.0"
    assert first["manual"] == "false"
    noted = [dict(zip(header, row, strict=True)) for row in rows if row[header.index("note")]]
    assert noted
    assert {row["note"] for row in noted} == {'=1+1; "aspas", vírgula'}  # csv: as is


async def test_stops_csv_keeps_the_filters_and_ignores_page(client, stops):
    query = {"machine": "M2", "status": "unclassified", "page": 2, "page_size": 1}
    resp = await client.get(url(client, "stops_list", {**query, "format": "csv"}), headers=READ)
    header, rows = await csv_answer(resp)
    listed = await json_pages(client, "stops_list", {"machine": "M2", "status": "unclassified"})
    assert len(rows) == len(listed) == 5
    assert rows == expected_rows(listed, header)


async def test_an_empty_csv_has_its_header(client, stops):
    resp = await client.get(
        url(client, "stops_list", {"machine": "M9", "format": "csv"}), headers=READ
    )
    assert await csv_answer(resp) == (STOP_COLUMNS, [])


async def test_excel_csv_has_a_bom_semicolons_decimal_commas_and_no_formulas(client, stops):
    query = {"machine": "M1", "format": "excel"}
    resp = await client.get(url(client, "stops_list", query), headers=READ)
    header, rows = await csv_answer(resp, dialect="excel")
    assert header == STOP_COLUMNS
    assert len(rows) == M1_STOPS
    cells = [dict(zip(header, row, strict=True)) for row in rows]
    assert {row["durationSeconds"] for row in cells} == {"90,0"}
    noted = {row["note"] for row in cells if row["note"]}
    assert noted == {'\'=1+1; "aspas", vírgula'}  # Excel shows it as text, never runs it
    assert {row["attempts"] for row in cells} == {"0", "1", "2", "3"}


async def test_accept_text_csv_asks_for_csv_and_format_wins(client, stops):
    path = url(client, "stops_list", {"machine": "M2"})
    header, rows = await csv_answer(await client.get(path, headers={**READ, "Accept": "text/csv"}))
    assert (header, len(rows)) == (STOP_COLUMNS, 5)
    preferred = {**READ, "Accept": "application/json;q=0.5, text/csv"}
    assert len((await csv_answer(await client.get(path, headers=preferred)))[1]) == 5
    for accept in ("application/json", "text/html,application/xhtml+xml,*/*;q=0.8", "*/*"):
        resp = await client.get(path, headers={**READ, "Accept": accept})
        assert (await assert_envelope(resp, 200))["total"] == 5, accept
    as_json = url(client, "stops_list", {"machine": "M2", "format": "json"})
    resp = await client.get(as_json, headers={**READ, "Accept": "text/csv"})
    assert (await assert_envelope(resp, 200))["total"] == 5


async def test_csv_errors_stay_json_envelopes(client, stops):
    route = url(client, "stops_list", {"format": "xlsx"})
    body = await assert_envelope(await client.get(route, headers=READ), 400)
    assert body["error"]["details"][0]["field"] == "format"

    both = {"machine": "M1", "line": "porto/usinagem/linha1", "format": "csv"}
    resp = await client.get(url(client, "stops_list", both), headers=READ)
    await assert_envelope(resp, 400)
    csv_accept = {"Accept": "text/csv"}
    resp = await client.get(url(client, "stops_list", {"page": 0}), headers={**READ, **csv_accept})
    await assert_envelope(resp, 400)
    resp = await client.get(url(client, "stops_list", {"format": "csv"}), headers=csv_accept)
    await assert_envelope(resp, 401)
    other = {**auth(OTHER_KEY), **csv_accept}
    resp = await client.get(url(client, "downtime_pareto", {"format": "csv"}), headers=other)
    await assert_envelope(resp, 403)
    late = {"from": "2026-03-03T00:00:00Z", "to": "2026-03-02T00:00:00Z", "format": "csv"}
    resp = await client.get(url(client, "downtime_pareto", late), headers=READ)
    await assert_envelope(resp, 400)


async def test_pareto_csv_rows_are_the_json_rows(client, stops):
    query = {
        "from": DAY.isoformat(),
        "to": (DAY + dt.timedelta(days=8)).isoformat(),
        "by": "state",
    }
    data = await assert_envelope(
        await client.get(url(client, "downtime_pareto", query), headers=READ), 200
    )
    resp = await client.get(
        url(client, "downtime_pareto", {**query, "format": "csv"}), headers=READ
    )
    header, rows = await csv_answer(resp)
    assert header == PARETO_COLUMNS
    assert file_name(resp) == "pareto_paradas_state.csv"
    assert sorted(row[0] for row in rows) == ["fault", "idle", "setup", "stopped"]
    assert rows == expected_rows(data["rows"], PARETO_COLUMNS)
    assert float(rows[-1][header.index("cumulativeShare")]) == pytest.approx(1.0)


async def test_reports_csv_has_every_report_of_the_filter(client, mes):
    await mes.execute(
        """INSERT INTO production_reports (id, client, branch, order_key, operation, machine,
               operator, start_at, end_at, good_quantity, scrap_quantity, scrap_reason, final,
               lot, status, attempts, id_appointment)
           SELECT gen_random_uuid(), 'line1', '01', '00000101001', '10', 'M1', 'ANA',
                  $1::timestamptz + n * interval '1 hour',
                  $1::timestamptz + n * interval '1 hour' + interval '50 minutes',
                  10.5 + n, n % 3, CASE WHEN n % 3 > 0 THEN 'R' END, n % 7 = 0,
                  CASE WHEN n % 2 = 0 THEN 'L' || n END,
                  CASE WHEN n % 5 = 0 THEN 'delivered' ELSE 'pending' END, n % 5,
                  CASE WHEN n % 5 = 0 THEN 'ID' || n END
           FROM generate_series(0, 1199) AS n""",
        DAY,
    )
    query = {"status": "pending", "order": "00000101001"}
    resp = await client.get(
        url(client, "production_reports_list", {**query, "format": "csv"}), headers=READ
    )
    header, rows = await csv_answer(resp)
    assert header == REPORT_COLUMNS
    assert file_name(resp) == "apontamentos.csv"
    listed = await json_pages(client, "production_reports_list", query)
    assert len(listed) == 960
    assert rows == expected_rows(listed, REPORT_COLUMNS)
    assert {row[header.index("goodQuantity")] for row in rows} >= {"11.5", as_cell(11.5)}


async def test_openapi_documents_format_and_text_csv(client):
    resp = await client.get("/api/v1/production/openapi.json")
    doc = await resp.json()
    for path in ("/api/v1/stops", "/api/v1/downtime/pareto", "/api/v1/production-reports"):
        get = doc["paths"][path]["get"]
        content = get["responses"]["200"]["content"]
        assert set(content) == {"application/json", "text/csv"}
        assert content["text/csv"]["schema"]["type"] == "string"
        (format_param,) = [p for p in get["parameters"] if p["name"] == "format"]
        assert [v for v in format_param["schema"]["enum"] if v] == ["json", "csv", "excel"]
    described = doc["paths"]["/api/v1/stops"]["get"]["responses"]["200"]["content"]
    assert ", ".join(STOP_COLUMNS) in described["text/csv"]["schema"]["description"]
    # A route that does not answer CSV documents JSON only.
    single = doc["paths"]["/api/v1/stops/{id}"]["get"]["responses"]["200"]["content"]
    assert set(single) == {"application/json"}
    assert endpoint_of(stop_handlers.get_stop).csv is None  # type: ignore[union-attr]

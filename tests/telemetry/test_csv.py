"""CSV answers of the telemetry routes analysts open in a spreadsheet: a machine's series (raw
and bucketed) and the OEE (a machine's, a line's with its machines), parsed with the csv module
and compared with the JSON answer for the same filters; errors stay JSON envelopes."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from tests.helpers import assert_envelope, auth
from tests.support.csv_answers import csv_answer, expected_rows, file_name
from tests.support.telemetry_query import OTHER_KEY, READ, local
from tests.support.urls import url

OEE_COLUMNS = [
    "machine", "line", "from", "to", "availability", "performance", "quality", "oee",
    "plannedTime", "runningTime", "goodCount", "scrapCount", "idealTime", "losses", "notes",
]  # fmt: skip
WINDOW = {"from": "2026-03-02T06:00:00-03:00", "to": "2026-03-02T14:00:00-03:00"}
START = local("2026-03-02T06:00")


@pytest.fixture
async def plant(mes_rows, erp):
    """M1 and M2 on linha1: a temperature every 7 s over the shift (M1), states and counters."""
    for machine in ("M1", "M2"):
        await mes_rows.machine(machine, line="linha1")
        await erp.resource(machine, f"MAQUINA {machine}")
    await mes_rows.samples(
        "M1",
        "temp",
        [(START + dt.timedelta(seconds=7 * n), 20 + (n % 13) / 8) for n in range(3000)],
    )
    await mes_rows.states(
        "M1",
        (local("2026-03-02T05:00"), "running", None),
        (local("2026-03-02T09:00"), "fault", "E42"),
        (local("2026-03-02T09:45"), "running", None),
        (local("2026-03-02T13:00"), "idle", None),
    )
    await mes_rows.counters("M1", (local("2026-03-02T07:00"), 90, 10, None))
    await mes_rows.states("M2", (local("2026-03-02T05:00"), "running", None))
    await mes_rows.counters("M2", (local("2026-03-02T08:00"), 50, 0, None))
    return mes_rows, erp


@pytest.fixture
async def client(plant, client_for):
    _, erp = plant
    return await client_for(erp.dsn)


async def answers(client: Any, route: str, query: dict[str, Any], **parts: str) -> tuple[Any, Any]:
    """The JSON data and the CSV response of one route for the same query."""
    data = await assert_envelope(
        await client.get(url(client, route, query, **parts), headers=READ), 200
    )
    resp = await client.get(url(client, route, {**query, "format": "csv"}, **parts), headers=READ)
    return data, resp


async def test_raw_series_csv_is_ts_and_value_of_every_point(client):
    query = {**WINDOW, "metric": "temp"}
    data, resp = await answers(client, "machine_telemetry", query, machine="M1")
    header, rows = await csv_answer(resp)
    assert header == ["ts", "value"]
    assert file_name(resp) == "telemetria_M1_temp.csv"
    assert len(rows) == len(data["points"]) == 3000
    assert rows == expected_rows(data["points"], header)
    assert rows[1] == [data["points"][1]["ts"], "20.125"]
    assert dt.datetime.fromisoformat(rows[0][0]).utcoffset() == dt.timedelta(hours=-3)


async def test_bucketed_series_csv_has_the_aggregates_in_the_order_asked(client):
    query = {**WINDOW, "metric": "temp", "bucket": "15m", "agg": "max,count,avg"}
    data, resp = await answers(client, "machine_telemetry", query, machine="M1")
    header, rows = await csv_answer(resp)
    assert header == ["bucket", "max", "count", "avg"]
    assert len(rows) == len(data["points"]) > 10
    assert rows == expected_rows(data["points"], header)
    # Excel pt-BR: ';' and decimal commas; counts stay integers.
    excel = await client.get(
        url(client, "machine_telemetry", {**query, "format": "excel"}, machine="M1"),
        headers=READ,
    )
    excel_header, excel_rows = await csv_answer(excel, dialect="excel")
    assert excel_header == header
    assert excel_rows[0][1] == rows[0][1].replace(".", ",")
    assert excel_rows[0][2] == rows[0][2]


async def test_an_empty_series_is_its_header(client):
    query = {**WINDOW, "metric": "nothing"}
    _, resp = await answers(client, "machine_telemetry", query, machine="M1")
    assert await csv_answer(resp) == (["ts", "value"], [])


async def test_machine_oee_csv_is_one_row_of_the_json_figures(client):
    data, resp = await answers(client, "oee", {**WINDOW, "machine": "M1"})
    header, rows = await csv_answer(resp)
    assert header == OEE_COLUMNS
    assert file_name(resp) == "oee_M1.csv"
    assert rows == expected_rows([data], OEE_COLUMNS)
    (row,) = rows
    cells = dict(zip(header, row, strict=True))
    assert float(cells["availability"]) == pytest.approx(data["availability"])
    assert cells["goodCount"] == "90"
    assert json.loads(cells["losses"]) == data["losses"]  # one JSON cell
    assert {loss["state"] for loss in data["losses"]} == {"fault", "idle"}


async def test_line_oee_csv_adds_a_row_per_machine(client):
    line = "porto/usinagem/linha1"
    data, resp = await answers(client, "oee", {**WINDOW, "line": line})
    header, rows = await csv_answer(resp)
    assert header == OEE_COLUMNS
    assert file_name(resp) == "oee_porto_usinagem_linha1.csv"
    per_machine = [
        {"line": line, "from": data["from"], "to": data["to"], **item} for item in data["byMachine"]
    ]
    assert [row[0] for row in rows] == ["", "M1", "M2"]
    assert rows == expected_rows([data, *per_machine], OEE_COLUMNS)


async def test_telemetry_csv_errors_stay_json(client):
    resp = await client.get(
        url(
            client,
            "machine_telemetry",
            {**WINDOW, "metric": "temp", "format": "csv"},
            machine="NOPE",
        ),
        headers=READ,
    )
    body = await assert_envelope(resp, 404)
    assert body["error"]["code"] == "not_found"
    too_long = {"from": "2026-03-01T00:00:00Z", "to": "2026-03-03T00:00:00Z", "metric": "temp"}
    resp = await client.get(
        url(client, "machine_telemetry", too_long, machine="M1"),
        headers={**READ, "Accept": "text/csv"},
    )
    await assert_envelope(resp, 400)
    resp = await client.get(
        url(client, "oee", {**WINDOW, "machine": "M1"}),
        headers={**auth(OTHER_KEY), "Accept": "text/csv"},
    )
    await assert_envelope(resp, 403)
    resp = await client.get(
        url(client, "oee", {**WINDOW, "machine": "M1", "format": "pdf"}), headers=READ
    )
    body = await assert_envelope(resp, 400)
    assert body["error"]["details"][0]["field"] == "format"


async def test_accept_text_csv_gives_the_oee_as_csv(client):
    resp = await client.get(
        url(client, "oee", {**WINDOW, "machine": "M1"}), headers={**READ, "Accept": "text/csv"}
    )
    header, rows = await csv_answer(resp)
    assert (header, len(rows)) == (OEE_COLUMNS, 1)


async def test_openapi_documents_text_csv_for_series_and_oee(client):
    doc = await (await client.get("/api/v1/telemetry/openapi.json")).json()
    for path in ("/api/v1/oee", "/api/v1/machines/{machine}/telemetry"):
        content = doc["paths"][path]["get"]["responses"]["200"]["content"]
        assert set(content) == {"application/json", "text/csv"}
    oee = doc["paths"]["/api/v1/oee"]["get"]["responses"]["200"]["content"]["text/csv"]
    assert ", ".join(OEE_COLUMNS) in oee["schema"]["description"]
    states = doc["paths"]["/api/v1/machines/{machine}/states"]["get"]["responses"]["200"]
    assert set(states["content"]) == {"application/json"}

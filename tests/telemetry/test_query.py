"""Telemetry query routes on crafted rows: machines, latest values, raw and bucketed series, state
timeline, counters, dead letters, limits, every 400, 404 vs SH1-only machines, auth, OpenAPI."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest

from services.telemetry.query import queries, schemas
from shared.db.dialect import TSQL, render
from shared.openapi import build_spec
from shared.protheus.keys import USUAL_ORDER_KEY
from shared.protheus.naming import Tables
from tests.helpers import assert_envelope, auth
from tests.support.telemetry_query import (
    OTHER_KEY,
    PROTHEUS_DOWN,
    READ,
    ProtheusRows,
    TelemetryRows,
    documented_answer,
    shown,
    utc,
)
from tests.support.urls import url


@pytest.fixture
async def erp(erp: ProtheusRows) -> ProtheusRows:
    await erp.resource("M1", "TORNO CNC 1")
    await erp.resource("M9", "PRENSA 9")  # in SH1, never sent anything
    await erp.resource("MX", "SUCATEADA", D_E_L_E_T_="*")
    return erp


@pytest.fixture
async def client(client_for, erp) -> Any:
    return await client_for(erp.dsn)


async def get(client: Any, path: str, expect: int = 200, **query: Any) -> Any:
    return await assert_envelope(await client.get(path, params=query, headers=READ), expect)


def bad_field(body: dict[str, Any]) -> tuple[str, str]:
    detail = body["error"]["details"][0]
    assert body["error"]["code"] == "invalid_parameter"
    return detail["field"], detail["rule"]


T = "2026-03-02T"  # a Monday; tests read instants as UTC unless they say otherwise


# --- machines ------------------------------------------------------------------------------------


@pytest.fixture
async def plant(mes_rows) -> TelemetryRows:
    """M1 and M2 on porto/usinagem/linha1, M3 on linha2, with states and two metrics on M1."""
    await mes_rows.machine("M1", last_seen=utc(T + "12:30:00"))
    await mes_rows.machine("M2")
    await mes_rows.machine("M3", line="linha2")
    await mes_rows.states(
        "M1", (utc(T + "08:00:00"), "running", None), (utc(T + "11:00:00"), "fault", "E7")
    )
    await mes_rows.states("M2", (utc(T + "09:00:00"), "running", None))
    await mes_rows.samples(
        "M1",
        "temp",
        [(utc(T + "12:00:10"), 1), (utc(T + "12:00:50"), 3), (utc(T + "12:01:05"), 10),
         (utc(T + "12:16:00"), 20), (utc(T + "14:00:00"), 5)],
    )  # fmt: skip
    # rpm's latest point is the day before: the latest value spans partitions.
    await mes_rows.samples(
        "M1", "rpm", [(utc("2026-03-01T10:00:00"), 900), (utc("2026-03-01T11:00:00"), 950)]
    )
    return mes_rows


async def test_machines_lists_sh1_and_mes_machines_with_current_state(plant, client):
    data = await get(client, url(client, "machines_list"))
    assert set(data) == {"total", "page", "pageSize", "totalPages", "filters", "data"}
    assert (data["total"], data["page"], data["pageSize"], data["totalPages"]) == (4, 1, 50, 1)
    items = {item["machine"]: item for item in data["data"]}
    assert [item["machine"] for item in data["data"]] == ["M1", "M2", "M3", "M9"]
    assert items["M1"] == {
        "machine": "M1",
        "site": "porto",
        "area": "usinagem",
        "line": "linha1",
        "description": "TORNO CNC 1",
        "inProtheus": True,
        "lastSeen": shown(utc(T + "12:30:00")),
        "state": "fault",
        "stateReason": "E7",
        "stateSince": shown(utc(T + "11:00:00")),
    }
    assert items["M3"]["state"] is None
    assert items["M3"]["inProtheus"] is False
    assert items["M9"]["site"] is None
    assert items["M9"]["lastSeen"] is None
    assert items["M9"]["description"] == "PRENSA 9"
    assert "MX" not in items  # deleted in SH1


async def test_machines_filters_pages_and_optional_values(plant, client):
    data = await get(client, url(client, "machines_list"), line="porto/usinagem/linha1")
    assert [item["machine"] for item in data["data"]] == ["M1", "M2"]
    assert data["filters"] == {"line": "porto/usinagem/linha1", "state": None, "values": False}
    data = await get(client, url(client, "machines_list"), state="running")
    assert [item["machine"] for item in data["data"]] == ["M2"]
    data = await get(client, url(client, "machines_list"), page_size=3, page=2)
    assert (data["total"], data["totalPages"], [i["machine"] for i in data["data"]]) == (
        4,
        2,
        ["M9"],
    )
    data = await get(client, url(client, "machines_list"), values="true", page_size=1)
    assert data["data"][0]["metrics"] == [
        {"metric": "rpm", "value": 950.0, "ts": shown(utc("2026-03-01T11:00:00"))},
        {"metric": "temp", "value": 5.0, "ts": shown(utc(T + "14:00:00"))},
    ]
    for name, value in (("line", "porto/usinagem"), ("state", "dancing"), ("page_size", "0")):
        body = await get(client, url(client, "machines_list"), 400, **{name: value})
        assert bad_field(body)[0] == name


async def test_machines_without_protheus_lists_mes_machines_and_says_so(plant, client_for):
    client = await client_for(PROTHEUS_DOWN)
    resp = await client.get(url(client, "machines_list"), headers=READ)
    body = await resp.json()
    assert resp.status == 200
    assert [item["machine"] for item in body["data"]["data"]] == ["M1", "M2", "M3"]
    assert "Protheus indisponível" in body["message"]


# --- latest ---------------------------------------------------------------------------------------


async def test_latest_gives_each_metric_last_value_and_the_current_state(plant, client):
    data = await get(client, url(client, "machine_latest", machine="M1"))
    assert data == {
        "machine": "M1",
        "site": "porto",
        "area": "usinagem",
        "line": "linha1",
        "lastSeen": shown(utc(T + "12:30:00")),
        "state": "fault",
        "stateReason": "E7",
        "stateSince": shown(utc(T + "11:00:00")),
        "metrics": [
            {"metric": "rpm", "value": 950.0, "ts": shown(utc("2026-03-01T11:00:00"))},
            {"metric": "temp", "value": 5.0, "ts": shown(utc(T + "14:00:00"))},
        ],
    }


async def test_a_machine_only_in_sh1_is_known_and_an_unknown_one_is_404(plant, client):
    data = await get(client, url(client, "machine_latest", machine="M9"))
    assert (data["metrics"], data["state"], data["site"]) == ([], None, None)
    window = {"from": T + "00:00:00Z", "to": T + "01:00:00Z"}
    for path, query in (
        (url(client, "machine_telemetry", machine="M9"), {**window, "metric": "temp"}),
        (url(client, "machine_states", machine="M9"), window),
        (url(client, "machine_counters", machine="M9"), {**window, "bucket": "1h"}),
    ):
        assert await get(client, path, **query)
    for path, query in (
        (url(client, "machine_latest", machine="NOPE"), {}),
        (url(client, "machine_telemetry", machine="NOPE"), {**window, "metric": "temp"}),
        (
            url(client, "machine_telemetry", machine="NOPE"),
            {**window, "metric": "temp", "bucket": "1m"},
        ),
        (url(client, "machine_states", machine="NOPE"), window),
        (url(client, "machine_counters", machine="NOPE"), {**window, "bucket": "1h"}),
    ):
        body = await get(client, path, 404, **query)
        assert body["error"]["code"] == "not_found"
        assert "NOPE" in body["message"]


async def test_unknown_machine_with_protheus_down_is_503_but_mes_machines_answer(plant, client_for):
    client = await client_for(PROTHEUS_DOWN)
    body = await get(client, url(client, "machine_latest", machine="M9"), 503)
    assert body["error"]["code"] == "dependency_unavailable"
    assert (await get(client, url(client, "machine_latest", machine="M1")))["state"] == "fault"


# --- series ---------------------------------------------------------------------------------------


async def test_raw_points_are_the_half_open_window_in_time_order(plant, client):
    data = await get(
        client,
        url(client, "machine_telemetry", machine="M1"),
        metric="temp",
        **{"from": T + "12:00:10Z", "to": T + "14:00:00Z"},
    )
    # 12:00:10 is `from` (included); 14:00:00 is `to` (excluded).
    assert data["points"] == [
        {"ts": shown(utc(T + "12:00:10")), "value": 1.0},
        {"ts": shown(utc(T + "12:00:50")), "value": 3.0},
        {"ts": shown(utc(T + "12:01:05")), "value": 10.0},
        {"ts": shown(utc(T + "12:16:00")), "value": 20.0},
    ]
    assert (data["bucket"], data["agg"]) == (None, [])
    # An offset other than Z means the same instant.
    other = await get(
        client,
        url(client, "machine_telemetry", machine="M1"),
        metric="temp",
        **{"from": T + "09:00:10-03:00", "to": T + "11:00:00-03:00"},
    )
    assert other["points"] == data["points"]


async def test_buckets_align_to_the_epoch_skip_empty_ones_and_compute_each_aggregate(plant, client):
    async def series(bucket: str, agg: str, start: str = "12:00:00Z") -> list[dict[str, Any]]:
        data = await get(
            client,
            url(client, "machine_telemetry", machine="M1"),
            metric="temp",
            bucket=bucket,
            agg=agg,
            **{"from": T + start, "to": T + "15:00:00Z"},
        )
        return data["points"]

    every = "avg,min,max,last,count"
    assert await series("1m", every) == [
        {"bucket": shown(utc(T + "12:00:00")), "avg": 2.0, "min": 1.0, "max": 3.0, "last": 3.0, "count": 2},
        {"bucket": shown(utc(T + "12:01:00")), "avg": 10.0, "min": 10.0, "max": 10.0, "last": 10.0, "count": 1},
        {"bucket": shown(utc(T + "12:16:00")), "avg": 20.0, "min": 20.0, "max": 20.0, "last": 20.0, "count": 1},
        {"bucket": shown(utc(T + "14:00:00")), "avg": 5.0, "min": 5.0, "max": 5.0, "last": 5.0, "count": 1},
    ]  # fmt: skip
    # 15-minute buckets start at :00/:15 (the epoch's grid), not at `from`; 12:30-13:45 are empty.
    fifteen = await series("15m", "last,avg")
    assert [(p["bucket"], p["last"]) for p in fifteen] == [
        (shown(utc(T + "12:00:00")), 10.0),
        (shown(utc(T + "12:15:00")), 20.0),
        (shown(utc(T + "14:00:00")), 5.0),
    ]
    assert list(fifteen[0]) == ["bucket", "last", "avg"]  # only what was asked, in that order
    assert fifteen[0]["avg"] == pytest.approx(14 / 3)
    hourly = await series("1h", "count,max")
    assert hourly == [
        {"bucket": shown(utc(T + "12:00:00")), "count": 4, "max": 20.0},
        {"bucket": shown(utc(T + "14:00:00")), "count": 1, "max": 5.0},
    ]
    # A `from` inside a bucket keeps the bucket's aligned start and only the points after it.
    assert (await series("1m", "count", start="12:00:30Z"))[0] == {
        "bucket": shown(utc(T + "12:00:00")),
        "count": 1,
    }
    # Without agg: avg alone.
    assert list((await series("1h", ""))[0]) == ["bucket", "avg"]


async def test_day_buckets_follow_the_plant_midnight(mes_rows, erp, client):
    await mes_rows.machine("M1")
    # 02:00Z and 04:00Z share a UTC day, but in Sao Paulo (UTC-3) they are 23:00 on the 1st
    # and 01:00 on the 2nd.
    await mes_rows.samples("M1", "energy", [(utc(T + "02:00:00"), 4), (utc(T + "04:00:00"), 6)])
    data = await get(
        client,
        url(client, "machine_telemetry", machine="M1"),
        metric="energy",
        bucket="1d",
        agg="count,avg",
        **{"from": "2026-03-01T00:00:00Z", "to": "2026-03-03T00:00:00Z"},
    )
    assert data["points"] == [
        {"bucket": "2026-03-01T00:00:00-03:00", "count": 1, "avg": 4.0},
        {"bucket": "2026-03-02T00:00:00-03:00", "count": 1, "avg": 6.0},
    ]


async def test_series_parameters_are_validated_naming_each_one(plant, client):
    path = url(client, "machine_telemetry", machine="M1")
    ok = {"metric": "temp", "from": T + "12:00:00Z", "to": T + "13:00:00Z"}
    cases = [
        ({"metric": None}, ("metric", "required")),
        ({"from": None}, ("from", "required")),
        ({"to": None}, ("to", "required")),
        ({"from": T + "12:00:00"}, ("from", "format")),  # no offset
        ({"to": "amanhã"}, ("to", "format")),
        ({"to": T + "12:00:00Z"}, ("to", "order")),  # to == from
        ({"to": T + "11:00:00Z"}, ("to", "order")),
        ({"bucket": "5m"}, ("bucket", "choice")),
        ({"bucket": "1m", "agg": "avg,median"}, ("agg", "choice")),
        ({"agg": "avg"}, ("agg", "requires")),
    ]
    for change, expected in cases:
        query = {k: v for k, v in {**ok, **change}.items() if v is not None}
        body = await get(client, path, 400, **query)
        assert bad_field(body) == expected, change
        assert expected[0] in body["message"]


async def test_raw_ranges_over_24_hours_or_100000_points_are_refused(mes_rows, erp, client):
    await mes_rows.machine("M1")
    start = utc(T + "00:00:00")
    # 100,001 points, 0.5 s apart: about 13.9 hours, inside the 24-hour limit.
    await mes_rows.dense_samples("M1", "dense", start, 100_001, 500)
    path = url(client, "machine_telemetry", machine="M1")
    day = {"from": T + "00:00:00Z", "to": "2026-03-03T00:00:00Z"}
    body = await get(client, path, 400, metric="dense", **day)
    assert bad_field(body) == ("to", "limit")
    assert "100001" in body["message"]
    # Exactly 24 hours is allowed by the range rule; one more second is not.
    body = await get(client, path, 400, metric="dense", **{**day, "to": "2026-03-03T00:00:01Z"})
    assert bad_field(body) == ("to", "range")
    # The window without the last point holds exactly 100,000: answered.
    last = start + dt.timedelta(milliseconds=500 * 100_000)
    data = await get(client, path, metric="dense", **{"from": day["from"], "to": last.isoformat()})
    assert len(data["points"]) == 100_000
    assert data["points"][-1]["value"] == 99_999.0
    # Bucketed, the same day is fine.
    data = await get(client, path, metric="dense", bucket="1h", agg="count", **day)
    assert sum(p["count"] for p in data["points"]) == 100_001
    assert len(data["points"]) == 14


async def test_bucketed_ranges_are_bounded_too(plant, client):
    window = {"from": "2026-01-01T00:00:00Z", "to": "2026-03-15T00:00:00Z"}  # 73 days
    body = await get(
        client,
        url(client, "machine_telemetry", machine="M1"),
        400,
        metric="temp",
        bucket="1m",
        **window,
    )
    assert bad_field(body) == ("bucket", "limit")
    assert await get(
        client,
        url(client, "machine_telemetry", machine="M1"),
        metric="temp",
        bucket="15m",
        **window,
    )


# --- states ---------------------------------------------------------------------------------------


@pytest.fixture
async def timeline(mes_rows) -> TelemetryRows:
    await mes_rows.machine("M1")
    await mes_rows.states(
        "M1",
        (utc(T + "08:00:00"), "running", None),
        (utc(T + "09:00:00"), "running", None),  # the same state again: one interval
        (utc(T + "10:00:00"), "fault", "E1"),
        (utc(T + "10:30:00"), "fault", "E2"),  # another reason: another interval
        (utc(T + "11:00:00"), "idle", None),
    )
    return mes_rows


async def states_between(client: Any, start: str, end: str) -> dict[str, Any]:
    return await get(
        client, url(client, "machine_states", machine="M1"), **{"from": start, "to": end}
    )


def interval(state: str, reason: str | None, start: str, end: str) -> dict[str, Any]:
    return {
        "state": state,
        "reason": reason,
        "start": shown(utc(T + start)),
        "end": shown(utc(T + end)),
    }


async def test_states_include_the_state_in_force_at_from_clipped_to_the_window(timeline, client):
    data = await states_between(client, T + "09:30:00Z", T + "10:45:00Z")
    assert data["intervals"] == [
        interval("running", None, "09:30:00", "10:00:00"),  # from the 09:00 message
        interval("fault", "E1", "10:00:00", "10:30:00"),
        interval("fault", "E2", "10:30:00", "10:45:00"),  # still open: ends at `to`
    ]
    assert (data["from"], data["to"]) == (shown(utc(T + "09:30:00")), shown(utc(T + "10:45:00")))


async def test_states_start_at_the_first_message_and_merge_repeats(timeline, client):
    data = await states_between(client, T + "07:00:00Z", T + "12:00:00Z")
    assert data["intervals"] == [
        interval("running", None, "08:00:00", "10:00:00"),
        interval("fault", "E1", "10:00:00", "10:30:00"),
        interval("fault", "E2", "10:30:00", "11:00:00"),
        interval("idle", None, "11:00:00", "12:00:00"),
    ]
    before = await states_between(client, T + "06:00:00Z", T + "07:00:00Z")
    assert before["intervals"] == []
    # A message exactly at `from` replaces the state in force: no zero-length interval.
    data = await states_between(client, T + "10:00:00Z", T + "10:40:00Z")
    assert data["intervals"] == [
        interval("fault", "E1", "10:00:00", "10:30:00"),
        interval("fault", "E2", "10:30:00", "10:40:00"),
    ]


async def test_the_open_state_ends_now_when_to_is_in_the_future(timeline, client):
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)).isoformat()
    data = await states_between(client, T + "11:30:00Z", later)
    (idle,) = data["intervals"]
    end = dt.datetime.fromisoformat(idle["end"])
    assert abs((end - dt.datetime.now(dt.UTC)).total_seconds()) < 60
    assert data["to"] == idle["end"]
    for query, expected in (
        ({"from": T + "10:00:00"}, ("from", "format")),
        ({"to": T + "09:00:00Z"}, ("to", "order")),
    ):
        body = await get(
            client,
            url(client, "machine_states", machine="M1"),
            400,
            **{"from": T + "10:00:00Z", "to": T + "11:00:00Z", **query},
        )
        assert bad_field(body) == expected


# --- counters -------------------------------------------------------------------------------------


async def test_counters_are_summed_per_bucket(mes_rows, erp, client):
    await mes_rows.machine("M1")
    await mes_rows.counters(
        "M1",
        (utc(T + "12:00:10"), 5, 1, "00000101001"),
        (utc(T + "12:14:59"), 3, 0, None),
        (utc(T + "12:20:00"), 10, 2, None),
        (utc(T + "13:00:00"), 99, 9, None),  # at `to`: outside
    )
    window = {"from": T + "12:00:00Z", "to": T + "13:00:00Z"}
    data = await get(client, url(client, "machine_counters", machine="M1"), bucket="15m", **window)
    assert data["buckets"] == [
        {"bucket": shown(utc(T + "12:00:00")), "good": 8, "scrap": 1},
        {"bucket": shown(utc(T + "12:15:00")), "good": 10, "scrap": 2},
    ]
    data = await get(client, url(client, "machine_counters", machine="M1"), bucket="1d", **window)
    assert data["buckets"] == [{"bucket": "2026-03-02T00:00:00-03:00", "good": 18, "scrap": 3}]
    body = await get(client, url(client, "machine_counters", machine="M1"), 400, **window)
    assert bad_field(body) == ("bucket", "required")
    body = await get(
        client, url(client, "machine_counters", machine="M1"), 400, bucket="2h", **window
    )
    assert bad_field(body) == ("bucket", "choice")


# --- dead letters ---------------------------------------------------------------------------------


async def test_dead_letters_page_newest_first_with_payload_decoded(mes_rows, erp, client):
    await mes_rows.dead_letter("mes/v1/x", b'{"ts": 1', "json inválido", utc(T + "10:00:00"))
    await mes_rows.dead_letter("mes/v1/y", b"\xff\xfebad", "utf-8 inválido", utc(T + "12:00:00"))
    await mes_rows.dead_letter("bad/topic", b"{}", "tópico fora do contrato", utc(T + "11:00:00"))
    data = await get(client, url(client, "telemetry_dead_letters"), page_size=2)
    assert (data["total"], data["totalPages"], data["filters"]) == (3, 2, {})
    first, second = data["data"]
    assert first["topic"] == "mes/v1/y"
    assert first["payload"] == "\ufffd\ufffdbad"
    assert first["payloadSize"] == 5
    assert first["reason"] == "utf-8 inválido"
    assert first["receivedAt"] == shown(utc(T + "12:00:00"))
    assert set(first) == {"id", "receivedAt", "topic", "payload", "payloadSize", "reason"}
    assert second["topic"] == "bad/topic"
    data = await get(client, url(client, "telemetry_dead_letters"), page_size=2, page=2)
    assert [(d["topic"], d["payload"]) for d in data["data"]] == [("mes/v1/x", '{"ts": 1')]
    body = await get(client, url(client, "telemetry_dead_letters"), 400, page="0")
    assert bad_field(body)[0] == "page"


async def test_every_answer_is_what_its_response_schema_dumps(plant, client):
    """The response schemas (which the OpenAPI document shows) produce exactly the answers."""
    await plant.counters("M1", (utc(T + "12:00:10"), 5, 1, "00000101001"))
    await plant.dead_letter("mes/v1/y", b"\xff\xfebad", "utf-8 inválido", utc(T + "12:00:00"))
    window = {"from": T + "08:00:00Z", "to": T + "15:00:00Z"}
    for query in ({}, {"values": "true"}, {"line": "porto/usinagem/linha1", "state": "running"}):
        data = await documented_answer(
            client, url(client, "machines_list"), schemas.MachineListResponse, **query
        )
        assert data["data"]
    for machine in ("M1", "M9"):
        await documented_answer(
            client, url(client, "machine_latest", machine=machine), schemas.LatestResponse
        )
    series = url(client, "machine_telemetry", machine="M1")
    for query in ({}, {"bucket": "15m", "agg": "avg,min,max,last,count"}, {"bucket": "1d"}):
        data = await documented_answer(
            client, series, schemas.SeriesResponse, metric="temp", **window, **query
        )
        assert data["points"]
    data = await documented_answer(
        client, url(client, "machine_states", machine="M1"), schemas.StatesResponse, **window
    )
    assert data["intervals"]
    data = await documented_answer(
        client,
        url(client, "machine_counters", machine="M1"),
        schemas.CountersResponse,
        bucket="1h",
        **window,
    )
    assert data["buckets"]
    data = await documented_answer(
        client, url(client, "telemetry_dead_letters"), schemas.DeadLetterResponse
    )
    assert data["data"]


# --- auth and OpenAPI -----------------------------------------------------------------------------


async def test_routes_need_a_key_with_telemetry_read(plant, client):
    for path in (
        url(client, "machines_list"),
        url(client, "machine_latest", machine="M1"),
        url(client, "oee"),
    ):
        resp = await client.get(path)
        assert (await assert_envelope(resp, 401))["error"]["code"] == "unauthorized"
        resp = await client.get(path, headers=auth(OTHER_KEY))
        assert (await assert_envelope(resp, 403))["error"]["code"] == "forbidden"


def test_protheus_statements_render_as_t_sql_without_postgresql_syntax():
    for sql in (
        queries.ideal_times(TSQL, Tables("01"), USUAL_ORDER_KEY, 3, 2),
        queries.sh1_machines(TSQL, Tables("01"), one=True),
    ):
        text, args = render(sql, _params(sql), style="qmark", dialect=TSQL)
        assert "::" not in text
        assert "||" not in text
        assert "LIMIT" not in text
        assert "bpchar" not in text.lower()
        assert "CAST(? AS VARCHAR(" in text  # strings bound as VARCHAR, never NVARCHAR
        assert len(args) == text.count("?")
    assert "sh6010" in queries.ideal_times(TSQL, Tables("01"), USUAL_ORDER_KEY, 0, 1)
    assert "1 = 0" in queries.ideal_times(TSQL, Tables("01"), USUAL_ORDER_KEY, 1, 0)


def _params(sql: str) -> dict[str, str]:
    return {name: "X" for name in re.findall(r"(?<!:):([a-z_0-9]+)", sql)}


async def test_openapi_documents_every_query_route_with_its_scope(client):
    spec = build_spec(client.app, "telemetry", "Telemetry API", "")
    paths = spec["paths"]
    # The published document's path keys, written out: the contract is these literal paths.
    assert set(paths) == {
        "/api/v1/machines",
        "/api/v1/machines/{machine}/latest",
        "/api/v1/machines/{machine}/telemetry",
        "/api/v1/machines/{machine}/states",
        "/api/v1/machines/{machine}/counters",
        "/api/v1/telemetry/dead-letters",
        "/api/v1/oee",
        "/api/v1/plant",
        "/api/v1/sparkplug/nodes",
        "/api/v1/sparkplug/mapping",
    }
    for path, operations in paths.items():
        operation = operations["get"]
        assert operation["x-required-scope"] == "telemetry:read"
        if path == "/api/v1/sparkplug/mapping":
            assert operations["put"]["x-required-scope"] == "admin"
        assert operation["description"]
    names = {p["name"] for p in paths["/api/v1/machines/{machine}/telemetry"]["get"]["parameters"]}
    assert names >= {"machine", "metric", "from", "to", "bucket", "agg"}
    assert "100000" in paths["/api/v1/machines/{machine}/telemetry"]["get"]["description"]

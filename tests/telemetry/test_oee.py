"""OEE: the pure arithmetic, the SHIFT_CALENDAR parser, and /api/v1/oee on a crafted plant whose
every figure is computed by hand in the comments below."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from services.telemetry.query import schemas
from services.telemetry.query.oee import aggregate, attribution, present, standards
from services.telemetry.query.shifts import Shift, ShiftCalendar, parse_shift_calendar
from shared.settings import ConfigError
from tests.helpers import assert_envelope
from tests.support.databases import odbc_url
from tests.support.stops import insert_stop
from tests.support.telemetry_query import (
    PLANT,
    PROTHEUS_DOWN,
    READ,
    ProtheusRows,
    TelemetryRows,
    documented_answer,
    local,
    query_app,
    shown,
)
from tests.support.urls import url

approx = pytest.approx

# --- arithmetic -----------------------------------------------------------------------------------


def test_standard_time_follows_protheus_time_format():
    assert standards.standard_hours(1.5, "C") == 1.5
    assert standards.standard_hours(1.30, "N") == approx(1.5)  # 1h30m
    assert standards.standard_hours(0.45, "N") == approx(0.75)  # 45 minutes
    assert standards.standard_hours(2.0, "N") == 2.0


def test_ideal_unit_time_divides_by_the_lot_and_a_zero_lot_means_one():
    assert standards.ideal_unit_seconds(0.5, 60, "C") == approx(30.0)  # 1800 s / 60
    assert standards.ideal_unit_seconds(0.01, 0, "C") == approx(36.0)  # lot 0 -> 1
    assert standards.ideal_unit_seconds(0.5, 60, "N") == approx(50.0)  # 50 min / 60


def test_fractions_are_capped_at_one_and_null_on_a_zero_denominator():
    assert aggregate.fraction(1, 4) == 0.25
    assert aggregate.fraction(5, 4) == 1.0
    assert aggregate.fraction(0, 4) == 0.0
    assert aggregate.fraction(3, 0) is None
    assert aggregate.fraction(None, 4) is None


def test_machine_totals_count_uncovered_planned_time_as_unknown_loss():
    totals = aggregate.machine_totals(
        1000.0,
        [
            ("running", None, 600.0, None),
            ("fault", "E1", 100.0, None),
            ("fault", "E1", 50.0, None),
            ("idle", "", 50.0, None),
        ],
        good=9,
        scrap=1,
        ideal=300.0,
    )
    assert totals.running == 600.0
    assert dict(totals.losses) == {
        ("fault", "E1", None): 150.0,
        ("idle", None, None): 50.0,
        ("unknown", None, None): 200.0,
    }
    assert present.losses_list(totals) == [
        {"state": "unknown", "reason": None, "seconds": 200.0, "protheusReason": None},
        {"state": "fault", "reason": "E1", "seconds": 150.0, "protheusReason": None},
        {"state": "idle", "reason": None, "seconds": 50.0, "protheusReason": None},
    ]
    figures = aggregate.figures(totals)
    assert figures["availability"] == 0.6
    assert figures["performance"] == 0.5
    assert figures["quality"] == 0.9
    assert figures["oee"] == approx(0.27)


def test_sums_come_before_ratios_and_unknown_ideal_time_poisons_performance():
    a = aggregate.machine_totals(100.0, [("running", None, 100.0, None)], 10, 0, 50.0)
    b = aggregate.machine_totals(100.0, [("running", None, 20.0, None)], 0, 0, 0.0)
    line = aggregate.sum_totals([a, b])
    # Averaging the ratios would give availability (1 + 0.2) / 2 = 0.6; the sum gives 120/200.
    assert aggregate.figures(line)["availability"] == 0.6
    assert aggregate.figures(line)["performance"] == approx(50 / 120)
    unknown = aggregate.sum_totals([a, aggregate.machine_totals(100.0, [], 5, 0, None)])
    assert aggregate.figures(unknown)["performance"] is None
    assert aggregate.figures(unknown)["oee"] is None
    nothing = aggregate.figures(aggregate.OeeTotals())
    assert nothing == {"availability": None, "performance": None, "quality": None, "oee": None}


# --- shift calendar -------------------------------------------------------------------------------


def test_shift_calendar_parses_days_ranges_and_several_entries():
    assert parse_shift_calendar(None) == ()
    assert parse_shift_calendar("  ") == ()
    weekdays = frozenset(range(5))
    assert parse_shift_calendar("mon-fri 06:00-22:00") == (Shift(weekdays, 360, 1320),)
    assert parse_shift_calendar("seg-sex 06:00-14:00 14:00-22:00; sab 06:00-12:00") == (
        Shift(weekdays, 360, 840),
        Shift(weekdays, 840, 1320),
        Shift(frozenset({5}), 360, 720),
    )
    # Crossing midnight ends the next day; a range may wrap the week; + joins day sets.
    assert parse_shift_calendar("fri-mon 22:00-06:00, tue+thu 00:00-24:00, 07:00-08:00") == (
        Shift(frozenset({4, 5, 6, 0}), 1320, 1800),
        Shift(frozenset({1, 3}), 0, 1440),
        Shift(frozenset(range(7)), 420, 480),
    )


@pytest.mark.parametrize(
    "text",
    [
        "mon-fri",
        "mon-fry 06:00-22:00",
        "mon-fri 6h-22h",
        "mon-fri 06:00-25:00",
        "mon-fri 06:00-06:00",
        "mon-fri 06:00-22:00,,sat 06:00-12:00",
    ],
)
def test_a_bad_shift_calendar_fails_naming_the_variable(text):
    with pytest.raises(ConfigError) as caught:
        parse_shift_calendar(text)
    assert caught.value.variable == "SHIFT_CALENDAR"
    assert "SHIFT_CALENDAR" in str(caught.value)


def test_planned_intervals_are_plant_local_and_clipped_to_the_window():
    calendar = ShiftCalendar.from_setting("mon-fri 22:00-06:00; sat 08:00-10:00", PLANT)
    # Friday 2026-03-06 20:00 to Monday 2026-03-09 07:00, plant time.
    planned = calendar.planned(local("2026-03-06T20:00"), local("2026-03-09T07:00"))
    # Friday night's shift runs into Saturday; no Sunday night shift (sun is not in mon-fri).
    assert planned == [
        (local("2026-03-06T22:00"), local("2026-03-07T06:00")),
        (local("2026-03-07T08:00"), local("2026-03-07T10:00")),
    ]
    # A shift that began the day before is clipped at the window's start.
    thursday = calendar.planned(local("2026-03-06T02:00"), local("2026-03-06T04:00"))
    assert thursday == [(local("2026-03-06T02:00"), local("2026-03-06T04:00"))]
    assert ShiftCalendar.from_setting(None, PLANT).planned(
        local("2026-03-06T02:00"), local("2026-03-06T04:00")
    ) == [(local("2026-03-06T02:00"), local("2026-03-06T04:00"))]


def test_planned_intervals_follow_daylight_saving_time():
    new_york = ZoneInfo("America/New_York")
    calendar = ShiftCalendar.from_setting("sun 00:00-24:00", new_york)
    # 2026-03-08 is the spring-forward Sunday: the plant's day has 23 hours.
    start = dt.datetime(2026, 3, 7, tzinfo=new_york)
    ((begin, end),) = calendar.planned(start, start + dt.timedelta(days=3))
    assert (end - begin) == dt.timedelta(hours=23)


def test_a_bad_shift_calendar_stops_the_app_from_being_built():
    with pytest.raises(ConfigError, match="SHIFT_CALENDAR"):
        query_app(PROTHEUS_DOWN, "postgresql://postgres@127.0.0.1/unused", shift_calendar="xyz")


# --- the crafted plant ----------------------------------------------------------------------------
#
# Monday 2026-03-02, plant time (America/Sao_Paulo, UTC-3). SHIFT_CALENDAR "mon-fri 06:00-14:00":
# the window 05:00-15:00 has 8 h = 28800 s planned (06:00-14:00).
#
# M1 (porto/usinagem/linha1) states:            inside planned 06:00-14:00:
#   Sun 20:00 stopped "fim"   (in force at from) 06:00-06:30 stopped/fim   1800 s
#   06:30 running                                06:30-09:00 running       9000 s
#   09:00 fault "E42"                            09:00-09:30 fault/E42     1800 s
#   09:30 running                                09:30-12:00 running       9000 s
#   12:00 setup "troca"                          12:00-12:20 setup/troca   1200 s
#   12:20 running                                12:20-13:30 running       4200 s
#   13:30 idle (no reason), open until 15:00     13:30-14:00 idle          1800 s
# running = 22200 s; the states cover 28800 s: no unknown time.
#
# M1 counters (plant time):
#   05:30 good 7            -> before the shift: not counted
#   07:00 good 100 scrap 5 order 00000101001 (A) -> 105 units of order A
#   10:00 good 200 scrap 10, no order            -> 210 units of the order in progress (B)
#   14:30 good 50           -> after the shift: not counted
# good 300, scrap 15, total 315.
#
# Routings (SG2), PROTHEUS_TIME_FORMAT=C, G2_TPOPER blank (per unit), no crew (H1_MAOOBRA 0):
#   A: product PA, C2_ROTEIRO blank -> B1_OPERPAD '02'; op 10 on M1: 0.5 h per 60 = 30 s/unit
#      (routing '01' also has an op on M1, 5 h per unit: the wrong routing would show it)
#   B: product PB, C2_ROTEIRO '03'; op 20 on M1: 0.01 h, lot 0 (= 1) = 36 s/unit;
#      op 10 on M2: 0.02 h per 1 = 72 s/unit.
# The 10:00 counter has no order: it belongs to the SH6 appointment on M1 that covers 10:00,
# B op 20 (Mon 09:00-11:00). Not to:
#   C's appointment 09:30-10:30 on M1: deleted (D_E_L_E_T_ *);
#   a stop report (H6_TIPO I) 09:45-10:15 on M1: not a production appointment;
#   D (closed since) op 10 on M1, Sun 20:00-22:00: neither covers 10:00 nor started in the window.
# The 07:00 counter names A: no appointment of A on M1, so A's routing operation on M1 (10).
# ideal = 105 x 30 + 210 x 36 = 3150 + 7560 = 10710 s
#
# M1, format C:
#   availability = 22200 / 28800              = 0.7708333
#   performance  = 10710 / 22200              = 0.4824324
#   quality      = 300 / 315                  = 0.9523810
#   oee          = 10710/28800 x 300/315      = 0.371875 x 0.952381 = 0.3541667
#   losses: fault/E42 1800, idle/null 1800, stopped/fim 1800, setup/troca 1200
# M1, format N (hh.mm): A 0.50 = 50 min / 60 = 50 s/unit; B 0.01 = 1 min = 60 s/unit
#   ideal = 105 x 50 + 210 x 60 = 5250 + 12600 = 17850 s
#   performance = 17850 / 22200 = 0.8040541; oee = 17850/28800 x 300/315 = 0.5902778
#
# M2 (same line): running since Sun 23:00 -> 28800 s running; counter 08:00 good 500 order B:
#   ideal 500 x 72 = 36000 s -> performance 36000/28800 = 1.25, capped to 1.
# Line porto/usinagem/linha1 = M1 + M2, summed before the ratios:
#   planned 57600, running 51000, ideal 46710, good 800, scrap 15
#   availability = 51000/57600 = 0.8854167; performance = 46710/51000 = 0.9158824
#   quality = 800/815 = 0.9815951; oee = 46710/57600 x 800/815 = 0.7960123
#
# M3 (porto/usinagem/linha2): first state 07:00 running, nothing counted.

WINDOW = {"from": "2026-03-02T05:00:00-03:00", "to": "2026-03-02T15:00:00-03:00"}
SHIFTS = "mon-fri 06:00-14:00"
ORDER_A, ORDER_B = "00000101001", "00000201001"


@pytest.fixture
async def plant(mes_rows, erp) -> tuple[TelemetryRows, ProtheusRows]:
    for machine, line in (("M1", "linha1"), ("M2", "linha1"), ("M3", "linha2")):
        await mes_rows.machine(machine, line=line)
        await erp.resource(machine, f"MAQUINA {machine}")
    await mes_rows.states(
        "M1",
        (local("2026-03-01T20:00"), "stopped", "fim"),
        (local("2026-03-02T06:30"), "running", None),
        (local("2026-03-02T09:00"), "fault", "E42"),
        (local("2026-03-02T09:30"), "running", None),
        (local("2026-03-02T12:00"), "setup", "troca"),
        (local("2026-03-02T12:20"), "running", None),
        (local("2026-03-02T13:30"), "idle", None),
    )
    await mes_rows.counters(
        "M1",
        (local("2026-03-02T05:30"), 7, 0, None),
        (local("2026-03-02T07:00"), 100, 5, ORDER_A),
        (local("2026-03-02T10:00"), 200, 10, None),
        (local("2026-03-02T14:30"), 50, 0, None),
    )
    await mes_rows.states("M2", (local("2026-03-01T23:00"), "running", None))
    await mes_rows.counters("M2", (local("2026-03-02T08:00"), 500, 0, ORDER_B))
    await mes_rows.states("M3", (local("2026-03-02T07:00"), "running", None))

    await erp.product("PA", operpad="02")
    await erp.product("PB")
    await erp.product("PC")
    await erp.operation("PA", "02", "10", "M1", tempad=0.5, lotepad=60)
    await erp.operation("PA", "01", "10", "M1", tempad=5, lotepad=1)  # not A's routing
    await erp.operation("PB", "03", "10", "M2", tempad=0.02, lotepad=1)
    await erp.operation("PB", "03", "20", "M1", tempad=0.01, lotepad=0)
    await erp.operation("PC", "01", "10", "M1", tempad=9, lotepad=1)
    await erp.operation("PC", "01", "20", "M2", tempad=9, lotepad=1)
    await erp.order("000001", "PA")
    b = await erp.order("000002", "PB", C2_ROTEIRO="03")
    c = await erp.order("000003", "PC")
    d = await erp.order("000004", "PC", C2_DATRF="20260301")
    await erp.appointment(b, "10", "M2", day="20260228", hour="16:00", start_hour="15:00")
    await erp.appointment(
        b, "20", "M1", day="20260302", hour="11:00", start_hour="09:00", H6_PT="T"
    )
    await erp.appointment(
        c, "10", "M1", day="20260302", hour="10:30", start_hour="09:30", D_E_L_E_T_="*"
    )
    await erp.appointment(
        "", "", "M1", day="20260302", hour="10:15", start_hour="09:45", H6_TIPO="I"
    )
    await erp.appointment(d, "10", "M1", day="20260301", hour="22:00", start_hour="20:00")
    return mes_rows, erp


async def get_oee(client: Any, expect: int = 200, **query: Any) -> Any:
    resp = await client.get(url(client, "oee"), params={**WINDOW, **query}, headers=READ)
    return await assert_envelope(resp, expect)


async def oee_body(client: Any, **query: Any) -> dict[str, Any]:
    resp = await client.get(url(client, "oee"), params={**WINDOW, **query}, headers=READ)
    await assert_envelope(resp, 200)
    return await resp.json()


M1_LOSSES = [
    {"state": "fault", "reason": "E42", "seconds": 1800.0, "protheusReason": None},
    {"state": "idle", "reason": None, "seconds": 1800.0, "protheusReason": None},
    {"state": "stopped", "reason": "fim", "seconds": 1800.0, "protheusReason": None},
    {"state": "setup", "reason": "troca", "seconds": 1200.0, "protheusReason": None},
]


async def test_machine_oee_equals_the_hand_computation(plant, client_for):
    _, erp = plant
    client = await client_for(erp.dsn, shift_calendar=SHIFTS)
    data = await get_oee(client, machine="M1")
    assert data["availability"] == approx(22200 / 28800)
    assert data["performance"] == approx(10710 / 22200)
    assert data["quality"] == approx(300 / 315)
    assert data["oee"] == approx(0.3541667, abs=1e-6)
    assert (data["plannedTime"], data["runningTime"]) == (28800.0, 22200.0)
    assert (data["goodCount"], data["scrapCount"], data["idealTime"]) == (300, 15, 10710.0)
    assert data["losses"] == M1_LOSSES
    assert data["orders"] == [
        {
            "machine": "M1",
            "order": ORDER_A,
            "source": "counter",
            "operation": "10",
            "operationType": "",
            "crew": 0.0,
            "idealCycleTime": 30.0,
            "idealTime": 3150.0,
            "goodCount": 100,
            "scrapCount": 5,
            "issue": None,
        },
        {
            "machine": "M1",
            "order": ORDER_B,
            "source": "appointment",
            "operation": "20",
            "operationType": "",
            "crew": 0.0,
            "idealCycleTime": 36.0,
            "idealTime": 7560.0,
            "goodCount": 200,
            "scrapCount": 10,
            "issue": None,
        },
    ]
    assert data["notes"] == []
    assert (data["machine"], data["line"], data["machines"]) == ("M1", None, ["M1"])
    assert (data["from"], data["to"]) == (
        shown(local("2026-03-02T05:00")),
        shown(local("2026-03-02T15:00")),
    )
    assert "byMachine" not in data


async def test_hh_mm_standard_times_change_performance(plant, client_for):
    _, erp = plant
    client = await client_for(erp.dsn, shift_calendar=SHIFTS, protheus_time_format="N")
    data = await get_oee(client, machine="M1")
    assert data["idealTime"] == 17850.0
    assert data["performance"] == approx(17850 / 22200)
    assert data["oee"] == approx(0.5902778, abs=1e-6)
    assert data["availability"] == approx(22200 / 28800)


async def test_a_line_sums_its_machines_before_taking_ratios(plant, client_for):
    _, erp = plant
    client = await client_for(erp.dsn, shift_calendar=SHIFTS)
    data = await get_oee(client, line="porto/usinagem/linha1")
    assert data["machines"] == ["M1", "M2"]
    assert (data["plannedTime"], data["runningTime"], data["idealTime"]) == (
        57600.0,
        51000.0,
        46710.0,
    )
    assert (data["goodCount"], data["scrapCount"]) == (800, 15)
    assert data["availability"] == approx(51000 / 57600)
    assert data["performance"] == approx(46710 / 51000)
    assert data["quality"] == approx(800 / 815)
    assert data["oee"] == approx(0.7960123, abs=1e-6)
    assert data["losses"] == M1_LOSSES  # M2 ran the whole shift
    m2 = next(item for item in data["byMachine"] if item["machine"] == "M2")
    assert m2["performance"] == 1.0  # 36000 / 28800 = 1.25, capped
    assert m2["availability"] == 1.0
    assert m2["oee"] == 1.0


async def test_without_a_shift_calendar_the_whole_window_is_planned(plant, client_for):
    _, erp = plant
    client = await client_for(erp.dsn)
    # M3: 10 h planned; running from 07:00 to 15:00 = 28800 s; 05:00-07:00 has no state: unknown.
    data = await get_oee(client, machine="M3")
    assert (data["plannedTime"], data["runningTime"]) == (36000.0, 28800.0)
    assert data["availability"] == 0.8
    assert data["losses"] == [
        {"state": "unknown", "reason": None, "seconds": 7200.0, "protheusReason": None}
    ]
    # Nothing counted: performance 0 / running = 0, quality and oee have a zero denominator.
    assert (data["goodCount"], data["scrapCount"]) == (0, 0)
    assert data["performance"] == 0.0
    assert data["quality"] is None
    assert data["oee"] is None
    assert data["orders"] == []


async def test_a_machine_that_never_ran_has_null_ratios(plant, client_for):
    _, erp = plant
    await erp.resource("M9", "PRENSA 9")  # only in SH1
    client = await client_for(erp.dsn, shift_calendar=SHIFTS)
    data = await get_oee(client, machine="M9")
    assert (data["availability"], data["performance"], data["quality"], data["oee"]) == (
        0.0,
        None,
        None,
        None,
    )
    assert data["losses"] == [
        {"state": "unknown", "reason": None, "seconds": 28800.0, "protheusReason": None}
    ]


async def test_protheus_down_leaves_performance_null_and_says_why(plant, client_for):
    client = await client_for(PROTHEUS_DOWN, shift_calendar=SHIFTS)
    body = await oee_body(client, machine="M1")
    data = body["data"]
    assert data["availability"] == approx(22200 / 28800)
    assert data["quality"] == approx(300 / 315)
    assert (data["performance"], data["oee"], data["idealTime"]) == (None, None, None)
    assert "Protheus" in body["message"]
    assert {order["issue"] for order in data["orders"]} == {"Protheus indisponível"}
    assert len(data["notes"]) == 1
    assert data["notes"][0] in body["message"]


async def test_counts_without_a_routing_time_leave_performance_null(plant, client_for):
    mes_rows, erp = plant
    await mes_rows.counters("M3", (local("2026-03-02T08:00"), 10, 0, "00009901001"))
    client = await client_for(erp.dsn, shift_calendar=SHIFTS)
    body = await oee_body(client, machine="M3")
    assert body["data"]["performance"] is None
    assert body["data"]["quality"] == 1.0
    assert "00009901001" in body["message"]
    (order,) = body["data"]["orders"]
    assert "não encontrada" in order["issue"]


async def test_oee_parameters_and_unknown_targets(plant, client_for):
    _, erp = plant
    client = await client_for(erp.dsn, shift_calendar=SHIFTS)
    for query, expected in (
        ({}, ("machine", "required")),
        ({"machine": "M1", "line": "porto/usinagem/linha1"}, ("machine", "exclusive")),
        ({"line": "porto/usinagem"}, ("line", "format")),
        ({"machine": "M1", "from": "2026-03-02T05:00:00"}, ("from", "format")),
        ({"machine": "M1", "to": WINDOW["from"]}, ("to", "order")),
        ({"machine": "M1", "from": "2024-01-01T00:00:00Z"}, ("to", "range")),
    ):
        body = await get_oee(client, 400, **query)
        detail = body["error"]["details"][0]
        assert (detail["field"], detail["rule"]) == expected, query
    body = await get_oee(client, 404, machine="NOPE")
    assert "NOPE" in body["message"]
    body = await get_oee(client, 404, line="porto/usinagem/linha9")
    assert "linha9" in body["message"]


# --- routing times: G2_TPOPER, H1_MAOOBRA, LOTEPAD 0, TEMPAD 0 --------------------------------------


def test_ideal_unit_time_divides_by_the_crew_and_tempad_zero_is_unknown():
    assert standards.ideal_unit_seconds(0.1, 10, "C", crew=2) == approx(18.0)  # 360 s / 10 / 2
    assert standards.ideal_unit_seconds(0.1, 10, "C", crew=0) == approx(36.0)  # crew 0: no divisor
    assert standards.ideal_unit_seconds(0.02, 0, "C", crew=2) == approx(36.0)  # lot 0 -> 1
    assert standards.ideal_unit_seconds(0, 10, "C", crew=2) is None  # no standard recorded
    assert standards.ideal_run_seconds(1.0, "C") == 3600.0
    assert standards.ideal_run_seconds(1.30, "N") == approx(5400.0)  # 1h30m
    assert standards.ideal_run_seconds(0, "C") is None
    assert [standards.is_per_run(t) for t in ("1", "", " ", "4", "2", "3", None)] == [
        False,
        False,
        False,
        False,
        True,
        True,
        False,
    ]


def _at(hour: str) -> dt.datetime:
    return local(f"2026-03-02T{hour}")


def _appointment(ident: int, start: str, end: str) -> attribution.Appointment:
    return attribution.Appointment(ident, _at(start), _at(end))


def test_attribution_segments_cover_then_fall_back_to_the_last_started_in_the_window():
    window = (_at("06:00"), _at("14:00"))
    segments = attribution.attribution_segments(
        *window,
        [
            attribution.Appointment(
                1, local("2026-03-01T22:00"), _at("07:00")
            ),  # began before the window
            _appointment(2, "07:00", "07:30"),  # back-to-back with 1: 07:00 is 2's
            _appointment(3, "08:00", "10:00"),
            _appointment(4, "09:00", "09:30"),  # overlaps 3 and started later: wins while it lasts
            _appointment(5, "11:00", "11:00"),  # zero length: covers nothing, but it started
        ],
    )
    assert segments == [
        (_at("06:00"), _at("07:00"), 1),
        (_at("07:00"), _at("08:00"), 2),  # 07:30-08:00 uncovered: 2 started last
        (_at("08:00"), _at("09:00"), 3),
        (_at("09:00"), _at("09:30"), 4),
        (_at("09:30"), _at("10:00"), 3),
        (_at("10:00"), _at("11:00"), 4),  # uncovered: 4 started last (09:00 > 08:00)
        (_at("11:00"), _at("14:00"), 5),
    ]
    # Before the first appointment that started inside the window nothing applies, and one that
    # started before the window and ended before the instant is no fallback.
    late = attribution.attribution_segments(
        *window,
        [
            attribution.Appointment(1, local("2026-03-01T22:00"), _at("06:30")),
            _appointment(2, "10:00", "11:00"),
        ],
    )
    assert late == [(_at("06:00"), _at("06:30"), 1), (_at("10:00"), _at("14:00"), 2)]
    assert attribution.attribution_segments(*window, []) == []


def test_attribution_segments_agree_with_the_rule_at_every_minute():
    rng = random.Random(10)
    base = local("2026-03-02T00:00")
    for _ in range(200):
        items = []
        for ident in range(rng.randint(0, 8)):
            begin = rng.randint(-120, 600)
            items.append(
                attribution.Appointment(
                    ident,
                    base + dt.timedelta(minutes=begin),
                    base + dt.timedelta(minutes=begin + rng.choice((0, 5, 30, 90, 300))),
                )
            )
        start, end = base, base + dt.timedelta(minutes=480)
        segments = attribution.attribution_segments(start, end, items)
        for minute in range(480):
            t = base + dt.timedelta(minutes=minute)
            covering = [a for a in items if a.start <= t < a.end]
            started = [a for a in items if start <= a.start <= t]
            pool = covering or started
            expected = max(pool, key=lambda a: (a.start, a.ident)).ident if pool else None
            found = [ident for low, high, ident in segments if low <= t < high]
            assert found == ([] if expected is None else [expected]), (items, t)


# Machine T1 (porto/usinagem/linha3), H1_MAOOBRA 2, running the whole shift 06:00-14:00:
# running = planned = 28800 s. One order per G2_TPOPER case, each appointed on T1 for one
# slot, its counter without `order` inside that slot (PROTHEUS_TIME_FORMAT=C):
#   O1 TPOPER 1, 0.1 h per 10, crew 2   -> 360/10/2 = 18 s/unit; 06:00-08:00, 100 units = 1800
#   O2 TPOPER 4, 0.02 h, LOTEPAD 0 (= 1), crew 2 -> 72/2 = 36 s; 08:00-09:00, 50 units = 1800
#   O3 TPOPER 2, 1 h for the run; two appointments 09:00-10:00 (partial) and 10:00-11:00
#      (total), 10 + 20 units: once per run = 3600 (not 7200, not per unit, no crew)
#   O4 TPOPER 3, 0.5 h for the run; 11:00-12:00, 1000 units: 1800, whatever the count
#   O5 TPOPER blank, 0.05 h per 1, crew 2 -> 180/2 = 90 s; 12:00-13:00, 10 units = 900
# ideal = 1800 + 1800 + 3600 + 1800 + 900 = 9900 s; performance = 9900 / 28800 = 0.34375
# good = 95 + 50 + 10 + 20 + 1000 + 10 = 1185, scrap 5: quality = 1185 / 1190
# oee = 1 x 0.34375 x 1185/1190 = 0.3423057

TPOPER_CASES = (
    # order, product, TPOPER, TEMPAD, LOTEPAD, slots (start, end), counters (time, good, scrap)
    ("000011", "P1", "1", 0.1, 10.0, [("06:00", "08:00")], [("07:00", 95, 5)]),
    ("000012", "P2", "4", 0.02, 0.0, [("08:00", "09:00")], [("08:30", 50, 0)]),
    (
        "000013",
        "P3",
        "2",
        1.0,
        1.0,
        [("09:00", "10:00"), ("10:00", "11:00")],
        [("09:30", 10, 0), ("10:30", 20, 0)],
    ),
    ("000014", "P4", "3", 0.5, 1.0, [("11:00", "12:00")], [("11:30", 1000, 0)]),
    ("000015", "P5", "", 0.05, 1.0, [("12:00", "13:00")], [("12:30", 10, 0)]),
)


async def _running_machine(
    mes_rows: TelemetryRows, erp: ProtheusRows, machine: str, crew: float
) -> None:
    await mes_rows.machine(machine, line="linha3")
    await mes_rows.states(machine, (local("2026-03-01T23:00"), "running", None))
    await erp.resource(machine, f"MAQUINA {machine}", H1_MAOOBRA=crew)


async def test_ideal_time_follows_g2_tpoper_crew_and_lot(mes_rows, erp, client_for):
    await _running_machine(mes_rows, erp, "T1", 2.0)
    for num, product, tpoper, tempad, lotepad, slots, counts in TPOPER_CASES:
        await erp.product(product)
        await erp.operation(
            product, "01", "10", "T1", tempad=tempad, lotepad=lotepad, G2_TPOPER=tpoper
        )
        key = await erp.order(num, product)
        for begin, finish in slots:
            await erp.appointment(key, "10", "T1", day="20260302", hour=finish, start_hour=begin)
        await mes_rows.counters("T1", *((_at(t), good, scrap, None) for t, good, scrap in counts))
    client = await client_for(erp.dsn, shift_calendar=SHIFTS)
    data = await get_oee(client, machine="T1")
    assert (data["plannedTime"], data["runningTime"]) == (28800.0, 28800.0)
    assert data["idealTime"] == 9900.0
    assert data["performance"] == approx(9900 / 28800)
    assert (data["goodCount"], data["scrapCount"]) == (1185, 5)
    assert data["oee"] == approx(0.34375 * 1185 / 1190)
    orders = {o["order"]: o for o in data["orders"]}
    assert {
        key: (o["operationType"], o["idealCycleTime"], o["idealTime"]) for key, o in orders.items()
    } == {
        "00001101001": ("1", 18.0, 1800.0),
        "00001201001": ("4", 36.0, 1800.0),
        "00001301001": ("2", None, 3600.0),
        "00001401001": ("3", None, 1800.0),
        "00001501001": ("", 90.0, 900.0),
    }
    assert {o["crew"] for o in data["orders"]} == {2.0}
    assert {o["source"] for o in data["orders"]} == {"appointment"}
    assert orders["00001301001"]["goodCount"] == 30  # both appointments: one run
    assert data["notes"] == []


async def test_tempad_zero_means_unknown_performance_never_zero(mes_rows, erp, client_for):
    await _running_machine(mes_rows, erp, "T2", 0.0)
    await erp.product("P6")
    await erp.operation("P6", "01", "10", "T2", tempad=0.0, lotepad=1.0, G2_TPOPER="1")
    key = await erp.order("000016", "P6")
    await erp.appointment(key, "10", "T2", day="20260302", hour="14:00", start_hour="06:00")
    await mes_rows.counters("T2", (_at("08:00"), 40, 0, None))
    client = await client_for(erp.dsn, shift_calendar=SHIFTS)
    body = await oee_body(client, machine="T2")
    data = body["data"]
    assert (data["performance"], data["oee"], data["idealTime"]) == (None, None, None)
    assert (data["availability"], data["quality"]) == (1.0, 1.0)
    (order,) = data["orders"]
    assert (order["order"], order["operation"], order["idealTime"]) == ("00001601001", "10", None)
    assert "G2_TEMPAD" in order["issue"]
    assert len(data["notes"]) == 1
    assert "G2_TEMPAD" in data["notes"][0]
    assert data["notes"][0] in body["message"]


# Machine T3, no crew (H1_MAOOBRA 0). Product PX's routing 01 uses T3 twice: op 10 (0.01 h =
# 36 s/unit) and op 30 (0.02 h = 72 s/unit); op 20 is on another machine. Order X was closed
# since (C2_DATRF), Y is open. SH6 on T3 (plant time):
#   X op 10  Sun 22:00 - Mon 07:00   (started before the window, covers its start)
#   Y op 30  Mon 07:00 - 07:30       (back-to-back: 07:00 is Y's)
#   X op 30  Mon 08:00 - 09:00
# Counters:
#   06:30 10 units, no order -> X op 10 (covered)                           10 x 36 =  360
#   07:00 20 units, no order -> Y op 30 (X's end is exclusive)
#   07:45 30 units, no order -> none covers: Y, the last started before it  50 x 72 = 3600
#   08:30 40 units, no order -> X op 30
#   09:30 50 units, order X  -> X's own appointment started last: op 30     90 x 72 = 6480
#   11:00  5 units, order Y  -> the time is X's, not Y's: Y's operation on T3 in its
#                               routing, the first one, op 10              5 x 36 =  180
# ideal = 360 + 3600 + 6480 + 180 = 10620 s; performance = 10620 / 28800


async def _two_operations_plant(mes_rows: TelemetryRows, erp: ProtheusRows) -> None:
    await _running_machine(mes_rows, erp, "T3", 0.0)
    await erp.product("PX")
    await erp.operation("PX", "01", "10", "T3", tempad=0.01, lotepad=1.0)
    await erp.operation("PX", "01", "20", "T9", tempad=5.0, lotepad=1.0)
    await erp.operation("PX", "01", "30", "T3", tempad=0.02, lotepad=1.0)
    x = await erp.order("000021", "PX", C2_DATRF="20260302", C2_QUJE=1000.0)
    y = await erp.order("000022", "PX")
    await erp.appointment(
        x, "10", "T3", start_day="20260301", start_hour="22:00", day="20260302", hour="07:00"
    )
    await erp.appointment(y, "30", "T3", day="20260302", hour="07:30", start_hour="07:00")
    await erp.appointment(x, "30", "T3", day="20260302", hour="09:00", start_hour="08:00")
    await mes_rows.counters(
        "T3",
        (_at("06:30"), 10, 0, None),
        (_at("07:00"), 20, 0, None),
        (_at("07:45"), 28, 2, None),
        (_at("08:30"), 40, 0, None),
        (_at("09:30"), 50, 0, "00002101001"),
        (_at("11:00"), 5, 0, "00002201001"),
    )


async def test_counts_belong_to_the_appointment_covering_their_time(mes_rows, erp, client_for):
    await _two_operations_plant(mes_rows, erp)
    client = await client_for(erp.dsn, shift_calendar=SHIFTS)
    data = await get_oee(client, machine="T3")
    runs = [
        (o["order"], o["operation"], o["source"], o["goodCount"] + o["scrapCount"], o["idealTime"])
        for o in data["orders"]
    ]
    assert runs == [
        ("00002101001", "10", "appointment", 10, 360.0),
        ("00002101001", "30", "counter", 90, 6480.0),
        ("00002201001", "10", "counter", 5, 180.0),
        ("00002201001", "30", "appointment", 50, 3600.0),
    ]
    assert data["idealTime"] == 10620.0
    assert data["performance"] == approx(10620 / 28800)
    assert (data["goodCount"], data["scrapCount"]) == (153, 2)


async def test_a_line_attributes_each_machine_by_its_own_appointments(mes_rows, erp, client_for):
    # T4 and T5 on one line, one order appointed on both at the same time with different
    # operations: each machine's counts take its own appointment's operation.
    for machine in ("T4", "T5"):
        await _running_machine(mes_rows, erp, machine, 0.0)
    await erp.product("PZ")
    await erp.operation("PZ", "01", "10", "T4", tempad=0.01, lotepad=1.0)  # 36 s
    await erp.operation("PZ", "01", "20", "T5", tempad=0.02, lotepad=1.0)  # 72 s
    z = await erp.order("000031", "PZ")
    await erp.appointment(z, "10", "T4", day="20260302", hour="14:00", start_hour="06:00")
    await erp.appointment(z, "20", "T5", day="20260302", hour="14:00", start_hour="06:00")
    await mes_rows.counters("T4", (_at("09:00"), 100, 0, None))
    await mes_rows.counters("T5", (_at("09:00"), 100, 0, None))
    client = await client_for(erp.dsn, shift_calendar=SHIFTS)
    data = await get_oee(client, line="porto/usinagem/linha3")
    assert [(o["machine"], o["operation"], o["idealTime"]) for o in data["orders"]] == [
        ("T4", "10", 3600.0),
        ("T5", "20", 7200.0),
    ]
    assert data["idealTime"] == 10800.0
    assert data["performance"] == approx(10800 / 57600)


async def test_counts_before_any_appointment_have_no_order_and_say_so(mes_rows, erp, client_for):
    await _running_machine(mes_rows, erp, "T6", 0.0)
    await erp.product("PW")
    await erp.operation("PW", "01", "10", "T6", tempad=0.01, lotepad=1.0)
    w = await erp.order("000041", "PW")
    # Started before the window and ended at 06:30: it owns 06:00-06:30 only, and is no
    # fallback for 07:00 (it did not start inside the window); 10:00-12:00 starts too late.
    await erp.appointment(
        w, "10", "T6", start_day="20260301", start_hour="22:00", day="20260302", hour="06:30"
    )
    await erp.appointment(w, "10", "T6", day="20260302", hour="12:00", start_hour="10:00")
    await mes_rows.counters(
        "T6",
        (_at("06:15"), 10, 0, None),
        (_at("07:00"), 10, 0, None),
        (_at("11:00"), 10, 0, None),
    )
    client = await client_for(erp.dsn, shift_calendar=SHIFTS)
    body = await oee_body(client, machine="T6")
    data = body["data"]
    assert [(o["order"], o["goodCount"], o["idealTime"]) for o in data["orders"]] == [
        (None, 10, None),
        ("00004101001", 20, 720.0),
    ]
    assert data["performance"] is None
    assert "SH6" in data["orders"][0]["issue"]
    assert "SH6" in body["message"]


async def test_odbc_path_gives_the_same_oee(mes_rows, erp, client_for):
    await _two_operations_plant(mes_rows, erp)
    odbc = odbc_url(erp.dsn)
    native = await oee_body(await client_for(erp.dsn, shift_calendar=SHIFTS), machine="T3")
    other = await oee_body(await client_for(odbc, shift_calendar=SHIFTS), machine="T3")
    for body in (native, other):
        body.pop("requestId", None)
    assert other["data"] == native["data"]
    assert native["data"]["idealTime"] == 10620.0


async def test_oee_answers_are_what_their_response_schema_dumps(plant, client_for):
    _, erp = plant
    client = await client_for(erp.dsn, shift_calendar=SHIFTS)
    for query in ({"machine": "M1"}, {"line": "porto/usinagem/linha1"}, {"machine": "M3"}):
        data = await documented_answer(
            client, url(client, "oee"), schemas.OeeResponse, **WINDOW, **query
        )
        assert data["machines"]
    down = await client_for(PROTHEUS_DOWN, shift_calendar="sat 06:00-07:00")
    data = await documented_answer(
        client=down,
        path=url(down, "oee"),
        schema=schemas.OeeResponse,
        **WINDOW,
        line="porto/usinagem/linha1",
    )
    assert data["plannedTime"] == 0


# M1's loss time inside classified MES stops names their Protheus reason:
#   stop 01 "falta de material" Sun 20:00-06:30 covers stopped/fim 06:00-06:30   1800 s -> 01
#   stop 02 09:00-09:30 covers fault/E42                                          1800 s -> 02
#   setup 12:00-12:20 is a stop without reason (unclassified)                     1200 s -> null
#   stop 04 13:30-13:45 (split by a person) covers half of idle 13:30-14:00;
#     the other half (13:45-14:00, an open stop without reason) stays null        900 + 900 s
#   a stop of M2 (12:00-12:30, reason 99) is no loss of M1's.
async def test_losses_name_the_protheus_reason_of_the_stop_covering_them(plant, client_for):
    mes_rows, erp = plant
    conn = mes_rows.conn
    await insert_stop(conn, start_at=local("2026-03-01T20:00"), end_at=local("2026-03-02T06:30"),
                      plc_reason="fim", reason_code="01", classified_by="mapping")  # fmt: skip
    await insert_stop(conn, start_at=local("2026-03-02T09:00"), end_at=local("2026-03-02T09:30"),
                      state="fault", plc_reason="E42", reason_code="02", classified_by="mapping")  # fmt: skip
    await insert_stop(conn, start_at=local("2026-03-02T12:00"), end_at=local("2026-03-02T12:20"),
                      state="setup", plc_reason="troca")  # fmt: skip
    await insert_stop(conn, start_at=local("2026-03-02T13:30"), end_at=local("2026-03-02T13:45"),
                      state="idle", reason_code="04", classified_by="person", manual=True)  # fmt: skip
    await insert_stop(conn, start_at=local("2026-03-02T13:45"), state="idle", manual=True)
    await insert_stop(conn, machine="M2", start_at=local("2026-03-02T12:00"),
                      end_at=local("2026-03-02T12:30"), reason_code="99")  # fmt: skip
    client = await client_for(erp.dsn, shift_calendar=SHIFTS)
    body = await oee_body(client, machine="M1")
    data = body["data"]
    assert data["losses"] == [
        {"state": "fault", "reason": "E42", "seconds": 1800.0, "protheusReason": "02"},
        {"state": "stopped", "reason": "fim", "seconds": 1800.0, "protheusReason": "01"},
        {"state": "setup", "reason": "troca", "seconds": 1200.0, "protheusReason": None},
        {"state": "idle", "reason": None, "seconds": 900.0, "protheusReason": None},
        {"state": "idle", "reason": None, "seconds": 900.0, "protheusReason": "04"},
    ]
    # The figures do not change: the reasons only split the losses.
    assert (data["plannedTime"], data["runningTime"]) == (28800.0, 22200.0)
    assert data["availability"] == approx(22200 / 28800)
    # The line sums M1's losses (M2 ran the whole shift: its stop row covers no state of its).
    line = (await oee_body(client, line="porto/usinagem/linha1"))["data"]
    assert line["losses"] == data["losses"]

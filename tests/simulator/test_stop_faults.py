"""The fault switch on stop reports (MATA682), the same as MATA681's: latency, 500/503,
dropped connections before processing and lost answers after the commit."""

from __future__ import annotations

import time

import aiohttp
import pytest

from tests.support.simulator import (
    BASIC,
    STOP_REPORTS,
    assert_fault,
    at,
    demo_machine,
    fetch,
    plant_today,
    sh6_count,
    stop_body,
)

STOP_ROW_SQL = "SELECT * FROM sh6010 WHERE h6_observa = $1"


async def set_faults(client, **settings) -> dict:
    resp = await client.put("/_sim/faults", json=settings, headers=BASIC)
    body = await resp.json()
    assert resp.status == 200, body
    return body


async def counters(client) -> dict:
    resp = await client.get("/_sim/faults", headers=BASIC)
    return (await resp.json())["counters"]


def today_at(hour_minute: str) -> str:
    return at(plant_today(), hour_minute)


async def test_counters_start_at_zero_and_count_reports_and_reversals(demo_dsn, start_simulator):
    machine = await demo_machine(demo_dsn)
    client = await start_simulator(demo_dsn)
    seen = await counters(client)
    assert (seen["stop_reports"], seen["stop_reversals"]) == (0, 0)
    resp = await client.post(
        STOP_REPORTS, json=stop_body(machine, today_at("08:00"), today_at("08:05")), headers=BASIC
    )
    ident = (await resp.json())["IntegrationReport"]
    resp = await client.delete(f"{STOP_REPORTS}/{ident}/reversal", headers=BASIC)
    assert resp.status == 200
    seen = await counters(client)
    assert (seen["stop_reports"], seen["stop_reversals"]) == (1, 1)


async def test_latency_delays_stop_reports(module_demo_dsn, start_simulator):
    client = await start_simulator(module_demo_dsn)
    await set_faults(client, latency_ms=150)
    started = time.perf_counter()
    resp = await client.get(STOP_REPORTS, headers=BASIC)
    assert resp.status == 200
    assert time.perf_counter() - started >= 0.15
    assert (await counters(client))["latency"] == 1


async def test_error_rate_one_answers_500_then_503_and_writes_nothing(demo_dsn, start_simulator):
    machine = await demo_machine(demo_dsn)
    client = await start_simulator(demo_dsn)
    await set_faults(client, error_rate=1.0)
    before = await sh6_count(demo_dsn)
    statuses = []
    for minute in range(4):
        body = stop_body(machine, today_at(f"08:0{minute}"), today_at(f"08:0{minute + 1}"))
        resp = await client.post(STOP_REPORTS, json=body, headers=BASIC)
        statuses.append((await assert_fault(resp, resp.status))["code"])
    assert statuses == [500, 503, 500, 503]
    assert await sh6_count(demo_dsn) == before
    assert (await counters(client))["stop_reports"] == 0


async def test_drop_before_closes_the_connection_and_writes_nothing(demo_dsn, start_simulator):
    machine = await demo_machine(demo_dsn)
    client = await start_simulator(demo_dsn)
    await set_faults(client, drop_before_rate=1.0)
    body = stop_body(machine, today_at("08:00"), today_at("08:05"))
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await client.post(STOP_REPORTS, json=body, headers=BASIC)
    assert await fetch(demo_dsn, STOP_ROW_SQL, body["Observation"]) == []
    seen = await counters(client)
    assert (seen["drop_before"], seen["stop_reports"]) == (1, 0)


async def test_drop_after_commits_the_stop_then_loses_the_answer(demo_dsn, start_simulator):
    machine = await demo_machine(demo_dsn)
    client = await start_simulator(demo_dsn)
    await set_faults(client, drop_after_rate=1.0)
    body = stop_body(machine, today_at("08:00"), today_at("08:05"))
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await client.post(STOP_REPORTS, json=body, headers=BASIC)
    [row] = await fetch(demo_dsn, STOP_ROW_SQL, body["Observation"])
    assert (row["d_e_l_e_t_"], row["h6_tipo"]) == (" ", "I")
    seen = await counters(client)
    assert (seen["drop_after"], seen["stop_reports"]) == (1, 1)
    # Sent again blindly, the same stop now overlaps itself: the marker must be looked for
    # before a resend, as PROTHEUS.md says.
    await set_faults(client)
    resp = await client.post(STOP_REPORTS, json=body, headers=BASIC)
    assert (await assert_fault(resp, 400))["detailedMessage"].startswith("A682JAEXIST: ")
    # A rejected report wrote nothing, so there is no answer to lose.
    await set_faults(client, drop_after_rate=1.0)
    resp = await client.post(STOP_REPORTS, json=body, headers=BASIC)
    await assert_fault(resp, 400)
    assert (await counters(client))["drop_after"] == 1


async def test_a_lost_reversal_answer_still_deleted_the_row(demo_dsn, start_simulator):
    machine = await demo_machine(demo_dsn)
    client = await start_simulator(demo_dsn)
    body = stop_body(machine, today_at("08:00"), today_at("08:05"))
    ident = (await (await client.post(STOP_REPORTS, json=body, headers=BASIC)).json())[
        "IntegrationReport"
    ]
    await set_faults(client, drop_after_rate=1.0)
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await client.delete(f"{STOP_REPORTS}/{ident}/reversal", headers=BASIC)
    [row] = await fetch(demo_dsn, STOP_ROW_SQL, body["Observation"])
    assert row["d_e_l_e_t_"] == "*"
    await set_faults(client, drop_before_rate=1.0)
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await client.delete(f"{STOP_REPORTS}/{ident}/reversal", headers=BASIC)
    seen = await counters(client)
    assert (seen["stop_reversals"], seen["drop_after"], seen["drop_before"]) == (1, 1, 1)

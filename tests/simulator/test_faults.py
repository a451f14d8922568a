"""Fault injection: the /_sim switch, latency, 500/503, dropped connections, early token expiry."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from protheus_demo.simulator import FaultSettings
from tests.support.simulator import (
    BASIC,
    PASSWORD,
    USER,
    appointment_body,
    assert_fault,
    find_order,
    sh6_count,
    sh6_with_comments,
)

MATA681 = "/rest/ProductionAppointment/v1/mata681"
ORDERS = "/rest/api/pcp/v1/productionorders"
TOKEN = "/rest/api/oauth2/v1/token"
OFF = {
    "latency_ms": 0.0,
    "error_rate": 0.0,
    "drop_before_rate": 0.0,
    "drop_after_rate": 0.0,
    "token_ttl_s": None,
    "seed": None,
}


async def set_faults(client, **settings) -> dict:
    resp = await client.put("/_sim/faults", json=settings, headers=BASIC)
    body = await resp.json()
    assert resp.status == 200, body
    return body


async def counters(client) -> dict:
    resp = await client.get("/_sim/faults", headers=BASIC)
    return (await resp.json())["counters"]


async def test_switch_starts_off_replaces_settings_and_resets(module_demo_dsn, start_simulator):
    client = await start_simulator(module_demo_dsn)
    body = await (await client.get("/_sim/faults", headers=BASIC)).json()
    assert {name: body[name] for name in OFF} == OFF
    assert set(body["counters"].values()) == {0}

    body = await set_faults(client, error_rate=0.25, seed=3)
    assert body["error_rate"] == 0.25
    assert body["seed"] == 3
    # PUT replaces everything: what is absent goes back to off.
    body = await set_faults(client, latency_ms=5)
    assert body["error_rate"] == 0.0
    assert body["latency_ms"] == 5.0

    await client.get(ORDERS, headers=BASIC)
    assert (await counters(client))["latency"] == 1
    resp = await client.post("/_sim/reset", headers=BASIC)
    body = await resp.json()
    assert {name: body[name] for name in OFF} == OFF
    assert set(body["counters"].values()) == {0}


@pytest.mark.parametrize(
    "settings",
    [{"error_rate": 1.5}, {"latency_ms": -1}, {"token_ttl_s": 0}, {"seed": "x"}, {"bogus": 1}],
)
async def test_invalid_settings_are_400(module_demo_dsn, start_simulator, settings):
    client = await start_simulator(module_demo_dsn)
    resp = await client.put("/_sim/faults", json=settings, headers=BASIC)
    await assert_fault(resp, 400)
    await assert_fault(await client.put("/_sim/faults", data="{", headers=BASIC), 400)


async def test_start_up_settings_come_from_the_config(module_demo_dsn, start_simulator):
    faults = FaultSettings(error_rate=1.0, seed=1)
    client = await start_simulator(module_demo_dsn, faults=faults)
    body = await (await client.get("/_sim/faults", headers=BASIC)).json()
    assert body["error_rate"] == 1.0
    await assert_fault(await client.get(ORDERS, headers=BASIC), 500)


async def test_latency_is_added_to_every_rest_request(module_demo_dsn, start_simulator):
    client = await start_simulator(module_demo_dsn)
    await set_faults(client, latency_ms=150)
    started = time.perf_counter()
    assert (await client.get(ORDERS, headers=BASIC)).status == 200
    assert time.perf_counter() - started >= 0.15
    started = time.perf_counter()
    assert (await client.get("/healthz")).status == 200
    assert time.perf_counter() - started < 0.15
    assert (await counters(client))["latency"] == 1


async def test_error_rate_one_answers_500_then_503_and_writes_nothing(demo_dsn, start_simulator):
    order = await find_order(demo_dsn, "accepting")
    client = await start_simulator(demo_dsn)
    await set_faults(client, error_rate=1.0)
    before = await sh6_count(demo_dsn)
    statuses = []
    for _ in range(4):
        resp = await client.post(MATA681, json=appointment_body(order), headers=BASIC)
        statuses.append((await assert_fault(resp, resp.status))["code"])
    assert statuses == [500, 503, 500, 503]
    assert await sh6_count(demo_dsn) == before
    # The token endpoint is a /rest route too.
    resp = await client.post(
        TOKEN, params={"grant_type": "password", "username": USER, "password": PASSWORD}
    )
    assert resp.status == 500
    seen = await counters(client)
    assert seen["error_500"] == 3
    assert seen["error_503"] == 2
    assert seen["appointments"] == 0


async def test_seeded_draws_repeat(module_demo_dsn, start_simulator):
    client = await start_simulator(module_demo_dsn)
    runs = []
    for _ in range(2):
        await set_faults(client, error_rate=0.5, seed=42)
        runs.append([(await client.get(ORDERS, headers=BASIC)).status for _ in range(12)])
    assert runs[0] == runs[1]
    assert {200, 500} <= set(runs[0])


async def test_drop_before_closes_the_connection_and_writes_nothing(demo_dsn, start_simulator):
    order = await find_order(demo_dsn, "accepting")
    client = await start_simulator(demo_dsn)
    await set_faults(client, drop_before_rate=1.0)
    body = appointment_body(order)
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await client.post(MATA681, json=body, headers=BASIC)
    assert await sh6_with_comments(demo_dsn, body["Comments"]) == []
    seen = await counters(client)
    assert seen["drop_before"] == 1
    assert seen["appointments"] == 0


async def test_drop_after_commits_then_loses_the_answer(demo_dsn, start_simulator):
    order = await find_order(demo_dsn, "accepting")
    client = await start_simulator(demo_dsn)
    await set_faults(client, drop_after_rate=1.0)
    body = appointment_body(order)
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await client.post(MATA681, json=body, headers=BASIC)
    [row] = await sh6_with_comments(demo_dsn, body["Comments"])
    assert row["d_e_l_e_t_"] == " "
    seen = await counters(client)
    assert seen["drop_after"] == 1
    assert seen["appointments"] == 1
    # A rejected appointment wrote nothing, so there is no answer to lose.
    rejected = appointment_body(order, ActivityCode="99")
    await assert_fault(await client.post(MATA681, json=rejected, headers=BASIC), 400)


async def test_short_token_life_gives_401_on_a_token_announced_for_an_hour(
    module_demo_dsn, start_simulator
):
    client = await start_simulator(module_demo_dsn)
    await set_faults(client, token_ttl_s=0.2)
    resp = await client.post(
        TOKEN, params={"grant_type": "password", "username": USER, "password": PASSWORD}
    )
    pair = await resp.json()
    assert pair["expires_in"] == 3600
    headers = {"Authorization": f"Bearer {pair['access_token']}"}
    assert (await client.get(ORDERS, headers=headers)).status == 200
    await asyncio.sleep(0.3)
    await assert_fault(await client.get(ORDERS, headers=headers), 401)
    # The refresh token keeps its normal life: the client can recover.
    resp = await client.post(
        TOKEN, params={"grant_type": "refresh_token", "refresh_token": pair["refresh_token"]}
    )
    assert resp.status == 201
    seen = await counters(client)
    assert seen["short_lived_tokens"] == 2
    assert seen["expired_token_rejections"] == 1

"""The pusher against the Protheus simulator: exactly once, through faults, rejections and order."""

from __future__ import annotations

import asyncio
import dataclasses
import time

import asyncpg
import pytest

from services.production.keys import PUSHER
from shared.db.sources import open_protheus_source
from shared.keys import PROTHEUS_CONTEXT
from tests.support.production import (
    FAST,
    drain,
    final,
    markers,
    point_at_unknown_machine,
    post,
    report,
    report_body,
    statuses,
)


async def test_a_report_reaches_protheus_once_with_its_marker(
    setup_line, orders, protheus_dsn, mes_dsn
):
    client, pusher = await setup_line()
    report_id = await post(client, report_body(orders, scrapReason="REBARBA"))
    await drain([pusher()], final(mes_dsn, 1))
    got = await report(client, report_id)
    assert got["status"] == "delivered"
    assert got["attempts"] == 1
    assert [h["outcome"] for h in got["history"]] == ["delivered"]
    assert (await markers(protheus_dsn)).get(report_id) == [(got["idAppointment"], " ")]
    conn = await asyncpg.connect(protheus_dsn)
    try:
        observa = await conn.fetchval(
            # H6_IDENT is unique per branch, not across branches.
            "SELECT rtrim(h6_observa) FROM sh6010 WHERE h6_filial = '01' AND h6_ident = $1",
            got["idAppointment"],
        )
    finally:
        await conn.close()
    assert observa == f"MES:{report_id.upper()} REBARBA"


async def test_a_routine_rejection_is_final_and_holds_nothing_back(
    setup_line, orders, protheus_dsn, mes_dsn
):
    client, pusher = await setup_line()
    bad = await post(client, report_body(orders))
    await point_at_unknown_machine(mes_dsn, bad)  # the routine refuses it
    good = await post(client, report_body(orders))
    await drain([pusher()], final(mes_dsn, 2))
    rejected = await report(client, bad)
    assert rejected["status"] == "rejected"
    assert rejected["error"]  # Protheus's own message
    assert "NOPE99" in rejected["error"] or "recurso" in rejected["error"].lower()
    assert (await report(client, good))["status"] == "delivered"
    assert set(await markers(protheus_dsn)) == {good}


async def test_a_retrying_report_holds_back_later_ones_of_the_same_operation(
    setup_line, orders, mes_dsn, protheus_dsn
):
    client, pusher = await setup_line(error_rate=1.0)
    first = await post(client, report_body(orders, goodQuantity=1))
    second = await post(client, report_body(orders, goodQuantity=2))
    p = pusher()
    for _ in range(3):
        await p.run_once()
        await asyncio.sleep(0.25)
    assert (await report(client, first))["status"] == "retrying"
    assert (await report(client, first))["nextAttemptAt"]
    later = await report(client, second)
    assert (later["status"], later["attempts"]) == ("pending", 0)
    assert await markers(protheus_dsn) == {}


async def test_a_lost_answer_is_found_by_its_marker_not_sent_again(
    setup_line, orders, protheus_dsn, mes_dsn
):
    client, pusher = await setup_line(drop_after_rate=1.0)
    report_id = await post(client, report_body(orders))
    await drain([pusher()], final(mes_dsn, 1))
    got = await report(client, report_id)
    assert got["status"] == "delivered"
    assert [h["outcome"] for h in got["history"]] == ["found"]
    assert (await markers(protheus_dsn))[report_id] == [(got["idAppointment"], " ")]


async def test_a_reversed_appointment_is_reported_not_resent(
    setup_line, orders, protheus_dsn, mes_dsn
):
    client, pusher = await setup_line(drop_after_rate=1.0)
    report_id = await post(client, report_body(orders))
    p = pusher(settle_s=1.0)
    await p.run_once()  # the answer is lost; the row is written
    conn = await asyncpg.connect(protheus_dsn)
    try:  # a planner reverses the appointment in Protheus meanwhile
        await conn.execute(
            "UPDATE sh6010 SET d_e_l_e_t_ = '*' WHERE upper(h6_observa) LIKE upper($1)",
            f"MES:{report_id}%",
        )
    finally:
        await conn.close()
    await drain([p], final(mes_dsn, 1))
    assert (await report(client, report_id))["status"] == "reversed"
    assert (await markers(protheus_dsn))[report_id][0][1] == "*"


async def test_thirty_percent_mixed_faults_deliver_each_report_exactly_once(
    setup_line, orders, protheus_dsn, mes_dsn
):
    client, pusher = await setup_line(
        error_rate=0.1,
        drop_before_rate=0.1,
        drop_after_rate=0.1,
        token_ttl_s=0.3,
        latency_ms=5,
        seed=7,
    )
    bodies = [report_body(orders, goodQuantity=n + 1) for n in range(24)]
    bodies += [report_body(orders, goodQuantity=1)]
    ids = [await post(client, body) for body in bodies]
    # Accepted, then pointed at a machine the routine refuses: its rejection is the answer.
    await point_at_unknown_machine(mes_dsn, ids[-1])
    pushers = [pusher(), pusher(), pusher()]  # several pushers share the outbox
    await drain(pushers, final(mes_dsn, len(ids)), seconds=60)
    found = await markers(protheus_dsn)
    states = await statuses(mes_dsn)
    for report_id in ids[:-1]:
        assert states[report_id] == "delivered", report_id
        assert len(found[report_id]) == 1, (report_id, found[report_id])
    assert states[ids[-1]] == "rejected"
    assert ids[-1] not in found
    outcomes = {h["outcome"] for rid in ids for h in (await report(client, rid))["history"]}
    assert {"unknown", "found"} <= outcomes  # the faults really happened and were resolved


async def test_with_the_erp_database_down_the_marker_is_awaited_not_resent(
    setup_line, orders, protheus_dsn, mes_dsn
):
    client, pusher = await setup_line(drop_after_rate=1.0)
    report_id = await post(client, report_body(orders))
    await pusher().run_once()  # the answer is lost: outcome unknown, row written
    blind = pusher()
    down = await open_protheus_source(  # the ERP database is unreachable now
        "postgresql://postgres@127.0.0.1:1/none", company="01", pool_max=1, statement_timeout_ms=500
    )
    blind.protheus = dataclasses.replace(blind.protheus, source=down)
    try:
        await asyncio.sleep(FAST.settle_s + 0.1)
        await blind.run_once()
    finally:
        await down.close()
    assert (await report(client, report_id))["status"] == "retrying"
    assert len((await markers(protheus_dsn))[report_id]) == 1  # not sent a second time


async def test_basic_auth_delivers_too(setup_line, orders, protheus_dsn, mes_dsn):
    client, pusher = await setup_line(settings={"protheus_auth": "basic"})
    report_id = await post(client, report_body(orders))
    await drain([pusher()], final(mes_dsn, 1))
    assert (await report(client, report_id))["status"] == "delivered"
    assert len((await markers(protheus_dsn))[report_id]) == 1


async def test_the_circuit_opens_on_a_failing_protheus_and_stops_calling_it(
    setup_line, orders, mes_dsn
):
    client, pusher = await setup_line(error_rate=1.0)
    for n in range(3):
        await post(client, report_body(orders, goodQuantity=n + 1))
    p = pusher(breaker_threshold=2, breaker_cooldown_s=30)
    simulator_root = p.client.base.removesuffix("/rest")

    async def calls() -> int:
        async with p.client.session.get(
            f"{simulator_root}/_sim/faults",
            headers={"Authorization": "Basic bWVzaW50ZWc6bWVzaW50ZWc="},
        ) as resp:
            return (await resp.json())["counters"]["requests"]

    for _ in range(3):
        await p.run_once()
        await asyncio.sleep(0.25)
    assert p.breaker.is_open
    before = await calls()
    for _ in range(3):
        await p.run_once()
        await asyncio.sleep(0.25)
    assert await calls() == before  # while open, Protheus is left alone
    # Accepting reports goes on while the circuit is open.
    await post(client, report_body(orders))


async def test_nothing_is_sent_into_an_h6_observa_too_narrow_for_the_marker(
    setup_line, orders, protheus_dsn, mes_dsn
):
    client, pusher = await setup_line()
    report_id = await post(client, report_body(orders))
    conn = await asyncpg.connect(protheus_dsn)
    try:  # the dictionary changed after start-up (the start-up check had passed)
        await conn.execute(
            "ALTER TABLE sh6010 ALTER COLUMN h6_observa TYPE CHAR(20) USING left(h6_observa, 20)"
        )
    finally:
        await conn.close()
    p = pusher()
    await p.run_once()
    got = await report(client, report_id)
    assert (got["status"], got["attempts"]) == ("retrying", 0)
    assert await markers(protheus_dsn) == {}


@pytest.mark.parametrize("case", ["lower", "upper"])
async def test_the_marker_is_found_whatever_its_case(
    setup_line, orders, protheus_dsn, mes_dsn, case
):
    """Written in upper case; found in either case (an older version wrote lower case, a
    Protheus screen may upper-case the field): a lost answer is never sent twice."""
    client, pusher = await setup_line(drop_after_rate=1.0)
    report_id = await post(client, report_body(orders))
    p = pusher(settle_s=0.5)
    await p.run_once()  # written in SH6; the answer is lost
    conn = await asyncpg.connect(protheus_dsn)
    try:
        written = await conn.fetchval(
            "SELECT rtrim(h6_observa) FROM sh6010 WHERE lower(h6_observa) LIKE $1",
            f"mes:{report_id}%",
        )
        assert written == f"MES:{report_id.upper()} REBARBA"
        await conn.execute(
            f"UPDATE sh6010 SET h6_observa = {case}(h6_observa) WHERE lower(h6_observa) LIKE $1",
            f"mes:{report_id}%",
        )
    finally:
        await conn.close()
    await drain([p], final(mes_dsn, 1))
    got = await report(client, report_id)
    assert got["status"] == "delivered"
    assert [h["outcome"] for h in got["history"]] == ["found"]
    assert len((await markers(protheus_dsn))[report_id]) == 1


async def test_the_app_runs_its_own_pusher_on_its_protheus_context(
    aiohttp_client, production_app, protheus_dsn, mes_dsn, simulator, orders
):
    rest = await simulator()
    app = production_app(
        protheus_dsn=protheus_dsn,
        mes_dsn=mes_dsn,
        protheus_rest_url=rest,
        pusher=dataclasses.replace(FAST, enabled=True),
    )
    client = await aiohttp_client(app)
    assert app[PUSHER].protheus is app[PROTHEUS_CONTEXT]
    report_id = await post(client, report_body(orders))
    done, deadline = final(mes_dsn, 1), time.monotonic() + 30
    while not await done():
        assert time.monotonic() < deadline, "the app's pusher did not deliver in time"
        await asyncio.sleep(0.05)
    assert (await report(client, report_id))["status"] == "delivered"
    assert len((await markers(protheus_dsn))[report_id]) == 1

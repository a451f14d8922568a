"""Stops through the pusher against the Protheus simulator (MATA682): exactly once, through
rejections, lost answers, reversals and faults, in minutes that never overlap."""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from zoneinfo import ZoneInfo

import asyncpg

from services.production.pusher.documents import STOPS
from shared.protheus.sql import marker
from tests.helpers import assert_envelope
from tests.support.production import WRITE, drain, final, markers, post, report, report_body
from tests.support.simulator import BASIC
from tests.support.stop_push import (
    consecutive,
    machines,
    queue_stops,
    recent,
    stop_history,
    stop_row,
    stop_rows_in_sh6,
    stop_statuses,
    stops_final,
)
from tests.support.urls import url

PLANT = ZoneInfo("America/Sao_Paulo")


async def queue(mes_dsn: str, rows: list) -> list[uuid.UUID]:
    conn = await asyncpg.connect(mes_dsn)
    try:
        return await queue_stops(conn, rows)
    finally:
        await conn.close()


def sh6_bounds(row: asyncpg.Record) -> tuple[dt.datetime, dt.datetime]:
    """A stop row's start and end as Protheus keeps them (plant date and HH:MM)."""

    def moment(day: str, hhmm: str) -> dt.datetime:
        return dt.datetime.strptime(f"{day.strip()} {hhmm.strip()}", "%Y%m%d %H:%M").replace(
            tzinfo=PLANT
        )

    return moment(row["h6_dataini"], row["h6_horaini"]), moment(
        row["h6_datafin"], row["h6_horafin"]
    )


async def test_queued_stops_reach_protheus_once_as_stop_rows_in_minutes_that_never_overlap(
    setup_line, protheus_dsn, mes_dsn
):
    _, pusher = await setup_line()
    first, second = await machines(protheus_dsn, 2)
    # Ends at 10 s past a minute, the next starts at 25 s past: both round onto that minute.
    rows = consecutive(first, 4, reason="02", start=recent(), note="troca de molde")
    rows += consecutive(second, 2, reason="01", start=recent(), operator=None)
    ids = await queue(mes_dsn, rows)
    p = pusher()
    await drain([p], stops_final(mes_dsn, len(ids)))
    stops = await stop_statuses(mes_dsn)
    found = await stop_rows_in_sh6(protheus_dsn)
    assert set(found) == set(ids)
    for stop_id in ids:
        stop = stops[stop_id]
        assert (stop["status"], stop["attempts"]) == ("delivered", 1), stop
        (row,) = found[stop_id]
        assert (row["h6_tipo"], row["d_e_l_e_t_"]) == ("I", " ")
        assert row["h6_ident"] == stop["id_appointment"]
        assert row["h6_recurso"] == stop["machine"]
        assert row["h6_observa"].startswith(marker(stop_id))
        assert sh6_bounds(row) == (stop["pushed_start"], stop["pushed_end"])
        assert stop["pushed_start"].second == stop["pushed_end"].second == 0
        assert abs(stop["pushed_start"] - stop["start_at"]) <= dt.timedelta(seconds=30)
        assert await stop_history(mes_dsn, stop_id) == ["delivered"]
    assert found[ids[0]][0]["h6_observa"] == f"{marker(ids[0])} troca de molde"
    assert found[ids[0]][0]["h6_motivo"] == "02"
    # Consecutive stops touch in Protheus: one ends on the minute the next starts.
    pushed = sorted((stops[i]["pushed_start"], stops[i]["pushed_end"]) for i in ids[:4])
    assert all(end == start for (_, end), (start, _) in itertools.pairwise(pushed))
    assert p.metrics.of(STOPS).outcomes.labels("delivered")._value.get() == len(ids)
    await p.refresh_gauges()
    assert p.metrics.of(STOPS).depth._value.get() == 0


async def test_rejections_carry_protheus_message_and_hold_back_nothing(
    setup_line, protheus_dsn, mes_dsn
):
    _, pusher = await setup_line()
    (machine,) = await machines(protheus_dsn, 1)
    start = recent()
    delivered = stop_row(machine, start, start + dt.timedelta(minutes=10), reason="02")
    unknown_reason = stop_row(
        machine, start + dt.timedelta(minutes=20), start + dt.timedelta(minutes=30), reason="ZZ"
    )
    later = stop_row(
        machine, start + dt.timedelta(minutes=40), start + dt.timedelta(minutes=50), reason="01"
    )
    ids = await queue(mes_dsn, [delivered, unknown_reason, later])
    await drain([pusher()], stops_final(mes_dsn, 3))
    # A stop Protheus already has in that time (a person entered it, another system):
    # MATA682 refuses the overlap.
    overlapping = stop_row(
        machine, start + dt.timedelta(minutes=5), start + dt.timedelta(minutes=15), reason="01"
    )
    ids += await queue(mes_dsn, [overlapping])
    await drain([pusher()], stops_final(mes_dsn, 4))
    stops = await stop_statuses(mes_dsn)
    assert [stops[i]["status"] for i in ids] == ["delivered", "rejected", "delivered", "rejected"]
    for rejected in (ids[1], ids[3]):
        assert stops[rejected]["error"]  # Protheus's own message
        assert stops[rejected]["id_appointment"] is None
        assert await stop_history(mes_dsn, rejected) == ["rejected"]
    assert "ZZ" in stops[ids[1]]["error"] or "motivo" in stops[ids[1]]["error"].lower()
    assert set(await stop_rows_in_sh6(protheus_dsn)) == {ids[0], ids[2]}


async def test_a_lost_answer_is_found_by_its_marker_not_sent_again(
    setup_line, protheus_dsn, mes_dsn
):
    _, pusher = await setup_line(drop_after_rate=1.0)
    (machine,) = await machines(protheus_dsn, 1)
    (stop_id,) = await queue(mes_dsn, consecutive(machine, 1, reason="02", start=recent()))
    await drain([pusher()], stops_final(mes_dsn, 1))
    stop = (await stop_statuses(mes_dsn))[stop_id]
    assert stop["status"] == "delivered"
    assert await stop_history(mes_dsn, stop_id) == ["found"]
    (row,) = (await stop_rows_in_sh6(protheus_dsn))[stop_id]
    assert row["h6_ident"] == stop["id_appointment"]


async def test_a_reversed_stop_is_reported_not_resent(setup_line, protheus_dsn, mes_dsn):
    _, pusher = await setup_line(drop_after_rate=1.0)
    (machine,) = await machines(protheus_dsn, 1)
    (stop_id,) = await queue(mes_dsn, consecutive(machine, 1, reason="02", start=recent()))
    p = pusher(settle_s=1.0)
    await p.run_once()  # written in SH6; the answer is lost
    (written,) = (await stop_rows_in_sh6(protheus_dsn))[stop_id]
    simulator = p.client.base.removesuffix("/rest")
    async with p.client.session.put(f"{simulator}/_sim/faults", json={}, headers=BASIC) as resp:
        assert resp.status == 200  # the faults off: the reversal's own answer is not lost
    # A planner reverses the stop in Protheus meanwhile (MATA682's reversal).
    async with p.client.session.delete(
        f"{p.client.base}/api/pcp/v1/stopReports/{written['h6_ident']}/reversal",
        headers={**BASIC, "tenantId": "01,01"},
    ) as resp:
        assert resp.status == 200, await resp.text()
    await drain([p], stops_final(mes_dsn, 1))
    stop = (await stop_statuses(mes_dsn))[stop_id]
    assert stop["status"] == "reversed"
    assert stop["id_appointment"]
    (row,) = (await stop_rows_in_sh6(protheus_dsn))[stop_id]
    assert row["d_e_l_e_t_"] == "*"


async def test_thirty_percent_mixed_faults_deliver_each_stop_exactly_once(
    setup_line, protheus_dsn, mes_dsn
):
    _, pusher = await setup_line(
        error_rate=0.1,
        drop_before_rate=0.1,
        drop_after_rate=0.1,
        token_ttl_s=0.3,
        latency_ms=5,
        seed=13,
    )
    rows = []
    for machine in await machines(protheus_dsn, 8):
        rows += consecutive(machine, 8, reason="02", start=recent())
    ids = await queue(mes_dsn, rows)
    pushers = [pusher(), pusher(), pusher()]  # several pushers share the outbox
    await drain(pushers, stops_final(mes_dsn, len(ids)), seconds=90)
    stops = await stop_statuses(mes_dsn)
    found = await stop_rows_in_sh6(protheus_dsn)
    assert set(found) == set(ids)
    for stop_id in ids:
        assert stops[stop_id]["status"] == "delivered", stops[stop_id]
        (row,) = found[stop_id]
        assert row["d_e_l_e_t_"] == " "
        assert row["h6_ident"] == stops[stop_id]["id_appointment"]
    outcomes = {o for stop_id in ids for o in await stop_history(mes_dsn, stop_id)}
    assert {"unknown", "found", "delivered"} <= outcomes  # the faults happened and were resolved


async def test_one_pusher_delivers_reports_and_stops_in_the_same_rounds(
    setup_line, orders, protheus_dsn, mes_dsn
):
    client, pusher = await setup_line()
    report_id = await post(client, report_body(orders))
    (stop_id,) = await queue(mes_dsn, consecutive(orders.machine, 1, reason="02", start=recent()))
    p = pusher()
    assert await p.run_once() == 2  # one claim of each kind
    await drain([p], final(mes_dsn, 1))
    await drain([p], stops_final(mes_dsn, 1))
    assert (await report(client, report_id))["status"] == "delivered"
    assert (await stop_statuses(mes_dsn))[stop_id]["status"] == "delivered"
    assert len((await markers(protheus_dsn))[report_id]) == 1
    assert len((await stop_rows_in_sh6(protheus_dsn))[stop_id]) == 1


async def test_a_rejected_stop_corrected_by_a_person_is_sent_again_and_delivered(
    setup_line, protheus_dsn, mes_dsn
):
    """Protheus refuses a reason it no longer has; the supervisor picks another over the
    API (PATCH): the same stop goes back to the outbox and reaches SH6 once."""
    client, pusher = await setup_line()
    (machine,) = await machines(protheus_dsn, 1)
    start = recent()
    (stop_id,) = await queue(
        mes_dsn, [stop_row(machine, start, start + dt.timedelta(minutes=12), reason="ZZ")]
    )
    await drain([pusher()], stops_final(mes_dsn, 1))
    assert (await stop_statuses(mes_dsn))[stop_id]["status"] == "rejected"

    answer = await client.patch(
        url(client, "stop_change", id=str(stop_id)), json={"reason": "02"}, headers=WRITE
    )
    assert (await assert_envelope(answer, 200))["status"] == "pending"
    await drain([pusher()], stops_final(mes_dsn, 1))
    stop = (await stop_statuses(mes_dsn))[stop_id]
    assert (stop["status"], stop["error"]) == ("delivered", None)
    (row,) = (await stop_rows_in_sh6(protheus_dsn))[stop_id]
    assert (row["h6_motivo"].strip(), row["h6_ident"]) == ("02", stop["id_appointment"])
    assert await stop_history(mes_dsn, stop_id) == ["rejected", "delivered"]

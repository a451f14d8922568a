"""The stop detector against a real MES database: states stored by the telemetry store (which
marks the machines dirty) become stops; late and repeated states rebuild them exactly; frozen
stops stay; the mapping and the deadline classify and queue them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest

from services.production.keys import STOP_DETECTOR
from services.production.stops import queries
from services.production.stops.detector import StopDetector
from services.telemetry.ingest.parse import Parsed
from services.telemetry.ingest.store import TelemetryStore
from shared.keys import METRICS
from shared.settings import StopSettings
from tests.support.stop_detection import MACHINE, at, detector, shape, stops_of, write_states


@pytest.fixture
async def conn(mes_dsn: str) -> AsyncIterator[asyncpg.Connection]:
    c = await asyncpg.connect(mes_dsn)
    yield c
    await c.close()


@pytest.fixture
async def pool(mes_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    p = await asyncpg.create_pool(mes_dsn, min_size=0, max_size=4)
    yield p
    await p.close()


async def test_stored_states_mark_the_machine_from_their_earliest_ts(conn) -> None:
    store = TelemetryStore()
    samples = Parsed(samples=[(MACHINE, "temp", at(0), 20.0)], sample_days={at(0).date()})
    await store.write(conn, [samples])
    assert await conn.fetch("SELECT * FROM stop_dirty") == []  # samples alone mark nothing
    await write_states(conn, (300, "running", None), (100, "stopped", "E1"))
    await write_states(conn, (400, "running", None), machine="OTHER")
    marks = {r["machine"]: r for r in await conn.fetch("SELECT * FROM stop_dirty")}
    assert {m: (r["since"], r["marked"]) for m, r in marks.items()} == {
        MACHINE: (at(100), 1),
        "OTHER": (at(400), 1),
    }
    # A later batch keeps the earlier since; an earlier one (a late state) moves it back.
    await write_states(conn, (500, "fault", None))
    await write_states(conn, (50, "running", None))
    row = await conn.fetchrow("SELECT since, marked FROM stop_dirty WHERE machine = $1", MACHINE)
    assert (row["since"], row["marked"]) == (at(50), 3)


async def test_stored_states_notify_the_detector_at_commit(conn, mes_dsn) -> None:
    listener = await asyncpg.connect(mes_dsn)
    heard: asyncio.Queue[str] = asyncio.Queue()
    await listener.add_listener("stop_dirty", lambda *args: heard.put_nowait(args[2]))
    try:
        await write_states(conn, (0, "running", None), (10, "fault", None))
        assert await asyncio.wait_for(heard.get(), 5) == "stop_dirty"
    finally:
        await listener.close()


async def test_states_become_stops_micro_stops_are_not_stored_and_the_last_is_open(
    conn, pool, mes_dsn
) -> None:
    await write_states(
        conn,
        (0, "running", None),
        (100, "stopped", "E1"),  # 60 s: a micro-stop
        (160, "running", None),
        (200, "fault", "E2"),
        (500, "running", None),
        (600, "setup", None),
    )
    d = detector(mes_dsn, pool)
    assert await d.run_once() == 1
    stops = await stops_of(conn)
    assert shape(stops) == [
        (200, 500, "fault", "E2", "unclassified"),
        (600, None, "setup", None, "open"),
    ]
    assert {s["branch"] for s in stops} == {"01"}
    assert d.metrics.detected._value.get() == 2
    assert await conn.fetch("SELECT * FROM stop_dirty") == []  # the mark is cleared
    assert await d.run_once() == 0


async def test_an_open_stop_closes_keeping_its_id_and_a_short_open_one_disappears(
    conn, pool, mes_dsn
) -> None:
    d = detector(mes_dsn, pool)
    await write_states(conn, (0, "running", None), (100, "fault", "E1"))
    await d.run_once()
    [open_stop] = await stops_of(conn)
    assert open_stop["status"] == "open"
    await write_states(conn, (400, "running", None), (500, "stopped", "E3"))
    await d.run_once()
    closed, second = await stops_of(conn)
    assert closed["id"] == open_stop["id"]
    assert shape([closed, second]) == [
        (100, 400, "fault", "E1", "unclassified"),
        (500, None, "stopped", "E3", "open"),
    ]
    # The open stop closes after 30 s: a micro-stop after all, deleted.
    await write_states(conn, (530, "running", None))
    await d.run_once()
    assert shape(await stops_of(conn)) == [(100, 400, "fault", "E1", "unclassified")]


async def test_a_late_state_inside_a_closed_stop_rebuilds_it(conn, pool, mes_dsn) -> None:
    d = detector(mes_dsn, pool)
    await write_states(conn, (0, "running", None), (100, "stopped", "A"), (700, "running", None))
    await d.run_once()
    [before] = await stops_of(conn)
    # The message of a reason change at 400 s arrives after the stop was detected.
    await write_states(conn, (400, "fault", "B"))
    await d.run_once()
    first, second = await stops_of(conn)
    assert shape([first, second]) == [
        (100, 400, "stopped", "A", "unclassified"),
        (400, 700, "fault", "B", "unclassified"),
    ]
    assert first["id"] == before["id"]  # same start, same stop
    # A late running state cuts the second part to 50 s: too short to stand alone, it joins
    # the first stop again and the second is deleted.
    await write_states(conn, (450, "running", None))
    await d.run_once()
    [merged] = await stops_of(conn)
    assert shape([merged]) == [(100, 450, "stopped", "A", "unclassified")]
    assert merged["id"] == before["id"]
    assert d.metrics.detected._value.get() == 2


async def test_a_late_stop_state_in_a_gap_moves_the_next_stop_start(conn, pool, mes_dsn) -> None:
    d = detector(mes_dsn, pool)
    await write_states(
        conn,
        (0, "running", None),
        (100, "stopped", "A"),
        (300, "running", None),
        (400, "stopped", "A"),
        (700, "running", None),
    )
    await d.run_once()
    first, second = await stops_of(conn)
    # A stop state at 350 s arrives late: the gap is shorter, the second stop starts earlier
    # (a new stop: the one starting at 400 s is gone).
    await write_states(conn, (350, "stopped", "A"))
    await d.run_once()
    assert shape(await stops_of(conn)) == [
        (100, 300, "stopped", "A", "unclassified"),
        (350, 700, "stopped", "A", "unclassified"),
    ]
    ids = [s["id"] for s in await stops_of(conn)]
    assert ids[0] == first["id"]
    assert second["id"] not in ids


async def test_a_repeated_state_changes_nothing(conn, pool, mes_dsn) -> None:
    d = detector(mes_dsn, pool)
    await write_states(conn, (0, "running", None), (100, "fault", "A"), (400, "running", None))
    await d.run_once()
    before = await stops_of(conn)
    # The same message again (a QoS 1 redelivery), and a different value at a stored ts
    # (the first value wins): the machine is marked, the rebuild finds nothing to change.
    await write_states(conn, (100, "fault", "A"))
    await write_states(conn, (100, "setup", "Z"), (400, "running", None))
    assert await conn.fetchval("SELECT count(*) FROM stop_dirty") == 1
    await d.run_once()
    assert await stops_of(conn) == before  # same ids, same updated_at
    assert await conn.fetchval("SELECT count(*) FROM stop_dirty") == 0
    assert d.metrics.detected._value.get() == 1


async def test_frozen_stops_are_never_changed_and_computed_ones_over_them_are_dropped(
    conn, pool, mes_dsn
) -> None:
    d = detector(mes_dsn, pool)
    await write_states(
        conn,
        (0, "running", None),
        (100, "stopped", "A"),
        (700, "running", None),
        (1000, "fault", "C"),
        (1300, "running", None),
    )
    await d.run_once()
    delivered, manual = await stops_of(conn)
    await conn.execute(
        """UPDATE stops SET status = 'delivered', attempts = 1, reason_code = 'R1',
                  classified_by = 'mapping', id_appointment = '000001' WHERE id = $1""",
        delivered["id"],
    )
    await conn.execute(
        """UPDATE stops SET status = 'pending', manual = true, reason_code = 'R2',
                  classified_by = 'person' WHERE id = $1""",
        manual["id"],
    )
    frozen = await stops_of(conn)
    # Late states: a reason change inside the delivered stop, one inside the manual one, and
    # a longer stop starting before the manual one and overlapping it.
    await write_states(conn, (400, "fault", "B"), (1100, "stopped", "D"), (900, "setup", "E"))
    await d.run_once()
    assert await stops_of(conn) == frozen


async def test_a_mapped_reason_makes_a_closed_stop_pending_and_queued(conn, pool, mes_dsn) -> None:
    await conn.execute(
        "INSERT INTO stop_reason_mapping (plc_reason, reason_code) VALUES ('E1', '07')"
    )
    d = detector(mes_dsn, pool)
    await write_states(conn, (0, "running", None), (100, "fault", "E1"))
    await d.run_once()
    [stop] = await stops_of(conn)
    # Open: classified already, not queued (an open stop is not pushed).
    assert (stop["status"], stop["reason_code"], stop["queued"]) == ("open", "07", False)
    await write_states(conn, (400, "running", None), (500, "fault", "E9"), (800, "running", None))
    await d.run_once()
    mapped, unmapped = await stops_of(conn)
    assert (mapped["status"], mapped["reason_code"], mapped["classified_by"], mapped["queued"]) == (
        "pending", "07", "mapping", True,
    )  # fmt: skip
    assert (unmapped["status"], unmapped["reason_code"], unmapped["queued"]) == (
        "unclassified", None, False,
    )  # fmt: skip
    outbox = await conn.fetchrow("SELECT machine, start_at FROM stop_outbox")
    assert (outbox["machine"], outbox["start_at"]) == (MACHINE, at(100))
    # A late reason change makes the queued stop unmapped: it leaves the queue.
    await write_states(conn, (120, "fault", "E9"))
    await d.run_once()
    stops = await stops_of(conn)
    assert shape(stops)[0] == (100, 400, "fault", "E9", "unclassified")
    assert await conn.fetchval("SELECT count(*) FROM stop_outbox") == 0


async def test_offline_stops_are_listed_never_mapped_nor_defaulted(conn, pool, mes_dsn) -> None:
    await conn.execute(
        "INSERT INTO stop_reason_mapping (plc_reason, reason_code) VALUES ('NET', '07')"
    )
    d = detector(mes_dsn, pool, classify_deadline_h=0.0, default_reason="99")
    await write_states(conn, (0, "running", None), (100, "offline", "NET"), (900, "running", None))
    await d.run_once()
    assert await d.apply_deadline() == 0
    [stop] = await stops_of(conn)
    assert (stop["state"], stop["status"], stop["reason_code"], stop["queued"]) == (
        "offline", "unclassified", None, False,
    )  # fmt: skip
    assert await queries.apply_mapping(conn) == 0
    await d.refresh_gauges()
    assert d.metrics.unclassified._value.get() == 0


async def test_the_deadline_gives_the_default_reason_to_stops_nobody_classified(
    conn, pool, mes_dsn
) -> None:
    # T0 is in the past: the first stop ended long ago; the second ends in the future of now().
    d = detector(mes_dsn, pool, classify_deadline_h=1.0, default_reason="99")
    await write_states(conn, (0, "running", None), (100, "fault", "X"), (400, "running", None))
    await d.run_once()
    await d.refresh_gauges()
    assert d.metrics.unclassified._value.get() == 1
    assert d.metrics.unclassified_oldest._value.get() > 3600
    await conn.execute(
        "INSERT INTO stops (id, machine, branch, state, start_at, end_at, status) "
        "VALUES (gen_random_uuid(), 'RECENT', '01', 'fault', now() - interval '20 min', "
        "now() - interval '10 min', 'unclassified')"
    )
    assert await d.apply_deadline() == 1
    [stop] = await stops_of(conn)
    assert (stop["status"], stop["reason_code"], stop["classified_by"], stop["queued"]) == (
        "pending", "99", "default", True,
    )  # fmt: skip
    assert (
        await conn.fetchval("SELECT status FROM stops WHERE machine = 'RECENT'") == "unclassified"
    )
    # A rebuild keeps the default reason of a stop that has no mapping.
    await write_states(conn, (200, "fault", "X"))
    await d.run_once()
    [stop] = await stops_of(conn)
    assert (stop["status"], stop["reason_code"], stop["classified_by"]) == (
        "pending",
        "99",
        "default",
    )


async def test_apply_mapping_classifies_waiting_stops_but_not_a_persons(
    conn, pool, mes_dsn
) -> None:
    d = detector(mes_dsn, pool)
    await write_states(
        conn,
        (0, "running", None),
        (100, "fault", "E1"),
        (400, "running", None),
        (500, "fault", "E1"),
        (800, "running", None),
        (900, "stopped", "E1"),
    )
    await d.run_once()
    waiting, split, open_stop = await stops_of(conn)
    await conn.execute("UPDATE stops SET manual = true WHERE id = $1", split["id"])
    await conn.execute(
        "INSERT INTO stop_reason_mapping (plc_reason, reason_code) VALUES ('E1', '07')"
    )
    async with conn.transaction():
        assert await queries.apply_mapping(conn) == 2
    stops = await stops_of(conn)
    assert [(s["status"], s["reason_code"], s["queued"]) for s in stops] == [
        ("pending", "07", True),
        ("unclassified", None, False),
        ("open", "07", False),
    ]
    assert [s["id"] for s in stops] == [waiting["id"], split["id"], open_stop["id"]]


async def test_a_mark_made_during_a_rebuild_is_not_lost(conn, pool, mes_dsn) -> None:
    class Interrupted(StopDetector):
        """Another flush of states commits while this detector is rebuilding."""

        async def rebuild(self, c, marks):  # type: ignore[no-untyped-def]
            plan = await super().rebuild(c, marks)
            other = await asyncpg.connect(mes_dsn)
            try:
                await write_states(other, (400, "running", None))
            finally:
                await other.close()
            return plan

    plain = detector(mes_dsn, pool)
    d = Interrupted(pool, plain.settings, plain.metrics)
    await write_states(conn, (0, "running", None), (100, "fault", "A"))
    await d.run_once()
    assert shape(await stops_of(conn)) == [(100, None, "fault", "A", "open")]
    mark = await conn.fetchrow("SELECT since, marked FROM stop_dirty")
    assert (mark["since"], mark["marked"]) == (at(0), 2)  # kept, and moved on by the new mark
    await plain.run_once()
    assert shape(await stops_of(conn)) == [(100, 400, "fault", "A", "unclassified")]
    assert await conn.fetchval("SELECT count(*) FROM stop_dirty") == 0


async def test_two_detectors_never_rebuild_one_machine_at_once(conn, pool, mes_dsn) -> None:
    await write_states(conn, (0, "running", None), (100, "fault", "A"), (400, "running", None))
    await write_states(conn, (0, "running", None), (100, "fault", "B"), machine="OTHER")
    first, second = detector(mes_dsn, pool), detector(mes_dsn, pool)
    async with pool.acquire() as holder, holder.transaction():
        taken = await queries.take_dirty(holder, limit=1)
        assert len(taken) == 1
        # The other detector skips the machine held and rebuilds the rest.
        assert await second.run_once() == 1
    assert await first.run_once() == 1
    assert await conn.fetchval("SELECT count(DISTINCT machine) FROM stops") == 2


async def test_the_production_app_runs_the_detector_woken_by_the_ingestor(
    aiohttp_client, production_app, demo_protheus_dsn, mes_dsn, conn
) -> None:
    # A poll far longer than the test: only the ingestor's notification can wake it in time.
    app = production_app(
        protheus_dsn=demo_protheus_dsn, mes_dsn=mes_dsn, stops=StopSettings(detect_poll_s=600)
    )
    await aiohttp_client(app)
    detector_ = app[STOP_DETECTOR]
    for _ in range(100):  # the first round runs at start; the listener is up after it
        if detector_._listener.listening:
            break
        await asyncio.sleep(0.05)
    await write_states(conn, (0, "running", None), (100, "fault", "E1"), (400, "running", None))
    deadline = asyncio.get_running_loop().time() + 10
    while not await stops_of(conn):
        assert asyncio.get_running_loop().time() < deadline, "no stop detected"
        await asyncio.sleep(0.05)
    assert shape(await stops_of(conn)) == [(100, 400, "fault", "E1", "unclassified")]
    metrics = app[METRICS]
    assert metrics.get_sample_value("production_stops_detected_total") == 1
    await detector_.refresh_gauges()  # the sweep runs once per poll (600 s here)
    assert metrics.get_sample_value("production_stops_unclassified") == 1
    assert metrics.get_sample_value("production_stops_unclassified_oldest_seconds") > 0


async def test_a_stop_a_pusher_holds_a_lease_on_is_left_alone(conn, pool, mes_dsn) -> None:
    await conn.execute(
        "INSERT INTO stop_reason_mapping (plc_reason, reason_code) VALUES ('E1', '07')"
    )
    d = detector(mes_dsn, pool)
    await write_states(conn, (0, "running", None), (100, "fault", "E1"), (700, "running", None))
    await d.run_once()
    # A pusher claimed it and is about to send it.
    await conn.execute(
        "UPDATE stop_outbox SET leased_until = now() + interval '1 min', leased_by = 'p1'"
    )
    before = await stops_of(conn)
    await write_states(conn, (400, "fault", "E2"))
    await d.run_once()
    assert await stops_of(conn) == before
    # The late state is not forgotten: the machine stays marked while the lease holds.
    assert await conn.fetchval("SELECT count(*) FROM stop_dirty") == 1
    # Its lease ran out without a send (the pusher died, or gave the row back): the next
    # round rebuilds it, no new state needed.
    await conn.execute("UPDATE stop_outbox SET leased_until = now() - interval '1 s'")
    await d.run_once()
    assert shape(await stops_of(conn)) == [
        (100, 400, "fault", "E1", "pending"),
        (400, 700, "fault", "E2", "unclassified"),
    ]
    assert await conn.fetchval("SELECT count(*) FROM stop_dirty") == 0

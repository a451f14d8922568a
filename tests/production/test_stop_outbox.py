"""The stops' outbox: heads per machine in start order, leases, and attempts that start only on
the stop as it was claimed."""

from __future__ import annotations

import asyncio
import datetime as dt

import asyncpg

from services.production.pusher import queries
from services.production.pusher.documents import STOPS
from tests.support.stop_push import consecutive, queue_stops

START = dt.datetime(2026, 3, 2, 13, 5, 25, tzinfo=dt.UTC)


async def claim(conn: asyncpg.Connection, name: str, *, batch: int = 50, lease: float = 5) -> set:
    rows = await queries.claim(conn, batch=batch, lease_s=lease, pusher=name, outbox=queries.STOPS)
    return {r["stop_id"] for r in rows}


async def finish(conn: asyncpg.Connection, stop_id, status: str, name: str) -> None:
    await queries.finish(
        conn,
        document_id=stop_id,
        status=status,
        id_appointment=None,
        error=None,
        pusher=name,
        outbox=queries.STOPS,
    )


async def test_only_each_machines_earliest_stop_is_claimed_a_retry_holds_it(mes_dsn):
    conn = await asyncpg.connect(mes_dsn)
    try:
        a = await queue_stops(conn, consecutive("A", 3, reason="01", start=START))
        # B's stops queued latest first: the claim follows their start, not the queue.
        b_rows = consecutive("B", 3, reason="01", start=START)
        b = [*reversed(await queue_stops(conn, list(reversed(b_rows))))]
        assert await claim(conn, "p1") == {a[0], b[0]}
        assert await claim(conn, "p2") == set()  # leased heads hold their machines
        await finish(conn, a[0], "rejected", "p1")  # a rejection leaves and frees the machine
        later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
        await queries.retry(
            conn,
            document_id=b[0],
            available_at=later,
            keep_unknown=False,
            pusher="p1",
            outbox=queries.STOPS,
        )
        assert await claim(conn, "p2") == {a[1]}  # b[0] waits, and b[1] behind it
        status = await conn.fetchval("SELECT status FROM stops WHERE id = $1", b[0])
        assert status == "retrying"

        # A lease that runs out (a pusher killed mid-delivery) gives the head to another.
        await queries.postpone(
            conn,
            document_id=a[1],
            available_at=dt.datetime.now(dt.UTC),
            pusher="p2",
            outbox=queries.STOPS,
        )
        assert await claim(conn, "p3", lease=0.2) == {a[1]}
        assert await claim(conn, "p1") == set()
        await asyncio.sleep(0.3)
        assert await claim(conn, "p1") == {a[1]}
        stats = await queries.outbox_stats(conn, outbox=queries.STOPS)
        assert stats["depth"] == 5
        assert stats["oldest_s"] >= 0
    finally:
        await conn.close()


async def test_concurrent_claims_never_share_a_machine(mes_dsn):
    conn = await asyncpg.connect(mes_dsn)
    try:
        for n in range(20):
            await queue_stops(conn, consecutive(f"M{n:02d}", 3, reason="01", start=START))
    finally:
        await conn.close()
    conns = [await asyncpg.connect(mes_dsn) for _ in range(4)]
    try:
        got = await asyncio.gather(*(claim(c, f"p{i}", batch=6) for i, c in enumerate(conns)))
    finally:
        for c in conns:
            await c.close()
    claimed = [stop_id for batch in got for stop_id in batch]
    assert len(claimed) == len(set(claimed))
    check = await asyncpg.connect(mes_dsn)
    try:
        machines = await check.fetch(
            "SELECT machine, count(*) AS n, bool_and(start_at = (SELECT min(start_at) FROM"
            " stop_outbox o2 WHERE o2.machine = o.machine)) AS heads"
            " FROM stop_outbox o WHERE leased_by IS NOT NULL GROUP BY machine"
        )
    finally:
        await check.close()
    assert sum(m["n"] for m in machines) == len(claimed) > 0
    assert all(m["n"] == 1 and m["heads"] for m in machines)


async def test_an_attempt_starts_only_on_the_stop_as_claimed(mes_dsn):
    conn = await asyncpg.connect(mes_dsn)
    try:
        (stop_id,) = await queue_stops(conn, consecutive("A", 1, reason="01", start=START))
        (row,) = await queries.claim(conn, batch=5, lease_s=5, pusher="p1", outbox=queries.STOPS)
        claimed = dict(row)
        # The detector (or a person) changes the pending stop after the claim read it.
        await conn.execute(
            "UPDATE stops SET end_at = end_at + interval '2 minutes' WHERE id = $1", stop_id
        )
        attempt = await queries.start_attempt(
            conn,
            document_id=stop_id,
            pusher="p1",
            lease_s=5,
            outbox=queries.STOPS,
            checks=STOPS.attempt_checks(claimed),
        )
        assert attempt is None
        after = await conn.fetchrow(
            "SELECT s.status, s.attempts, s.pushed_start, o.unknown_since FROM stops s"
            " JOIN stop_outbox o ON o.stop_id = s.id WHERE s.id = $1",
            stop_id,
        )
        assert dict(after) == {
            "status": "pending",
            "attempts": 0,
            "pushed_start": None,
            "unknown_since": None,
        }
        assert await conn.fetchval("SELECT count(*) FROM stop_attempts") == 0

        # Claimed again as it is now, it starts, and keeps the bounds it sends.
        await queries.postpone(
            conn,
            document_id=stop_id,
            available_at=dt.datetime.now(dt.UTC),
            pusher="p1",
            outbox=queries.STOPS,
        )
        (row,) = await queries.claim(conn, batch=5, lease_s=5, pusher="p1", outbox=queries.STOPS)
        attempt = await queries.start_attempt(
            conn,
            document_id=stop_id,
            pusher="p1",
            lease_s=5,
            outbox=queries.STOPS,
            checks=STOPS.attempt_checks(dict(row)),
        )
        assert attempt == 1
        after = await conn.fetchrow(
            "SELECT s.status, s.attempts, s.pushed_start, s.pushed_end, s.end_at,"
            " o.unknown_since FROM stops s JOIN stop_outbox o ON o.stop_id = s.id"
            " WHERE s.id = $1",
            stop_id,
        )
        assert (after["status"], after["attempts"]) == ("sending", 1)
        assert after["unknown_since"] is not None
        assert after["pushed_start"] == START.replace(second=0)
        assert after["pushed_end"].second == 0
        assert abs(after["pushed_end"] - after["end_at"]) <= dt.timedelta(seconds=30)
    finally:
        await conn.close()


async def test_a_pusher_without_the_lease_starts_no_attempt(mes_dsn):
    conn = await asyncpg.connect(mes_dsn)
    try:
        (stop_id,) = await queue_stops(conn, consecutive("A", 1, reason="01", start=START))
        (row,) = await queries.claim(conn, batch=5, lease_s=5, pusher="p1", outbox=queries.STOPS)
        attempt = await queries.start_attempt(
            conn,
            document_id=stop_id,
            pusher="p2",
            lease_s=5,
            outbox=queries.STOPS,
            checks=STOPS.attempt_checks(dict(row)),
        )
        assert attempt is None
        assert await conn.fetchval("SELECT attempts FROM stops WHERE id = $1", stop_id) == 0
    finally:
        await conn.close()

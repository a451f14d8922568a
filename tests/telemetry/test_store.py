"""The batch writer against PostgreSQL at real flush sizes: the first value of a key wins,
within one flush and across flushes (straight COPY, then the staging merge)."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
from typing import Any

import asyncpg

from services.telemetry.ingest.parse import Parsed
from services.telemetry.ingest.store import TelemetryStore, upsert_machines

BASE = dt.datetime.now(dt.UTC).replace(hour=1, minute=0, second=0, microsecond=0)
RESENT = 100_000.0  # added to a value sent again: it must never be stored


def message(n: int, *, again: bool = False) -> Parsed:
    """Ten metrics with names of mixed length (rows of mixed size fill pages unevenly)."""
    ts = BASE + dt.timedelta(seconds=n)
    value = n + (RESENT if again else 0.0)
    samples = [("M1", f"m{k}_{'x' * ((n * 7 + k) % 40)}", ts, value) for k in range(10)]
    return Parsed(
        machine=("M1", "porto", "estamparia", "linha1", ts),
        samples=samples,
        states=[("M1", ts, "running", "r" * (n % 30))],
        counters=[("M1", ts, 1, 0, None)],
        sample_days={ts.date()},
    )


def flush(numbers: range, rng: random.Random) -> list[Parsed]:
    """The messages of `numbers` in order, each tenth one delivered again a little later."""
    arrivals = [(float(n), message(n)) for n in numbers]
    arrivals += [(n + rng.randint(1, 30) + 0.5, message(n, again=True)) for n in numbers[::10]]
    return [parsed for _, parsed in sorted(arrivals, key=lambda arrival: arrival[0])]


async def test_the_first_value_of_a_key_wins_within_and_across_flushes(mes_dsn: str) -> None:
    rng = random.Random(7)
    store = TelemetryStore()
    conn = await asyncpg.connect(mes_dsn)
    try:
        for start in range(0, 2000, 500):
            await store.write(conn, flush(range(start, start + 500), rng))
        # A redelivery of stored messages mixed with new ones: the merge path.
        again = [message(n, again=True) for n in range(0, 2000, 3)]
        await store.write(conn, [*again, *(message(n) for n in range(2000, 2100))])
        samples = await conn.fetch("SELECT ts, value FROM telemetry_samples")
        states = await conn.fetchval("SELECT count(*) FROM machine_states")
        counters = await conn.fetchval("SELECT sum(good) FROM machine_counters")
    finally:
        await conn.close()
    assert len(samples) == 2100 * 10
    assert all(row["value"] < RESENT for row in samples)
    assert {int(row["value"]) for row in samples} == set(range(2100))
    assert states == 2100
    assert counters == 2100  # a counter sent twice is counted once


async def test_two_writers_upserting_the_same_machines_in_opposite_orders_do_not_deadlock(
    mes_dsn: str,
) -> None:
    """A third transaction holds machine A; one writer upserts (A, B), the other (B, A): taken
    in the order given, the second would hold B and wait for A while the first, once A is
    free, waits for B. In machine order both wait for A, then one after the other."""
    seen = BASE
    machines = [(name, "porto", "estamparia", "linha1", seen) for name in ("A", "B")]
    conns = [await asyncpg.connect(mes_dsn) for _ in range(3)]
    holder, first, second = conns
    try:
        await upsert_machines(holder, machines=machines)
        holding = holder.transaction()
        await holding.start()
        await holder.execute("SELECT 1 FROM machines WHERE machine = 'A' FOR UPDATE")

        async def upsert(conn: asyncpg.Connection, order: list[tuple[Any, ...]]) -> None:
            async with conn.transaction():
                await upsert_machines(conn, machines=order)

        writers = [
            asyncio.create_task(upsert(first, machines)),
            asyncio.create_task(upsert(second, machines[::-1])),
        ]
        waiting = (
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE wait_event_type = 'Lock' AND datname = current_database()"
        )
        for _ in range(200):  # both writers are blocked on a row lock
            if await holder.fetchval(waiting) >= 2:
                break
            await asyncio.sleep(0.02)
        await holding.commit()
        await asyncio.gather(*writers)  # neither is a deadlock victim
    finally:
        for conn in conns:
            await conn.close()


async def test_dropping_an_expired_day_gives_way_to_a_long_reader_and_never_queues_writers(
    mes_dsn: str,
) -> None:
    """DROP of a partition waits for an exclusive lock on the parent; behind a long reader (the
    lake exporting a day) that would queue every writer behind it. It asks briefly, gives
    way, and drops once the reader is done; a writer meanwhile is never held up."""
    from services.telemetry.partitions import SAMPLES

    today = dt.date.today()
    old, recent = today - dt.timedelta(days=100), today - dt.timedelta(days=1)
    conn, reader, writer = [await asyncpg.connect(mes_dsn) for _ in range(3)]
    try:
        await SAMPLES.ensure(conn, [old, recent])
        exporting = reader.transaction()
        await exporting.start()
        await reader.fetch("SELECT count(*) FROM telemetry_samples")  # AccessShare until commit
        dropping = asyncio.create_task(SAMPLES.drop_expired(conn, today, 90))
        await asyncio.sleep(0.5)  # the DROP has asked, given way, and waits to ask again
        async with writer.transaction():
            await writer.execute("SET LOCAL lock_timeout = '1s'")
            await TelemetryStore().write(
                writer, [Parsed(samples=[("M1", "t", dt.datetime.combine(recent, dt.time(12), dt.UTC), 1.0)],
                                sample_days={recent})]
            )  # fmt: skip
        assert not dropping.done()
        await exporting.commit()
        assert await asyncio.wait_for(dropping, 10) == [old]
    finally:
        for c in (conn, reader, writer):
            await c.close()

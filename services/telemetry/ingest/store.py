"""Writes a flush of parsed messages in one transaction with COPY, storing a redelivered
message once (first value wins).

The usual batch holds only new keys and is copied straight into the tables. One that holds
a key already stored (a redelivery after a crash or a reconnect) fails on the primary key,
is rolled back and written again through temporary tables: COPY into them, then
INSERT ... ON CONFLICT DO NOTHING.

Within one flush the first row of each key is kept before anything is copied (a scan of
the staging table does not keep the order rows were copied in), so the first value wins
there too, and ON CONFLICT only meets keys stored by earlier flushes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

import asyncpg

from services.telemetry.ingest.parse import Parsed
from services.telemetry.partitions import ensure_partitions
from shared.db.pools import Connection

SAMPLE_COLUMNS = ("machine", "metric", "ts", "value")
STATE_COLUMNS = ("machine", "ts", "state", "reason")
COUNTER_COLUMNS = ("machine", "ts", "good", "scrap", "order_key")

STAGING = """
CREATE TEMPORARY TABLE IF NOT EXISTS stage_samples (machine TEXT, metric TEXT, ts TIMESTAMPTZ, value DOUBLE PRECISION) ON COMMIT DELETE ROWS;
CREATE TEMPORARY TABLE IF NOT EXISTS stage_states (machine TEXT, ts TIMESTAMPTZ, state TEXT, reason TEXT) ON COMMIT DELETE ROWS;
CREATE TEMPORARY TABLE IF NOT EXISTS stage_counters (machine TEXT, ts TIMESTAMPTZ, good BIGINT, scrap BIGINT, order_key TEXT) ON COMMIT DELETE ROWS;
"""

MERGE_SAMPLES = """
INSERT INTO telemetry_samples (machine, metric, ts, value)
SELECT machine, metric, ts, value FROM stage_samples
ON CONFLICT DO NOTHING
"""
MERGE_STATES = """
INSERT INTO machine_states (machine, ts, state, reason)
SELECT machine, ts, state, reason FROM stage_states
ON CONFLICT DO NOTHING
"""
MERGE_COUNTERS = """
INSERT INTO machine_counters (machine, ts, good, scrap, order_key)
SELECT machine, ts, good, scrap, order_key FROM stage_counters
ON CONFLICT DO NOTHING
"""
# In machine order: two ingestors upserting the same machines lock their rows in the same
# order (no deadlock).
UPSERT_MACHINES = """
INSERT INTO machines AS m (machine, site, area, line, last_seen)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[])
    AS u(machine, site, area, line, last_seen)
ORDER BY machine
ON CONFLICT (machine) DO UPDATE SET site = EXCLUDED.site, area = EXCLUDED.area, line = EXCLUDED.line,
    last_seen = GREATEST(m.last_seen, EXCLUDED.last_seen)
"""


# The machines whose states this flush stored, from their earliest state: the production
# service's stop detector rebuilds their stops from there (a late or repeated state included).
# One statement: rows in machine order, so two ingestors marking the same machines lock them in
# the same order (no deadlock); LEAST keeps an earlier mark not yet handled, and `marked` is
# bumped so the detector's clear of an older mark misses this one. The notification is sent
# at commit (PostgreSQL folds repeats within a transaction).
MARK_STOPS_DIRTY = """
WITH marked AS (
    INSERT INTO stop_dirty AS d (machine, since)
    SELECT machine, since FROM unnest($1::text[], $2::timestamptz[]) AS m(machine, since)
    ORDER BY machine
    ON CONFLICT (machine) DO UPDATE SET since = LEAST(d.since, EXCLUDED.since), marked = d.marked + 1
)
SELECT pg_notify('stop_dirty', '')
"""

UPSERT_POSITION = """
INSERT INTO telemetry_spool_positions (spool_id, client_id, position, updated_at)
VALUES ($1, $2, $3, now())
ON CONFLICT (spool_id) DO UPDATE SET client_id = EXCLUDED.client_id,
    position = GREATEST(telemetry_spool_positions.position, EXCLUDED.position), updated_at = now()
"""


async def upsert_machines(
    conn: Connection, *, machines: Iterable[tuple[str, str, str, str, dt.datetime]]
) -> None:
    """Register or update machines (machine, site, area, line, last seen); last_seen never
    goes back."""
    columns = list(zip(*machines, strict=True))
    if columns:
        await conn.execute(UPSERT_MACHINES, *(list(c) for c in columns))


async def save_position(conn: Connection, *, spool_id: str, client_id: str, position: int) -> None:
    """How far the spool is drained (its LSN), never moved back."""
    await conn.execute(UPSERT_POSITION, spool_id, client_id, position)


# A dead letter keeps at most this much of its payload, and the payload's full size beside it.
DEAD_PAYLOAD_MAX = 64 * 1024
DEAD_COLUMNS = ("topic", "payload", "reason", "payload_size")

# (spool id, client id, LSN): how far the spool is drained, committed with the rows.
Position = tuple[str, str, int]


# One row for COPY: the table's columns in order.
Row = tuple[Any, ...]


async def mark_stops_dirty(conn: Connection, *, states: Iterable[Row]) -> None:
    """Mark the machines of these state rows (machine, ts, ...) for the stop detector, each
    from its earliest ts, and wake the detector; nothing without states."""
    since: dict[str, dt.datetime] = {}
    for machine, ts, *_ in states:
        if machine not in since or ts < since[machine]:
            since[machine] = ts
    if since:
        await conn.execute(MARK_STOPS_DIRTY, list(since), list(since.values()))


async def _save(conn: Connection, position: Position) -> None:
    spool_id, client_id, lsn = position
    await save_position(conn, spool_id=spool_id, client_id=client_id, position=lsn)


def _first_per_key(rows: Iterable[Row], key_length: int) -> list[Row]:
    """Rows whose leading `key_length` fields (the table's primary key) were not seen yet."""
    first: dict[tuple[Any, ...], Row] = {}
    for row in rows:
        first.setdefault(row[:key_length], row)
    return list(first.values())


class TelemetryStore:
    """Remembers which daily partitions exist, so a flush creates only missing ones."""

    def __init__(self) -> None:
        self.known_days: set[dt.date] = set()

    async def write(
        self, conn: Connection, batch: list[Parsed], position: Position | None = None
    ) -> int:
        """Store a flush in one transaction (with the spool position, when given); returns
        how many rows were offered."""
        # The first row of each key, in arrival order: a message delivered twice within one
        # flush keeps its first value, and COPY then meets only keys of earlier flushes.
        samples = _first_per_key((row for p in batch for row in p.samples), 3)
        states = _first_per_key((row for p in batch for row in p.states), 2)
        counters = _first_per_key((row for p in batch for row in p.counters), 2)
        dead = [
            (topic, payload[:DEAD_PAYLOAD_MAX], reason, len(payload))
            for p in batch
            for topic, payload, reason in p.dead
        ]
        machines: dict[str, tuple[str, str, str, str, dt.datetime]] = {}
        for p in batch:
            if p.machine and (
                p.machine[0] not in machines or p.machine[4] > machines[p.machine[0]][4]
            ):
                machines[p.machine[0]] = p.machine
        days = set().union(*(p.sample_days for p in batch)) - self.known_days
        if days:
            await ensure_partitions(conn, days)
            self.known_days |= days
        try:
            await self._write(conn, samples, states, counters, dead, machines, position)
        except asyncpg.CheckViolationError:
            # "no partition for row": retention dropped a day this cache still knew.
            self.known_days.clear()
            raise
        return len(samples) + len(states) + len(counters) + len(dead)

    async def write_each(
        self, conn: Connection, batch: list[Parsed], position: Position | None = None
    ) -> int:
        """Write message by message; a message the database refuses becomes a dead letter."""
        rows = 0
        for parsed in batch:
            try:
                rows += await self.write(conn, [parsed])
            except (
                asyncpg.DataError,
                asyncpg.IntegrityConstraintViolationError,
                OverflowError,
                ValueError,
            ) as exc:
                refused = Parsed(
                    dead=[
                        (parsed.topic, parsed.payload, f"recusado pelo banco: {type(exc).__name__}")
                    ]
                )
                rows += await self.write(conn, [refused])
        if position is not None:
            await _save(conn, position)
        return rows

    async def _write(self, conn: Connection, samples: list[Row], states: list[Row], counters: list[Row],
                     dead: list[Row], machines: dict[str, Row], position: Position | None) -> None:  # fmt: skip
        """COPY straight into the tables; a batch holding a key already stored (a redelivery,
        rare: after a crash or a reconnect) is rolled back and merged through staging."""
        try:
            async with conn.transaction():
                await self._copy(conn, samples, states, counters)
                await self._others(conn, dead, machines, position)
                # Last: the marks' row locks are held only until the commit right after.
                await mark_stops_dirty(conn, states=states)
        except asyncpg.UniqueViolationError:
            async with conn.transaction():
                await self._merge(conn, samples, states, counters)
                await self._others(conn, dead, machines, position)
                await mark_stops_dirty(conn, states=states)

    @staticmethod
    async def _copy(
        conn: Connection, samples: list[Row], states: list[Row], counters: list[Row]
    ) -> None:
        if samples:
            await conn.copy_records_to_table(
                "telemetry_samples", records=samples, columns=SAMPLE_COLUMNS
            )
        if states:
            await conn.copy_records_to_table(
                "machine_states", records=states, columns=STATE_COLUMNS
            )
        if counters:
            await conn.copy_records_to_table("machine_counters", records=counters, columns=COUNTER_COLUMNS)  # fmt: skip

    @staticmethod
    async def _merge(
        conn: Connection, samples: list[Row], states: list[Row], counters: list[Row]
    ) -> None:
        await conn.execute(STAGING)
        if samples:
            await conn.copy_records_to_table("stage_samples", records=samples)
            await conn.execute(MERGE_SAMPLES)
        if states:
            await conn.copy_records_to_table("stage_states", records=states)
            await conn.execute(MERGE_STATES)
        if counters:
            await conn.copy_records_to_table("stage_counters", records=counters)
            await conn.execute(MERGE_COUNTERS)

    @staticmethod
    async def _others(
        conn: Connection, dead: list[Row], machines: dict[str, Row], position: Position | None
    ) -> None:
        if dead:
            await conn.copy_records_to_table(
                "telemetry_dead_letters", records=dead, columns=DEAD_COLUMNS
            )
        if machines:
            await upsert_machines(conn, machines=machines.values())
        if position is not None:
            await _save(conn, position)

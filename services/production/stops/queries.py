"""MES SQL of machine stops: the connection first, every value by name."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from services.production.stops.detect import StateChange
from shared.db.pools import Connection

# A classified, closed stop enters the outbox once (a second enqueue of a queued stop is a
# no-op); the pusher takes stops of one machine in start order.
ENQUEUE = """
INSERT INTO stop_outbox (stop_id, machine, start_at)
SELECT id, machine, start_at FROM stops WHERE id = ANY($1::uuid[]) AND status = 'pending'
ON CONFLICT (stop_id) DO NOTHING
"""


async def enqueue(conn: Connection, *, stop_ids: list[uuid.UUID]) -> None:
    """Queue these stops for delivery (those in status `pending`; others are left alone)."""
    await conn.execute(ENQUEUE, stop_ids)


# --- detection (services/production/stops/detector.py) ------------------------------------

# Two-key advisory locks (key 1 this namespace, key 2 the machine's hash) keep two detectors
# (several production replicas) off the same machine without locking stop_dirty's rows,
# which the ingestor updates in its own transactions.
DETECT_LOCK_NAMESPACE = 0x53_54_4F_50  # "STOP"

# The oldest marks first; a machine another detector holds is skipped this round. LIMIT in the
# subquery so the lock function runs only on the candidates.
TAKE_DIRTY = """
WITH candidates AS (SELECT machine, since, marked FROM stop_dirty ORDER BY since LIMIT $1)
SELECT machine, since, marked FROM candidates
WHERE pg_try_advisory_xact_lock($2::int, hashtext(machine))
"""

# For each dirty machine: the last state before `since` that is neither a stop state nor
# offline (no stop spans it, so rebuilding from it cannot cut a stop in two), else the
# machine's first state; then every state from there on. Strictly before `since`: a late
# running state at `since` ends the stop before it, which must be rebuilt too.
# The max() is a backward walk of machine_states' primary key (machine, ts).
STATES_FOR_REBUILD = """
WITH dirty AS (SELECT * FROM unnest($1::text[], $2::timestamptz[]) AS d(machine, since)),
bounds AS (
    SELECT d.machine, (
        SELECT max(s.ts) FROM machine_states s
        WHERE s.machine = d.machine AND s.ts < d.since
          AND s.state <> 'offline' AND s.state <> ALL($3::text[])
    ) AS from_ts
    FROM dirty d
)
SELECT s.machine, s.ts, s.state, s.reason
FROM bounds b
JOIN machine_states s ON s.machine = b.machine AND s.ts >= coalesce(b.from_ts, '-infinity')
ORDER BY s.machine, s.ts
"""

# A stop detection must leave alone: a person's (manual), one that left for Protheus at least
# once (attempts, sending, retrying and the final statuses), or one a pusher holds a lease on
# right now (it may be about to mark it sending).
FROZEN = """(
    s.manual OR s.attempts > 0
    OR s.status IN ('sending', 'retrying', 'delivered', 'rejected', 'reversed')
    OR EXISTS (SELECT 1 FROM stop_outbox o WHERE o.stop_id = s.id AND o.leased_until > now())
)"""

# Stored stops that overlap each machine's rebuilt region (from $2 on), locked in (machine,
# start) order so a PATCH or a pusher waits for the rebuild instead of racing it. Those
# starting in the region come from a range of stops_machine_start; of those before it, only
# the latest can reach into it (a machine's stops do not overlap), so history is not scanned.
STOPS_IN_REGION = f"""
WITH region AS (SELECT * FROM unnest($1::text[], $2::timestamptz[]) AS r(machine, from_ts)),
ids AS (
    SELECT s.id FROM region r JOIN stops s ON s.machine = r.machine AND s.start_at >= r.from_ts
    UNION ALL
    SELECT b.id FROM region r CROSS JOIN LATERAL (
        SELECT b.id, b.end_at FROM stops b WHERE b.machine = r.machine AND b.start_at < r.from_ts
        ORDER BY b.start_at DESC LIMIT 1
    ) b
    WHERE b.end_at IS NULL OR b.end_at > r.from_ts
)
SELECT s.id, s.machine, s.start_at, s.end_at, s.state, s.plc_reason, s.reason_code,
       s.classified_by, s.status, {FROZEN} AS frozen
FROM stops s
WHERE s.id IN (SELECT id FROM ids)
ORDER BY s.machine, s.start_at
FOR UPDATE OF s
"""

MAPPING = "SELECT plc_reason, reason_code FROM stop_reason_mapping"

INSERT_STOPS = """
INSERT INTO stops (id, machine, branch, state, plc_reason, start_at, end_at, reason_code,
                   classified_by, status)
SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[],
                     $6::timestamptz[], $7::timestamptz[], $8::text[], $9::text[], $10::text[])
"""

UPDATE_STOPS = """
UPDATE stops s
SET end_at = u.end_at, state = u.state, plc_reason = u.plc_reason, reason_code = u.reason_code,
    classified_by = u.classified_by, status = u.status, updated_at = now()
FROM unnest($1::uuid[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[],
            $7::text[]) AS u(id, end_at, state, plc_reason, reason_code, classified_by, status)
WHERE s.id = u.id
"""

# Their outbox and attempt rows go with them (ON DELETE CASCADE).
DELETE_STOPS = "DELETE FROM stops WHERE id = ANY($1::uuid[])"

# A stop rebuilt out of `pending` (its reason changed to an unmapped one) leaves the queue.
UNQUEUE = "DELETE FROM stop_outbox WHERE stop_id = ANY($1::uuid[])"

# Lock the marks in machine order (the ingestor marks in the same order: no deadlock), then
# clear those whose `marked` is still the one read: a mark made meanwhile survives.
LOCK_DIRTY = (
    "SELECT machine FROM stop_dirty WHERE machine = ANY($1::text[]) ORDER BY machine FOR UPDATE"
)
CLEAR_DIRTY = """
DELETE FROM stop_dirty d USING unnest($1::text[], $2::bigint[]) AS c(machine, marked)
WHERE d.machine = c.machine AND d.marked = c.marked
"""

# Closed, non-offline stops nobody classified before the deadline take the default reason.
DEADLINE_DEFAULT = """
UPDATE stops SET reason_code = $1, classified_by = 'default', status = 'pending', updated_at = now()
WHERE status = 'unclassified' AND state <> 'offline' AND end_at < now() - make_interval(secs => $2)
RETURNING id
"""

# After a mapping change: stops detection classified (not a person's, not offline) that are
# waiting for a reason, or still open, take the mapping's; the closed ones go pending.
APPLY_MAPPING = """
UPDATE stops s
SET reason_code = m.reason_code, classified_by = 'mapping',
    status = CASE WHEN s.status = 'open' THEN 'open' ELSE 'pending' END, updated_at = now()
FROM stop_reason_mapping m
WHERE m.plc_reason = s.plc_reason AND NOT s.manual AND s.state <> 'offline'
  AND (s.status = 'unclassified'
       OR (s.status = 'open' AND s.reason_code IS DISTINCT FROM m.reason_code))
RETURNING s.id, s.status
"""

# Stops waiting for a person (offline ones are listed, not waiting: they never leave alone).
UNCLASSIFIED_STATS = """
SELECT count(*) AS waiting,
       coalesce(extract(epoch FROM now() - min(end_at)), 0)::float8 AS oldest_s
FROM stops WHERE status = 'unclassified' AND state <> 'offline'
"""


@dataclass(frozen=True, slots=True)
class DirtyMark:
    machine: str
    since: dt.datetime
    marked: int


@dataclass(frozen=True, slots=True)
class StoredStop:
    id: uuid.UUID
    machine: str
    start: dt.datetime
    end: dt.datetime | None
    state: str
    plc_reason: str | None
    reason_code: str | None
    classified_by: str | None
    status: str
    frozen: bool


@dataclass(frozen=True, slots=True)
class StopRow:
    """A stop as detection writes it."""

    id: uuid.UUID
    machine: str
    state: str
    plc_reason: str | None
    start: dt.datetime
    end: dt.datetime | None
    reason_code: str | None
    classified_by: str | None
    status: str


async def take_dirty(conn: Connection, *, limit: int) -> list[DirtyMark]:
    """Up to `limit` marked machines (the oldest marks first) this transaction now holds."""
    rows = await conn.fetch(TAKE_DIRTY, limit, DETECT_LOCK_NAMESPACE)
    return [DirtyMark(r["machine"], r["since"], r["marked"]) for r in rows]


async def states_for_rebuild(
    conn: Connection, *, marks: list[DirtyMark], stop_states: Sequence[str]
) -> dict[str, list[StateChange]]:
    """Each marked machine's states from where its stops must be rebuilt (STATES_FOR_REBUILD)."""
    rows = await conn.fetch(
        STATES_FOR_REBUILD,
        [m.machine for m in marks],
        [m.since for m in marks],
        list(stop_states),
    )
    states: dict[str, list[StateChange]] = {}
    for r in rows:
        states.setdefault(r["machine"], []).append(StateChange(r["ts"], r["state"], r["reason"]))
    return states


async def stops_in_region(
    conn: Connection, *, regions: dict[str, dt.datetime]
) -> dict[str, list[StoredStop]]:
    """Stored stops overlapping each machine's region (machine -> its start), locked."""
    rows = await conn.fetch(STOPS_IN_REGION, list(regions), list(regions.values()))
    stored: dict[str, list[StoredStop]] = {}
    for r in rows:
        stop = StoredStop(
            r["id"], r["machine"], r["start_at"], r["end_at"], r["state"], r["plc_reason"],
            r["reason_code"], r["classified_by"], r["status"], r["frozen"],
        )  # fmt: skip
        stored.setdefault(r["machine"], []).append(stop)
    return stored


async def mapping(conn: Connection) -> dict[str, str]:
    """The whole PLC reason -> Protheus stop reason mapping."""
    return {r["plc_reason"]: r["reason_code"] for r in await conn.fetch(MAPPING)}


async def insert_stops(conn: Connection, *, branch: str, stops: list[StopRow]) -> None:
    if stops:
        await conn.execute(
            INSERT_STOPS,
            [s.id for s in stops], [s.machine for s in stops], [branch] * len(stops),
            [s.state for s in stops], [s.plc_reason for s in stops], [s.start for s in stops],
            [s.end for s in stops], [s.reason_code for s in stops],
            [s.classified_by for s in stops], [s.status for s in stops],
        )  # fmt: skip


async def update_stops(conn: Connection, *, stops: list[StopRow]) -> None:
    """Bounds, state, reason and status of stored stops (by id; start and machine stay)."""
    if stops:
        await conn.execute(
            UPDATE_STOPS,
            [s.id for s in stops], [s.end for s in stops], [s.state for s in stops],
            [s.plc_reason for s in stops], [s.reason_code for s in stops],
            [s.classified_by for s in stops], [s.status for s in stops],
        )  # fmt: skip


async def delete_stops(conn: Connection, *, stop_ids: list[uuid.UUID]) -> None:
    if stop_ids:
        await conn.execute(DELETE_STOPS, stop_ids)


async def unqueue(conn: Connection, *, stop_ids: list[uuid.UUID]) -> None:
    """Take these stops out of the outbox (they are no longer pending)."""
    if stop_ids:
        await conn.execute(UNQUEUE, stop_ids)


async def clear_dirty(conn: Connection, *, marks: list[DirtyMark]) -> None:
    """Clear the marks handled, each only if nobody marked its machine again since."""
    machines = [m.machine for m in marks]
    await conn.execute(LOCK_DIRTY, machines)
    await conn.execute(CLEAR_DIRTY, machines, [m.marked for m in marks])


async def default_overdue(conn: Connection, *, reason: str, deadline_s: float) -> list[uuid.UUID]:
    """Give STOP_DEFAULT_REASON to unclassified stops that ended more than `deadline_s` ago
    and queue them; returns their ids."""
    ids = [r["id"] for r in await conn.fetch(DEADLINE_DEFAULT, reason, deadline_s)]
    await enqueue(conn, stop_ids=ids)
    return ids


async def apply_mapping(conn: Connection) -> int:
    """Classify by the current mapping the stops detection classifies that wait for a reason
    (closed ones go pending and are queued; open ones only take the reason); returns how many
    took one. Call it in the transaction that replaced the mapping."""
    rows = await conn.fetch(APPLY_MAPPING)
    await enqueue(conn, stop_ids=[r["id"] for r in rows if r["status"] == "pending"])
    return len(rows)


async def unclassified_stats(conn: Connection) -> tuple[int, float]:
    """How many stops wait for a person, and how long (s) the oldest has ended."""
    row = await conn.fetchrow(UNCLASSIFIED_STATS)
    assert row is not None
    return int(row["waiting"]), float(row["oldest_s"])

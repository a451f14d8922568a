"""MES SQL of machine stops: the connection first, every value by name.

The stops, their outbox and attempts are the MES's own tables (migrations/mes/0014_stops.sql);
a `line` is resolved through the telemetry `machines` table (site, area, line) of the same
database. Protheus is not read here (its stop reasons: shared.protheus.stop_reasons).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import asyncpg

from services.production.pusher.queries import attempt_history
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
SETTLED = """(
    s.manual OR s.attempts > 0
    OR s.status IN ('sending', 'retrying', 'delivered', 'rejected', 'reversed')
)"""
FROZEN = f"""(
    {SETTLED}
    OR EXISTS (SELECT 1 FROM stop_outbox o WHERE o.stop_id = s.id AND o.leased_until > now())
)"""

# The queued stops of the rebuilt machines, locked before their stops: a pusher starting an
# attempt and a PATCH lock the outbox row first and then the stop, so the rebuild takes the
# same order (stops, then their outbox rows by cascade, would deadlock with them).
LOCK_QUEUED = """
SELECT stop_id FROM stop_outbox WHERE machine = ANY($1::text[]) ORDER BY stop_id FOR UPDATE
"""

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
       s.classified_by, s.status, {FROZEN} AS frozen, {SETTLED} AS settled
FROM stops s
WHERE s.id IN (SELECT id FROM ids)
ORDER BY s.machine, s.start_at
FOR UPDATE OF s
"""

MAPPING = "SELECT plc_reason, reason_code FROM stop_reason_mapping"
# A rebuild's first statement: a mapping PUT commits before it or waits for it, so the stops a
# rebuild stores are classified by the mapping the PUT's re-classification will also see.
LOCK_MAPPING = "LOCK TABLE stop_reason_mapping IN SHARE MODE"

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
    # Frozen for good (a person's, or sent at least once); frozen but not settled = only a
    # pusher's lease, which may end without sending.
    settled: bool = True


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
    """Stored stops overlapping each machine's region (machine -> its start), locked (their
    outbox rows first)."""
    await conn.execute(LOCK_QUEUED, list(regions))
    rows = await conn.fetch(STOPS_IN_REGION, list(regions), list(regions.values()))
    stored: dict[str, list[StoredStop]] = {}
    for r in rows:
        stop = StoredStop(
            r["id"], r["machine"], r["start_at"], r["end_at"], r["state"], r["plc_reason"],
            r["reason_code"], r["classified_by"], r["status"], r["frozen"], r["settled"],
        )  # fmt: skip
        stored.setdefault(r["machine"], []).append(stop)
    return stored


async def lock_mapping(conn: Connection) -> None:
    """Hold mapping changes until this transaction ends (readers are not held)."""
    await conn.execute(LOCK_MAPPING)


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


# --- the API (service.py): reading stops ---------------------------------------------------

# An open stop lasts until now so far.
STOP_COLUMNS = """
    s.id, s.machine, s.branch, s.state, s.plc_reason, s.reason_code, s.classified_by, s.operator,
    s.note, s.start_at, s.end_at,
    CAST(extract(epoch FROM COALESCE(s.end_at, now()) - s.start_at) AS double precision)
        AS duration_seconds,
    s.status, s.attempts, s.next_attempt_at, s.pushed_start, s.pushed_end, s.id_appointment,
    s.error, s.manual, s.created_at, s.updated_at
"""

GET_STOP = (
    f"SELECT {STOP_COLUMNS}, {attempt_history('stop_attempts', 'a.stop_id = s.id')} "
    "FROM stops s WHERE s.id = $1"
)

# The machines of a line, from the telemetry `machines` table (as OEE's `line`).
LINE_MACHINES = """
SELECT m.machine FROM machines m
WHERE m.site = CAST($2 AS text) AND m.area = CAST($3 AS text) AND m.line = CAST($4 AS text)
"""

# The filters of both the listing and the Pareto: one machine ($1) or a line ($2, $3, $4),
# stops overlapping [$5, $6) (either bound optional; an open stop reaches now and beyond).
FILTERS = f"""
    (CAST($1 AS text) IS NULL OR s.machine = $1)
    AND (CAST($2 AS text) IS NULL OR s.machine IN ({LINE_MACHINES}))
    AND (CAST($5 AS timestamptz) IS NULL OR s.end_at IS NULL OR s.end_at > $5)
    AND (CAST($6 AS timestamptz) IS NULL OR s.start_at < $6)
"""

LIST_STOPS = f"""
WITH matches AS (
    SELECT s.* FROM stops s
    WHERE {FILTERS} AND (CAST($7 AS text[]) IS NULL OR s.status = ANY($7))
)
SELECT h.total, p.* FROM (SELECT count(*) AS total FROM matches) h
LEFT JOIN LATERAL (
    SELECT {STOP_COLUMNS}, '[]'::json AS history
    FROM matches s ORDER BY s.start_at DESC, s.seq DESC LIMIT $8 OFFSET $9
) p ON TRUE
"""

# Each stop's seconds inside [$5, $6), an open one up to min($6, now).
PARETO = f"""
WITH clipped AS (
    SELECT CASE CAST($7 AS text) WHEN 'machine' THEN s.machine WHEN 'state' THEN s.state
                ELSE s.reason_code END AS key,
           extract(epoch FROM LEAST(COALESCE(s.end_at, LEAST($6, now())), $6)
                              - GREATEST(s.start_at, $5)) AS seconds
    FROM stops s
    WHERE {FILTERS}
)
SELECT key, CAST(sum(seconds) AS double precision) AS seconds, count(*) AS count
FROM clipped WHERE seconds > 0
GROUP BY key
"""


@dataclass(frozen=True)
class StopFilter:
    """Which stops a listing or a Pareto takes: one machine or a line's (site, area, line),
    overlapping [start, end) (either bound optional)."""

    machine: str | None = None
    line: tuple[str, str, str] | None = None
    start: dt.datetime | None = None
    end: dt.datetime | None = None

    def args(self) -> tuple[object, ...]:
        """$1..$6 of FILTERS."""
        site, area, line = self.line if self.line is not None else (None, None, None)
        return (self.machine, site, area, line, self.start, self.end)


async def stop_branch(conn: Connection, *, stop_id: uuid.UUID) -> str | None:
    """The branch of a stop (its reasons are that branch's), None when there is no such stop."""
    branch: str | None = await conn.fetchval("SELECT branch FROM stops WHERE id = $1", stop_id)
    return branch


async def get_stop(conn: Connection, *, stop_id: uuid.UUID) -> asyncpg.Record | None:
    """A stop with its `history` of attempts (JSON, oldest first)."""
    return await conn.fetchrow(GET_STOP, stop_id)


async def list_stops(
    conn: Connection,
    *,
    where: StopFilter,
    statuses: Sequence[str] | None,
    limit: int,
    offset: int,
) -> list[asyncpg.Record]:
    """The header row (`total`) with one page of stops, latest start first (`history` empty)."""
    return await conn.fetch(
        LIST_STOPS, *where.args(), list(statuses) if statuses else None, limit, offset
    )


async def pareto(conn: Connection, *, where: StopFilter, by: str) -> list[asyncpg.Record]:
    """Seconds and count of the stops in the window (`where` has both bounds) by `by` (reason,
    machine or state): each stop clipped to the window, an open one up to min(end, now)."""
    return await conn.fetch(PARETO, *where.args(), by)


# --- changing stops (PATCH) ------------------------------------------------------------------

# The outbox row first, as the pusher takes it (its claim is FOR UPDATE SKIP LOCKED): locked
# here, the pusher skips the stop until the change commits; already leased, the stop is being
# sent and must not change under it.
LOCK_OUTBOX = """
SELECT leased_until IS NOT NULL AND leased_until > now() AS leased,
       unknown_since IS NOT NULL AS unknown
FROM stop_outbox WHERE stop_id = $1 FOR UPDATE
"""

LOCK_STOP = f"SELECT {STOP_COLUMNS}, '[]'::json AS history FROM stops s WHERE s.id = $1 FOR UPDATE"

# A person's reason: the stop becomes manual (detection leaves it alone); waiting for a reason
# (unclassified) or corrected after a rejection, a closed stop is due again (pending).
CLASSIFY = """
UPDATE stops SET
    reason_code = $2, classified_by = 'person', operator = $3, note = $4, manual = true,
    status = CASE WHEN status IN ('unclassified', 'rejected') THEN 'pending' ELSE status END,
    next_attempt_at = CASE WHEN status IN ('unclassified', 'rejected') THEN now()
                           ELSE next_attempt_at END,
    error = CASE WHEN status = 'rejected' THEN NULL ELSE error END,
    updated_at = now()
WHERE id = $1
"""

# The first part keeps the id, its history and its place in the outbox; a rejected one is
# due again. The second part is new, with the same classification: pending when it has a
# reason, else unclassified.
SPLIT_FIRST = """
UPDATE stops SET
    end_at = $2, manual = true,
    status = CASE WHEN status = 'rejected' THEN 'pending' ELSE status END,
    next_attempt_at = CASE WHEN status = 'rejected' THEN now() ELSE next_attempt_at END,
    error = CASE WHEN status = 'rejected' THEN NULL ELSE error END,
    updated_at = now()
WHERE id = $1
"""

SPLIT_SECOND = """
INSERT INTO stops (id, machine, branch, state, plc_reason, start_at, end_at, reason_code,
                   classified_by, operator, note, manual, status, next_attempt_at)
SELECT $3, machine, branch, state, plc_reason, $2, $4, reason_code, classified_by, operator,
       note, true, CASE WHEN reason_code IS NULL THEN 'unclassified' ELSE 'pending' END, now()
FROM stops WHERE id = $1
"""


@dataclass(frozen=True)
class Lock:
    """A stop locked for a change, with its outbox row's state (both False when not queued)."""

    stop: asyncpg.Record
    leased: bool
    unknown: bool


async def lock_stop(conn: Connection, *, stop_id: uuid.UUID) -> Lock | None:
    """Lock a stop and its outbox row until the transaction ends (the outbox row first, in the
    pusher's order); None when there is no such stop."""
    outbox = await conn.fetchrow(LOCK_OUTBOX, stop_id)
    stop = await conn.fetchrow(LOCK_STOP, stop_id)
    if stop is None:
        return None
    return Lock(
        stop,
        leased=bool(outbox and outbox["leased"]),
        unknown=bool(outbox and outbox["unknown"]),
    )


async def classify(
    conn: Connection,
    *,
    stop_id: uuid.UUID,
    reason_code: str,
    operator: str | None,
    note: str | None,
) -> None:
    """Set a person's reason (CLASSIFY); the caller enqueues the stop."""
    await conn.execute(CLASSIFY, stop_id, reason_code, operator, note)


async def split(
    conn: Connection,
    *,
    stop_id: uuid.UUID,
    new_id: uuid.UUID,
    at: dt.datetime,
    end: dt.datetime,
) -> None:
    """Cut a closed stop at `at` into [start, at) (same id) and [at, end) (`new_id`); the
    caller enqueues both."""
    await conn.execute(SPLIT_SECOND, stop_id, at, new_id, end)
    await conn.execute(SPLIT_FIRST, stop_id, at)


# --- the reason mapping ------------------------------------------------------------------------

# Two replacements at once would each delete the other's rows: one waits for the other.
LOCK_MAPPING = "LOCK TABLE stop_reason_mapping IN SHARE ROW EXCLUSIVE MODE"
CLEAR_MAPPING = "DELETE FROM stop_reason_mapping"
INSERT_MAPPING = """
INSERT INTO stop_reason_mapping (plc_reason, reason_code, updated_by)
SELECT m.plc_reason, m.reason_code, $3
FROM unnest(CAST($1 AS text[]), CAST($2 AS text[])) AS m(plc_reason, reason_code)
"""


async def replace_mapping(
    conn: Connection, *, mapping: Mapping[str, str], updated_by: str | None
) -> None:
    """Replace the whole mapping (inside the caller's transaction)."""
    await conn.execute(LOCK_MAPPING)
    await conn.execute(CLEAR_MAPPING)
    plc = list(mapping)
    await conn.execute(INSERT_MAPPING, plc, [mapping[p] for p in plc], updated_by)

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


# --- reading stops ---------------------------------------------------------------------------

# An open stop lasts until now so far.
STOP_COLUMNS = """
    s.id, s.machine, s.branch, s.state, s.plc_reason, s.reason_code, s.classified_by, s.operator,
    s.note, s.start_at, s.end_at,
    CAST(extract(epoch FROM COALESCE(s.end_at, now()) - s.start_at) AS double precision)
        AS duration_seconds,
    s.status, s.attempts, s.next_attempt_at, s.pushed_start, s.pushed_end, s.id_appointment,
    s.error, s.manual, s.created_at, s.updated_at
"""

HISTORY = """
COALESCE((SELECT json_agg(json_build_object(
             'attempt', a.attempt, 'startedAt', a.started_at, 'finishedAt', a.finished_at,
             'outcome', a.outcome, 'httpStatus', a.http_status, 'message', a.message,
             'requestId', a.request_id)
             ORDER BY a.attempt)
          FROM stop_attempts a WHERE a.stop_id = s.id), '[]') AS history
"""

GET_STOP = f"SELECT {STOP_COLUMNS}, {HISTORY} FROM stops s WHERE s.id = $1"

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

MAPPING = "SELECT plc_reason, reason_code FROM stop_reason_mapping ORDER BY plc_reason"

# Two replacements at once would each delete the other's rows: one waits for the other.
LOCK_MAPPING = "LOCK TABLE stop_reason_mapping IN SHARE ROW EXCLUSIVE MODE"
CLEAR_MAPPING = "DELETE FROM stop_reason_mapping"
INSERT_MAPPING = """
INSERT INTO stop_reason_mapping (plc_reason, reason_code, updated_by)
SELECT m.plc_reason, m.reason_code, $3
FROM unnest(CAST($1 AS text[]), CAST($2 AS text[])) AS m(plc_reason, reason_code)
"""


async def mapping(conn: Connection) -> dict[str, str]:
    """The PLC reason -> Protheus stop reason mapping, by PLC reason."""
    return {r["plc_reason"]: r["reason_code"] for r in await conn.fetch(MAPPING)}


async def replace_mapping(
    conn: Connection, *, mapping: Mapping[str, str], updated_by: str | None
) -> None:
    """Replace the whole mapping (inside the caller's transaction)."""
    await conn.execute(LOCK_MAPPING)
    await conn.execute(CLEAR_MAPPING)
    plc = list(mapping)
    await conn.execute(INSERT_MAPPING, plc, [mapping[p] for p in plc], updated_by)


# A minimal apply_mapping of the API's branch (stops-api): the detector's branch (stops-detect)
# owns this function; this one stands in until that branch is merged.
APPLY_MAPPING = """
WITH classified AS (
    UPDATE stops s SET
        reason_code = m.reason_code, classified_by = 'mapping', status = 'pending',
        next_attempt_at = now(), updated_at = now()
    FROM stop_reason_mapping m
    WHERE s.status = 'unclassified' AND NOT s.manual AND s.state <> 'offline'
      AND s.plc_reason = m.plc_reason
    RETURNING s.id, s.machine, s.start_at
), queued AS (
    INSERT INTO stop_outbox (stop_id, machine, start_at)
    SELECT id, machine, start_at FROM classified
    ON CONFLICT (stop_id) DO NOTHING
)
SELECT count(*) FROM classified
"""


async def apply_mapping(conn: Connection) -> int:
    """Classify the waiting stops the mapping now names (unclassified, closed, not manual, not
    offline: classified_by 'mapping', pending, queued); how many. Run in the transaction that
    changed the mapping."""
    return int(await conn.fetchval(APPLY_MAPPING))

"""SQL of the rollups (migration 0021): read dirty marks, recompute the marked buckets from the
base tables, upsert them, delete the marks used.

MES statements only (PostgreSQL, asyncpg's `$n`), each behind a function taking the connection
first; marks travel as parallel arrays (unnest), so each step is one statement whatever the
number of buckets. Buckets align to the epoch in UTC (date_bin), like the series route's.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import NamedTuple

import asyncpg

from shared.db.pools import Connection

_EPOCH = "TIMESTAMPTZ '1970-01-01 00:00:00+00'"


class MinuteMark(NamedTuple):
    machine: str
    metric: str
    bucket: dt.datetime
    generation: int


class HourMark(NamedTuple):
    machine: str
    hour: dt.datetime
    generation: int


class StateSpan(NamedTuple):
    """Hours of one machine a state changed: [first_hour, last_hour], None = up to now's."""

    machine: str
    first_hour: dt.datetime
    last_hour: dt.datetime | None
    generation: int


class OeeRow(NamedTuple):
    """One rollup_oee_hourly row, as the job writes it."""

    machine: str
    hour: dt.datetime
    planned_s: float
    running_s: float
    ideal_s: float | None
    good: int
    scrap: int
    availability: float | None
    performance: float | None
    quality: float | None
    oee: float | None
    computed_until: dt.datetime
    closed: bool


# --- telemetry -----------------------------------------------------------------------------------

MARK_CEILING = """
SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM rollup_mark_generation
"""
"""The latest generation handed out (rollup_mark_generation): a run takes only marks up to the
one at its start, so that it ends however fast ingest marks again."""


async def mark_ceiling(conn: Connection) -> int:
    return int(await conn.fetchval(MARK_CEILING))


MINUTE_MARKS = """
SELECT machine, metric, bucket, generation FROM rollup_dirty_minutes
WHERE generation <= $2
ORDER BY bucket, machine, metric LIMIT $1
"""
"""At most $1 dirty minutes (rollup_dirty_minutes) of generation $2 or older, oldest first."""


async def minute_marks(conn: Connection, *, limit: int, ceiling: int) -> list[MinuteMark]:
    rows = await conn.fetch(MINUTE_MARKS, limit, ceiling)
    return [MinuteMark(r["machine"], r["metric"], r["bucket"], r["generation"]) for r in rows]


UPSERT_1M = """
WITH marks AS (
    SELECT DISTINCT m.machine, m.metric, m.bucket
    FROM unnest(CAST($1 AS text[]), CAST($2 AS text[]), CAST($3 AS timestamptz[]))
         AS m(machine, metric, bucket)
)
INSERT INTO rollup_telemetry_1m AS r (machine, metric, bucket, min_value, max_value, sum_value, samples)
SELECT m.machine, m.metric, m.bucket, a.min_value, a.max_value, a.sum_value, a.samples
FROM marks m
CROSS JOIN LATERAL (
    SELECT min(s.value) AS min_value, max(s.value) AS max_value, sum(s.value) AS sum_value,
           count(*) AS samples
    FROM telemetry_samples s
    WHERE s.machine = m.machine AND s.metric = m.metric
      AND s.ts >= m.bucket AND s.ts < m.bucket + INTERVAL '1 minute'
) a
WHERE a.samples > 0
ON CONFLICT (machine, metric, bucket) DO UPDATE
    SET min_value = EXCLUDED.min_value, max_value = EXCLUDED.max_value,
        sum_value = EXCLUDED.sum_value, samples = EXCLUDED.samples
"""
"""Each marked minute (machines $1, metrics $2, buckets $3) recomputed from every stored sample
of it (telemetry_samples: one row per key, so a redelivery never counts twice); LATERAL keeps
one index probe per minute on the (machine, metric, ts) key, partitions pruned at run time. A
minute with no sample left (retention dropped its day) keeps its last figures."""

UPSERT_1H = f"""
WITH hours AS (
    SELECT DISTINCT m.machine, m.metric, date_bin(INTERVAL '1 hour', m.bucket, {_EPOCH}) AS bucket
    FROM unnest(CAST($1 AS text[]), CAST($2 AS text[]), CAST($3 AS timestamptz[]))
         AS m(machine, metric, bucket)
)
INSERT INTO rollup_telemetry_1h AS r (machine, metric, bucket, min_value, max_value, sum_value, samples)
SELECT h.machine, h.metric, h.bucket, a.min_value, a.max_value, a.sum_value, a.samples
FROM hours h
CROSS JOIN LATERAL (
    SELECT min(m.min_value) AS min_value, max(m.max_value) AS max_value,
           sum(m.sum_value) AS sum_value, CAST(sum(m.samples) AS bigint) AS samples
    FROM rollup_telemetry_1m m
    WHERE m.machine = h.machine AND m.metric = h.metric
      AND m.bucket >= h.bucket AND m.bucket < h.bucket + INTERVAL '1 hour'
) a
WHERE a.samples > 0
ON CONFLICT (machine, metric, bucket) DO UPDATE
    SET min_value = EXCLUDED.min_value, max_value = EXCLUDED.max_value,
        sum_value = EXCLUDED.sum_value, samples = EXCLUDED.samples
"""
"""The hours of the marked minutes (same arrays as UPSERT_1M) recomputed from their minutes
(rollup_telemetry_1m, run after UPSERT_1M in the same transaction)."""

DELETE_MINUTE_MARKS = """
WITH used AS (
    SELECT d.ctid AS row_id
    FROM rollup_dirty_minutes d
    JOIN unnest(CAST($1 AS text[]), CAST($2 AS text[]), CAST($3 AS timestamptz[]),
                CAST($4 AS bigint[])) AS m(machine, metric, bucket, generation)
      ON d.machine = m.machine AND d.metric = m.metric AND d.bucket = m.bucket
     AND d.generation = m.generation
    ORDER BY d.machine, d.metric, d.bucket
    FOR UPDATE OF d
)
DELETE FROM rollup_dirty_minutes d USING used WHERE d.ctid = used.row_id
"""
"""The marks used (rollup_dirty_minutes), only where still of the generation read: one set
again by an ingest meanwhile (its rows maybe unseen) stays for the next run. Locked first in
key order, the order the ingest's trigger upserts them in: the two never deadlock."""


def _minute_arrays(marks: Sequence[MinuteMark]) -> tuple[list[str], list[str], list[dt.datetime]]:
    return [m.machine for m in marks], [m.metric for m in marks], [m.bucket for m in marks]


async def refresh_telemetry(conn: Connection, *, marks: Sequence[MinuteMark]) -> int:
    """Recompute the marked minutes and their hours, then delete the marks used; the caller
    holds the transaction. Returns how many marks were deleted."""
    machines, metrics, buckets = _minute_arrays(marks)
    await conn.execute(UPSERT_1M, machines, metrics, buckets)
    await conn.execute(UPSERT_1H, machines, metrics, buckets)
    status = await conn.execute(
        DELETE_MINUTE_MARKS, machines, metrics, buckets, [m.generation for m in marks]
    )
    return int(status.split()[-1])


# --- OEE -----------------------------------------------------------------------------------------

HOUR_MARKS = """
SELECT machine, hour, generation FROM rollup_dirty_hours
WHERE generation <= $2
ORDER BY hour, machine LIMIT $1
"""
"""At most $1 dirty machine-hours (rollup_dirty_hours) of generation $2 or older, oldest
first."""


async def hour_marks(conn: Connection, *, limit: int, ceiling: int) -> list[HourMark]:
    rows = await conn.fetch(HOUR_MARKS, limit, ceiling)
    return [HourMark(r["machine"], r["hour"], r["generation"]) for r in rows]


FOLD_SPAN_LOG = """
WITH moved AS (DELETE FROM rollup_dirty_spans_log RETURNING machine, first_at, last_at)
SELECT rollup_mark_spans(array_agg(machine), array_agg(first_at), array_agg(last_at))
FROM moved
"""
"""The SH6 mirror's appended marks (rollup_dirty_spans_log, 0024) moved into the spans, in a
transaction of their own: the sync never holds a span row while it reads the ERP."""


async def fold_span_log(conn: Connection) -> None:
    await conn.execute(FOLD_SPAN_LOG)


FOLD_ORDER_LOG = f"""
WITH moved AS (DELETE FROM rollup_dirty_orders_log RETURNING order_key),
orders AS (SELECT DISTINCT order_key FROM moved),
appointments AS (
    INSERT INTO rollup_dirty_spans_log (machine, first_at, last_at)
    SELECT a.machine, LEAST(a.start_at, a.end_at), GREATEST(a.start_at, a.end_at)
    FROM analytics_src.sh6 a JOIN orders o ON a.order_key = o.order_key
    WHERE a.machine IS NOT NULL AND COALESCE(a.start_at, a.end_at) IS NOT NULL
)
INSERT INTO rollup_dirty_hours AS d (machine, hour)
SELECT DISTINCT c.machine, date_bin(INTERVAL '1 hour', c.ts, {_EPOCH})
FROM machine_counters c JOIN orders o ON c.order_key = o.order_key
ORDER BY 1, 2
ON CONFLICT (machine, hour) DO UPDATE SET generation = EXCLUDED.generation
"""
"""The SC2 mirror's appended order keys (rollup_dirty_orders_log, 0025) moved, in a transaction
of their own: the hours of the counters naming those orders marked dirty (rollup_dirty_hours,
in key order as the ingest's trigger upserts them), the SH6 appointments of those orders
appended to rollup_dirty_spans_log (fold it after this)."""


async def fold_order_log(conn: Connection) -> None:
    await conn.execute(FOLD_ORDER_LOG)


UNKNOWN_IDEAL_HOURS = """
WITH unknown AS (
    SELECT machine, hour FROM rollup_oee_hourly
    WHERE closed AND ideal_s IS NULL AND (good > 0 OR scrap > 0) AND hour >= $1
),
drawn AS (SELECT hour FROM (SELECT DISTINCT hour FROM unknown) h ORDER BY random() LIMIT $2)
SELECT u.machine, u.hour FROM unknown u JOIN drawn d ON d.hour = u.hour
"""
"""The machines of at most $2 hours since $1 that are closed with counts and no ideal time
(rollup_oee_hourly, partial index): their standards (SG2, an order the mirror has not seen
change) may exist by now. Whole hours, as the job computes every machine of an hour in one
pass; drawn at random: with more than $2 of them, each is taken some run without a cursor."""


async def unknown_ideal_hours(
    conn: Connection, *, since: dt.datetime, hours: int
) -> list[tuple[str, dt.datetime]]:
    return [(r["machine"], r["hour"]) for r in await conn.fetch(UNKNOWN_IDEAL_HOURS, since, hours)]


STATE_SPANS = "SELECT machine, first_hour, last_hour, generation FROM rollup_dirty_spans"
"""Every dirty span (rollup_dirty_spans): at most one per machine."""


async def state_spans(conn: Connection) -> list[StateSpan]:
    rows = await conn.fetch(STATE_SPANS)
    return [StateSpan(r["machine"], r["first_hour"], r["last_hour"], r["generation"]) for r in rows]


OPEN_HOURS = f"""
SELECT o.machine, h.hour
FROM rollup_oee_hourly o
CROSS JOIN LATERAL generate_series(
    o.hour, GREATEST(o.hour, date_bin(INTERVAL '1 hour', CAST($1 AS timestamptz), {_EPOCH})),
    INTERVAL '1 hour') AS h(hour)
WHERE NOT o.closed
"""
"""The hours to recompute as time passes (rollup_oee_hourly, partial index on open rows): each
open hour (computed before its end) and every hour after it up to now's ($1). A state lasts
until the next one, so a machine keeps its figures hour after hour without new messages."""


async def open_hours(conn: Connection, *, now: dt.datetime) -> list[tuple[str, dt.datetime]]:
    return [(r["machine"], r["hour"]) for r in await conn.fetch(OPEN_HOURS, now)]


UPSERT_OEE = """
INSERT INTO rollup_oee_hourly AS r (machine, hour, planned_s, running_s, ideal_s, good, scrap,
    availability, performance, quality, oee, computed_until, closed, computed_at)
SELECT u.*, now()
FROM unnest(CAST($1 AS text[]), CAST($2 AS timestamptz[]), CAST($3 AS float8[]),
            CAST($4 AS float8[]), CAST($5 AS float8[]), CAST($6 AS bigint[]),
            CAST($7 AS bigint[]), CAST($8 AS float8[]), CAST($9 AS float8[]),
            CAST($10 AS float8[]), CAST($11 AS float8[]), CAST($12 AS timestamptz[]),
            CAST($13 AS boolean[]))
     AS u(machine, hour, planned_s, running_s, ideal_s, good, scrap, availability, performance,
          quality, oee, computed_until, closed)
ON CONFLICT (machine, hour) DO UPDATE
    SET planned_s = EXCLUDED.planned_s, running_s = EXCLUDED.running_s,
        ideal_s = EXCLUDED.ideal_s, good = EXCLUDED.good, scrap = EXCLUDED.scrap,
        availability = EXCLUDED.availability, performance = EXCLUDED.performance,
        quality = EXCLUDED.quality, oee = EXCLUDED.oee,
        computed_until = EXCLUDED.computed_until, closed = EXCLUDED.closed,
        computed_at = EXCLUDED.computed_at
    WHERE (r.planned_s, r.running_s, r.ideal_s, r.good, r.scrap, r.availability,
           r.performance, r.quality, r.oee, r.computed_until, r.closed)
          IS DISTINCT FROM
          (EXCLUDED.planned_s, EXCLUDED.running_s, EXCLUDED.ideal_s, EXCLUDED.good,
           EXCLUDED.scrap, EXCLUDED.availability, EXCLUDED.performance, EXCLUDED.quality,
           EXCLUDED.oee, EXCLUDED.computed_until, EXCLUDED.closed)
"""
"""rollup_oee_hourly rows as parallel arrays, replacing those of the same machine and hour
where some figure differs: an hour computed again unchanged (the job's recurring checks of
hours without ideal time) is not rewritten, nor its lake day marked (0023)."""

DELETE_HOUR_MARKS = """
WITH used AS (
    SELECT d.ctid AS row_id
    FROM rollup_dirty_hours d
    JOIN unnest(CAST($1 AS text[]), CAST($2 AS timestamptz[]), CAST($3 AS bigint[]))
         AS m(machine, hour, generation)
      ON d.machine = m.machine AND d.hour = m.hour AND d.generation = m.generation
    ORDER BY d.machine, d.hour
    FOR UPDATE OF d
)
DELETE FROM rollup_dirty_hours d USING used WHERE d.ctid = used.row_id
"""
"""The marks used (rollup_dirty_hours), only where still of the generation read; locked in
key order first, as the ingest's trigger upserts them."""


DELETE_SPANS = """
WITH used AS (
    SELECT d.ctid AS row_id
    FROM rollup_dirty_spans d
    JOIN unnest(CAST($1 AS text[]), CAST($2 AS bigint[])) AS m(machine, generation)
      ON d.machine = m.machine AND d.generation = m.generation
    ORDER BY d.machine
    FOR UPDATE OF d
)
DELETE FROM rollup_dirty_spans d USING used WHERE d.ctid = used.row_id
"""
"""The spans used (rollup_dirty_spans), only where still of the generation read (a span widened
meanwhile stays)."""


async def save_oee(
    conn: Connection,
    *,
    rows: Sequence[OeeRow],
    marks: Sequence[HourMark],
    spans: Sequence[StateSpan] = (),
) -> tuple[int, int]:
    """Upsert the recomputed hours and delete the marks and spans used; the caller holds the
    transaction. Returns (marks and spans deleted, rows written: new or changed)."""
    written = 0
    if rows:
        columns = list(zip(*rows, strict=True))
        status = await conn.execute(UPSERT_OEE, *(list(c) for c in columns))
        written = int(status.split()[-1])
    deleted = 0
    if marks:
        status = await conn.execute(
            DELETE_HOUR_MARKS,
            [m.machine for m in marks],
            [m.hour for m in marks],
            [m.generation for m in marks],
        )
        deleted += int(status.split()[-1])
    if spans:
        status = await conn.execute(
            DELETE_SPANS, [s.machine for s in spans], [s.generation for s in spans]
        )
        deleted += int(status.split()[-1])
    return deleted, written


REBASE_OEE = """
WITH saved AS (
    INSERT INTO rollup_oee_basis AS b (basis) VALUES ($1)
    ON CONFLICT (only_row) DO UPDATE SET basis = EXCLUDED.basis WHERE b.basis <> EXCLUDED.basis
    RETURNING 1
)
INSERT INTO rollup_dirty_spans AS d (machine, first_hour, last_hour)
SELECT r.machine, min(r.hour), NULL FROM rollup_oee_hourly r
WHERE EXISTS (SELECT 1 FROM saved)
GROUP BY r.machine
ORDER BY r.machine
ON CONFLICT (machine) DO UPDATE
    SET first_hour = LEAST(d.first_hour, EXCLUDED.first_hour), last_hour = NULL,
        generation = EXCLUDED.generation
"""
"""Record the settings the OEE rows are computed with ($1, rollup_oee_basis); when they differ
from the recorded ones, mark every machine's hours (rollup_oee_hourly) from its first up to now
(rollup_dirty_spans)."""


async def rebase_oee(conn: Connection, *, basis: str) -> int:
    """REBASE_OEE; how many machines were marked."""
    return int((await conn.execute(REBASE_OEE, basis)).split()[-1])


async def pending_marks(conn: Connection) -> asyncpg.Record | None:
    """How many minute marks, hour marks and state spans wait (the job's backlog)."""
    return await conn.fetchrow(
        "SELECT (SELECT count(*) FROM rollup_dirty_minutes) AS minutes,"
        " (SELECT count(*) FROM rollup_dirty_hours) AS hours,"
        " (SELECT count(*) FROM rollup_dirty_spans) AS spans"
    )

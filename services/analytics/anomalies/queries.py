"""SQL of the anomaly detector (migrations 0026, 0027, 0030) and of its API.

The detector reads committed telemetry per machine, from how far that machine's detectors were
fed (anomaly_detector_state.upto) up to its committed front (machines.last_seen, which the
ingestor moves in the transaction of the samples) minus ANOMALY_LAG_S, both in the machine's
own time. Set-based: one statement for the machines' fronts and progress, one for their
series, one for the samples (a LATERAL range scan of the telemetry_samples primary key
(machine, metric, ts) per series, its bounds passed as arrays), one for the states
(machine_states' key per machine). It writes its events, alerts and state (with the progress)
in one transaction, each step one statement over a JSON array (jsonb_to_recordset). No index
or trigger on an ingest table.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from services.analytics.alerts.queries import notify_publisher
from shared.db.pools import Connection
from shared.json import dumps

# --- the detector's reads ------------------------------------------------------------------------

LOCK_RUN = "SELECT read_at FROM anomaly_detector_run WHERE id FOR UPDATE"
"""The run's lock (one row), held to its commit: two runs (a second replica, the bench's
catch-up beside the job) never feed the same samples twice. Its read_at: when the previous
run read the fronts."""

INIT_RUN = "INSERT INTO anomaly_detector_run (id) VALUES (TRUE) ON CONFLICT (id) DO NOTHING"


async def lock_run(conn: Connection) -> dt.datetime | None:
    """Lock the run's row (created when missing); the previous run's read_at."""
    row = await conn.fetchrow(LOCK_RUN)
    if row is None:
        await conn.execute(INIT_RUN)
        row = await conn.fetchrow(LOCK_RUN)
        assert row is not None
    read_at: dt.datetime | None = row["read_at"]
    return read_at


SAVE_RUN = "UPDATE anomaly_detector_run SET read_at = $1 WHERE id"


async def save_run(conn: Connection, *, read_at: dt.datetime) -> None:
    await conn.execute(SAVE_RUN, read_at)


FRONTS = """
SELECT m.machine, m.last_seen, d.upto, d.metrics, d.state, statement_timestamp() AS read_at
FROM machines m LEFT JOIN anomaly_detector_state d ON d.machine = m.machine
ORDER BY m.machine
"""
"""Every machine's committed front (last_seen: its newest message time, moved in the
transaction of its samples) with its detectors' progress and state (none for a machine seen
for the first time), and the statement's time (the next run's bound for late samples)."""


async def machine_fronts(conn: Connection) -> list[asyncpg.Record]:
    return await conn.fetch(FRONTS)


SERIES = """
WITH RECURSIVE series (machine, metric, lo, hi) AS (
    SELECT k.machine, f.metric, k.lo, k.hi
    FROM unnest(CAST($1 AS text[]), CAST($2 AS timestamptz[]), CAST($3 AS timestamptz[]))
        AS k (machine, lo, hi)
    CROSS JOIN LATERAL (
        SELECT s.metric FROM telemetry_samples s
        WHERE s.machine = k.machine AND s.ts >= k.lo AND s.ts <= k.hi
        ORDER BY s.metric LIMIT 1
    ) f
    UNION ALL
    SELECT p.machine, n.metric, p.lo, p.hi FROM series p
    CROSS JOIN LATERAL (
        SELECT s.metric FROM telemetry_samples s
        WHERE s.machine = p.machine AND s.metric > p.metric AND s.ts >= p.lo AND s.ts <= p.hi
        ORDER BY s.metric LIMIT 1
    ) n
)
SELECT machine, metric FROM series
"""
"""The metrics of each machine ($1) with samples in [$2, $3] (per machine): a skip scan of the
key, one probe per series and partition (each $2 is the start of a UTC day, a partition's
start, so the probe's first entry qualifies)."""


async def machine_series(
    conn: Connection,
    *,
    machines: Sequence[str],
    since: Sequence[dt.datetime],
    upto: Sequence[dt.datetime],
) -> list[tuple[str, str]]:
    rows = await conn.fetch(SERIES, list(machines), list(since), list(upto))
    return [(r["machine"], r["metric"]) for r in rows]


SAMPLES = """
SELECT s.machine, s.metric, s.ts, s.value
FROM unnest(
    CAST($1 AS text[]), CAST($2 AS text[]), CAST($3 AS timestamptz[]), CAST($4 AS timestamptz[])
) AS k (machine, metric, lo, hi)
CROSS JOIN LATERAL (
    SELECT t.machine, t.metric, t.ts, t.value FROM telemetry_samples t
    WHERE t.machine = k.machine AND t.metric = k.metric AND t.ts > k.lo AND t.ts <= k.hi
    ORDER BY t.ts LIMIT $5
) s
"""
"""At most $5 samples of each series ($1, $2) in its ($3, $4], oldest first: a key range scan
per series."""


@dataclass(frozen=True)
class SeriesRange:
    """One series and the samples a run reads of it: ts in (after, upto]."""

    machine: str
    metric: str
    after: dt.datetime
    upto: dt.datetime


async def read_samples(
    conn: Connection, *, ranges: Sequence[SeriesRange], per_series: int
) -> list[asyncpg.Record]:
    return await conn.fetch(
        SAMPLES,
        [r.machine for r in ranges],
        [r.metric for r in ranges],
        [r.after for r in ranges],
        [r.upto for r in ranges],
        per_series,
    )


LATE_SAMPLES = """
SELECT coalesce(sum(c.n), 0)
FROM unnest(
    CAST($1 AS text[]), CAST($2 AS text[]), CAST($3 AS timestamptz[]), CAST($4 AS timestamptz[])
) AS k (machine, metric, lo, hi)
CROSS JOIN LATERAL (
    SELECT count(*) AS n FROM telemetry_samples t
    WHERE t.machine = k.machine AND t.metric = k.metric AND t.ts > k.lo AND t.ts <= k.hi
      AND t.received_at > $5 AND t.received_at <= $6
) c
"""
"""Samples of each series ($1, $2) in its ($3, $4] received in ($5, $6]: a key range scan per
series (the caller keeps the ranges short)."""


async def count_late(
    conn: Connection,
    *,
    ranges: Sequence[SeriesRange],
    received: tuple[dt.datetime, dt.datetime],
) -> int:
    if not ranges:
        return 0
    count: int = await conn.fetchval(
        LATE_SAMPLES,
        [r.machine for r in ranges],
        [r.metric for r in ranges],
        [r.after for r in ranges],
        [r.upto for r in ranges],
        *received,
    )
    return count


STATES = """
SELECT k.machine, s.ts, s.state
FROM unnest(CAST($1 AS text[]), CAST($2 AS timestamptz[]), CAST($3 AS timestamptz[]))
    AS k (machine, lo, hi)
CROSS JOIN LATERAL (
    (SELECT p.ts, p.state FROM machine_states p
     WHERE p.machine = k.machine AND p.ts <= k.lo ORDER BY p.ts DESC LIMIT 1)
    UNION ALL
    (SELECT n.ts, n.state FROM machine_states n
     WHERE n.machine = k.machine AND n.ts > k.lo AND n.ts <= k.hi ORDER BY n.ts)
) s
"""
"""Each machine's state at its $2 (its latest state message then) and its changes in its
($2, $3]."""


async def read_states(
    conn: Connection,
    *,
    machines: Sequence[str],
    after: Sequence[dt.datetime],
    upto: Sequence[dt.datetime],
) -> list[asyncpg.Record]:
    return await conn.fetch(STATES, list(machines), list(after), list(upto))


# --- the detector's writes -----------------------------------------------------------------------


@dataclass(frozen=True)
class EventRow:
    """An anomaly_events row as the run leaves it (inserted, or its end/score updated)."""

    id: str
    machine: str
    kind: str
    metrics: list[str]
    started_at: dt.datetime
    ended_at: dt.datetime | None
    score: float
    detail: dict[str, Any]


UPSERT_EVENTS = """
INSERT INTO anomaly_events (id, machine, kind, metrics, started_at, ended_at, score, detail)
SELECT r.id, r.machine, r.kind, r.metrics, r.started_at, r.ended_at, r.score, r.detail
FROM jsonb_to_recordset(CAST($1 AS jsonb)) AS r (
    id uuid, machine text, kind text, metrics text[], started_at timestamptz,
    ended_at timestamptz, score double precision, detail jsonb
)
ON CONFLICT (id) DO UPDATE SET
    metrics = EXCLUDED.metrics, ended_at = EXCLUDED.ended_at, score = EXCLUDED.score,
    detail = EXCLUDED.detail, updated_at = now()
"""
"""New events and the new end/score of open ones, one statement (ids are the detector's)."""


async def upsert_events(conn: Connection, *, events: Sequence[EventRow]) -> None:
    if events:
        await conn.execute(UPSERT_EVENTS, dumps([e.__dict__ for e in events]))


INSERT_ALERTS = """
INSERT INTO alert_outbox (machine, payload)
SELECT a.alert ->> 'machine', a.alert -> 'payload'
FROM jsonb_array_elements(CAST($1 AS jsonb)) WITH ORDINALITY AS a (alert, n)
ORDER BY a.n
"""
"""The alerts in the order the detector produced them (the publisher sends by id)."""


async def insert_alerts(conn: Connection, *, alerts: Sequence[tuple[str, dict[str, Any]]]) -> None:
    if alerts:
        rows = [{"machine": machine, "payload": payload} for machine, payload in alerts]
        await conn.execute(INSERT_ALERTS, dumps(rows))
        await notify_publisher(conn)


SAVE_STATES = """
INSERT INTO anomaly_detector_state (machine, metrics, state, upto)
SELECT r.machine, r.metrics, r.state, r.upto
FROM jsonb_to_recordset(CAST($1 AS jsonb)) AS r (
    machine text, metrics text[], state jsonb, upto timestamptz
)
ON CONFLICT (machine) DO UPDATE SET
    metrics = EXCLUDED.metrics, state = EXCLUDED.state, upto = EXCLUDED.upto,
    updated_at = now()
"""
"""Each machine's detectors' state and how far they were fed (its own time), together."""


async def save_states(conn: Connection, *, states: Sequence[dict[str, Any]]) -> None:
    if states:
        await conn.execute(SAVE_STATES, dumps(list(states)))


# --- the API -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AnomalyFilter:
    """Which events a listing takes: one machine or a line's, a kind, open or closed, and
    the window [start, end) they touch (an open event reaches now and beyond)."""

    machine: str | None = None
    line: tuple[str, str, str] | None = None
    kind: str | None = None
    status: str | None = None
    start: dt.datetime | None = None
    end: dt.datetime | None = None

    def args(self) -> tuple[object, ...]:
        site, area, line = self.line if self.line is not None else (None, None, None)
        return (self.machine, site, area, line, self.kind, self.status, self.start, self.end)


LIST_EVENTS = """
WITH matches AS (
    SELECT e.* FROM anomaly_events e
    WHERE (CAST($1 AS text) IS NULL OR e.machine = $1)
      AND (CAST($2 AS text) IS NULL OR e.machine IN (
          SELECT m.machine FROM machines m
          WHERE m.site = CAST($2 AS text) AND m.area = CAST($3 AS text)
            AND m.line = CAST($4 AS text)))
      AND (CAST($5 AS text) IS NULL OR e.kind = $5)
      AND (CAST($6 AS text) IS NULL
           OR ($6 = 'open') = (e.ended_at IS NULL))
      AND (CAST($7 AS timestamptz) IS NULL OR e.ended_at IS NULL OR e.ended_at >= $7)
      AND (CAST($8 AS timestamptz) IS NULL OR e.started_at < $8)
)
SELECT h.total, p.* FROM (SELECT count(*) AS total FROM matches) h
LEFT JOIN LATERAL (
    SELECT e.id, e.machine, m.site, m.area, m.line, e.kind, e.metrics, e.started_at,
           e.ended_at, e.score, e.detail
    FROM matches e LEFT JOIN machines m ON m.machine = e.machine
    ORDER BY e.started_at DESC, e.id LIMIT $9 OFFSET $10
) p ON TRUE
"""
"""The header (`total`) and one page of anomaly_events, newest start first; a line is the
telemetry `machines` table's site/area/line; the window keeps events touching [$7, $8)."""


async def list_events(
    conn: Connection, *, where: AnomalyFilter, limit: int, offset: int
) -> list[asyncpg.Record]:
    return await conn.fetch(LIST_EVENTS, *where.args(), limit, offset)


MACHINE_KNOWN = """
SELECT EXISTS (SELECT 1 FROM machines WHERE machine = $1)
    OR EXISTS (SELECT 1 FROM analytics_src.sh1 WHERE machine = $1)
"""
"""A machine is known once it sent telemetry (`machines`) or is in the SH1 mirror."""


async def machine_known(conn: Connection, *, machine: str) -> bool:
    return bool(await conn.fetchval(MACHINE_KNOWN, machine))

"""SQL of the anomaly detector (migrations 0026, 0027) and of its API.

The detector reads committed telemetry by its watermark, set-based: one statement for the
series, one for the samples (a LATERAL range scan of the telemetry_samples primary key
(machine, metric, ts) per known series), one for the states (machine_states' key per
machine). It writes its events, alerts, state and watermark in one transaction, each step one
statement over a JSON array (jsonb_to_recordset). No index or trigger on an ingest table.
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

WATERMARK = "SELECT upto FROM anomaly_watermark WHERE id FOR UPDATE"
"""The watermark, locked for the run: two runs (a second replica, the bench's catch-up beside
the job) never feed the same samples twice."""


async def lock_watermark(conn: Connection) -> dt.datetime | None:
    upto: dt.datetime | None = await conn.fetchval(WATERMARK)
    return upto


INIT_WATERMARK = """
INSERT INTO anomaly_watermark (upto) VALUES ($1) ON CONFLICT (id) DO NOTHING
"""


async def init_watermark(conn: Connection, *, upto: dt.datetime) -> None:
    await conn.execute(INIT_WATERMARK, upto)


EARLIEST_SAMPLE = """
SELECT min(first.ts) FROM unnest(CAST($1 AS text[]), CAST($2 AS text[])) AS k (machine, metric)
CROSS JOIN LATERAL (
    SELECT s.ts FROM telemetry_samples s
    WHERE s.machine = k.machine AND s.metric = k.metric ORDER BY s.ts LIMIT 1
) first
"""
"""The oldest sample of the series (the catch-up's start without a watermark): the first key
entry of each series, partitions in time order."""


async def earliest_sample(
    conn: Connection, *, series: Sequence[tuple[str, str]]
) -> dt.datetime | None:
    ts: dt.datetime | None = await conn.fetchval(
        EARLIEST_SAMPLE, [m for m, _ in series], [m for _, m in series]
    )
    return ts


SERIES = """
WITH RECURSIVE series (machine, metric) AS (
    (SELECT s.machine, s.metric FROM telemetry_samples s
     WHERE s.ts >= $1 AND s.ts <= $2 ORDER BY s.machine, s.metric LIMIT 1)
    UNION ALL
    SELECT n.machine, n.metric FROM series p
    CROSS JOIN LATERAL (
        SELECT s.machine, s.metric FROM telemetry_samples s
        WHERE (s.machine, s.metric) > (p.machine, p.metric) AND s.ts >= $1 AND s.ts <= $2
        ORDER BY s.machine, s.metric LIMIT 1
    ) n
)
SELECT machine, metric FROM series
"""
"""The (machine, metric) series with samples in [$1, $2]: a skip scan of the key, one probe per
series and partition ($1 is the start of a UTC day, a partition's start, so the probe's first
entry qualifies)."""


async def series_since(
    conn: Connection, *, since: dt.datetime, upto: dt.datetime
) -> list[tuple[str, str]]:
    rows = await conn.fetch(SERIES, since, upto)
    return [(r["machine"], r["metric"]) for r in rows]


SAMPLES = """
SELECT s.machine, s.metric, s.ts, s.value
FROM unnest(CAST($1 AS text[]), CAST($2 AS text[])) AS k (machine, metric)
CROSS JOIN LATERAL (
    SELECT t.machine, t.metric, t.ts, t.value FROM telemetry_samples t
    WHERE t.machine = k.machine AND t.metric = k.metric AND t.ts > $3 AND t.ts <= $4
    ORDER BY t.ts LIMIT $5
) s
"""
"""At most $5 samples of each series ($1, $2) in ($3, $4], oldest first: a key range scan per
series."""


async def read_samples(
    conn: Connection,
    *,
    series: Sequence[tuple[str, str]],
    after: dt.datetime,
    upto: dt.datetime,
    per_series: int,
) -> list[asyncpg.Record]:
    machines = [m for m, _ in series]
    metrics = [m for _, m in series]
    return await conn.fetch(SAMPLES, machines, metrics, after, upto, per_series)


STATES = """
SELECT k.machine, s.ts, s.state
FROM unnest(CAST($1 AS text[])) AS k (machine)
CROSS JOIN LATERAL (
    (SELECT p.ts, p.state FROM machine_states p
     WHERE p.machine = k.machine AND p.ts <= $2 ORDER BY p.ts DESC LIMIT 1)
    UNION ALL
    (SELECT n.ts, n.state FROM machine_states n
     WHERE n.machine = k.machine AND n.ts > $2 AND n.ts <= $3 ORDER BY n.ts)
) s
"""
"""Each machine's state at $2 (its latest state message then) and its changes in ($2, $3]."""


async def read_states(
    conn: Connection, *, machines: Sequence[str], after: dt.datetime, upto: dt.datetime
) -> list[asyncpg.Record]:
    return await conn.fetch(STATES, list(machines), after, upto)


DETECTOR_STATES = """
SELECT machine, metrics, state FROM anomaly_detector_state
"""


async def detector_states(conn: Connection) -> list[asyncpg.Record]:
    return await conn.fetch(DETECTOR_STATES)


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
INSERT INTO anomaly_detector_state (machine, metrics, state)
SELECT r.machine, r.metrics, r.state
FROM jsonb_to_recordset(CAST($1 AS jsonb)) AS r (machine text, metrics text[], state jsonb)
ON CONFLICT (machine) DO UPDATE SET
    metrics = EXCLUDED.metrics, state = EXCLUDED.state, updated_at = now()
"""


async def save_states(conn: Connection, *, states: Sequence[dict[str, Any]]) -> None:
    if states:
        await conn.execute(SAVE_STATES, dumps(list(states)))


SAVE_WATERMARK = """
UPDATE anomaly_watermark SET upto = $1, updated_at = now() WHERE id
"""


async def save_watermark(conn: Connection, *, upto: dt.datetime) -> None:
    await conn.execute(SAVE_WATERMARK, upto)


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

"""SQL of the event poller: the safe horizon of the change watermarks and the changed rows of
each table the stream announces (MES database only).

Every change time here (machine_states.received_at, updated_at elsewhere) is the writer's
`now()`, its transaction's start: a row becomes visible at commit, possibly after rows of
later transactions. A row not visible yet belongs to a transaction still open, so its change
time is at least the oldest open transaction's start: below that horizon every row that will
ever exist is visible now. The poller re-reads from the previous horizon and drops the rows
it already announced.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from shared.db.pools import Connection

HORIZON = """
WITH writers AS (
    -- Open transactions (other than ours) of roles that may write what the stream follows;
    -- a read-only role (mes_bi) never holds the watermark back.
    SELECT a.xact_start, a.state
    FROM pg_stat_activity a
    WHERE a.datname = current_database()
      AND a.backend_type = 'client backend'
      AND a.pid <> pg_backend_pid()
      AND a.state IS DISTINCT FROM 'idle'
      AND (has_table_privilege(a.usesysid, 'machine_states', 'INSERT')
           OR has_table_privilege(a.usesysid, 'production_reports', 'INSERT, UPDATE')
           OR has_table_privilege(a.usesysid, 'stops', 'INSERT, UPDATE')
           OR has_table_privilege(a.usesysid, 'anomaly_events', 'INSERT, UPDATE'))
)
SELECT clock_timestamp() AS now,
       greatest(
           clock_timestamp() - make_interval(secs => $1),
           least(
               clock_timestamp(),
               (SELECT min(w.xact_start) FROM writers w),
               -- another role's session hides its xact_start (without pg_read_all_stats):
               -- assume the oldest the lag cap allows
               CASE WHEN EXISTS (SELECT 1 FROM writers w WHERE w.state IS NULL)
                    THEN clock_timestamp() - make_interval(secs => $1) END
           )
       ) - make_interval(secs => $2) AS horizon
"""
"""The database's clock and the watermark's safe horizon: the start of the oldest open
transaction (other than ours) of a role that may write the followed tables, never older than
$1 seconds (a transaction open longer than that has its rows announced late or not at all),
less a safety margin of $2 seconds (a transaction's start and its first statement's
visibility in pg_stat_activity are not one instant). Grant the web service's role pg_monitor
(README) so it sees the other roles' transactions; otherwise it assumes the oldest."""

STATE_CHANGES = """
SELECT machine, ts, state, reason, received_at AS changed_at
FROM machine_states
WHERE received_at >= $1
  AND ($3::timestamptz IS NULL OR (received_at, ts, machine) > ($3, $4::timestamptz, $5::text))
  -- machine_states_ts_utc keeps this an index scan; a message whose device time is older
  -- than this on arrival is history (a replay), not news for a live screen
  AND (ts AT TIME ZONE 'UTC') >= ($1 - interval '1 hour') AT TIME ZONE 'UTC'
ORDER BY received_at, ts, machine
LIMIT $2
"""
"""State messages stored since the watermark (machine_states; the ingestor's rows), by device
time within an hour of it."""

REPORT_CHANGES = """
SELECT id, seq, order_key, status, error, updated_at AS changed_at
FROM production_reports
WHERE updated_at >= $1
  AND ($3::timestamptz IS NULL OR (updated_at, seq) > ($3, $4::bigint))
ORDER BY updated_at, seq
LIMIT $2
"""
"""Production reports accepted or moved to another status since the watermark."""

STOP_CHANGES = """
SELECT id, seq, machine, status, reason_code, updated_at AS changed_at
FROM stops
WHERE updated_at >= $1
  AND ($3::timestamptz IS NULL OR (updated_at, seq) > ($3, $4::bigint))
ORDER BY updated_at, seq
LIMIT $2
"""
"""Stops detected, classified or moved by the pusher since the watermark."""

ANOMALY_CHANGES = """
SELECT id, machine, kind, ended_at IS NULL AS open, updated_at AS changed_at
FROM anomaly_events
WHERE updated_at >= $1
  AND ($3::timestamptz IS NULL OR (updated_at, id) > ($3, $4::uuid))
ORDER BY updated_at, id
LIMIT $2
"""
"""Anomaly events opened or closed since the watermark (0026)."""

RISK_CHANGES = """
SELECT machine, risk, alert_open AS alert, scored_at AS changed_at
FROM machine_risk
WHERE scored_at >= $1
  AND ($3::timestamptz IS NULL OR (scored_at, machine) > ($3, $4::text))
ORDER BY scored_at, machine
LIMIT $2
"""
"""Failure-risk scores written since the watermark (machine_risk: latest score per machine)."""


async def horizon(
    conn: Connection, *, max_lag_s: float, margin_s: float
) -> tuple[datetime, datetime]:
    """(now, horizon) on the database's clock."""
    row = await conn.fetchrow(HORIZON, max_lag_s, margin_s)
    if row is None:  # an aggregate answers one row; never here
        raise RuntimeError("pg_stat_activity answered no row")
    return row["now"], row["horizon"]


async def changes(
    conn: Connection, sql: str, *, since: datetime, after: tuple[Any, ...], limit: int
) -> list[dict[str, Any]]:
    """The rows one of the *_CHANGES statements returns, as plain dicts: changed at `since` or
    later, and after the keyset cursor `after` ((change time, key...) of the last row of the
    previous page; all None for the first page)."""
    return [dict(row) for row in await conn.fetch(sql, since, limit, *after)]


def cursor_width(sql: str) -> int:
    """How many values the keyset cursor of a *_CHANGES statement has ($3 onwards)."""
    return max(int(n) for n in re.findall(r"\$(\d+)", sql)) - 2

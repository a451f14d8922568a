"""Daily partitions of telemetry_samples: created ahead and on demand, dropped whole by retention
(never before the lake, when in use, holds their rows)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from shared.db.pools import Connection
from shared.partitions import DailyPartitions

PARENT = "telemetry_samples"
SAMPLES = DailyPartitions(PARENT)

# Expired UTC days the lake (migrations/mes/0022_lake.sql) does not hold yet: the lake is in use
# (its manifest lists the raw samples) and a plant day (lake_settings' zone) the UTC day
# touches is not exported closed, or was marked since (late rows, folded or not). Plant days
# before the lake's first one do not hold: the export never goes back before it (it starts at
# the oldest sample's day; `export --from` on a new lake chose to start later).
LAKE_HOLDS = """
WITH lake AS (
    SELECT min(day) AS first FROM lake_manifest WHERE dataset = 'telemetry_samples'
),
touched AS (
    SELECT u.day AS utc_day, p.day::date AS plant_day
    FROM unnest($1::date[]) AS u(day)
    CROSS JOIN lake_settings AS s
    CROSS JOIN LATERAL generate_series(
        ((u.day::timestamp AT TIME ZONE 'UTC') AT TIME ZONE s.plant_timezone)::date,
        (((u.day + 1)::timestamp AT TIME ZONE 'UTC' - interval '1 microsecond')
            AT TIME ZONE s.plant_timezone)::date,
        interval '1 day') AS p(day)
)
SELECT DISTINCT t.utc_day FROM touched AS t CROSS JOIN lake
WHERE t.plant_day >= lake.first
  AND NOT EXISTS (
      SELECT 1 FROM lake_manifest AS m
      WHERE m.dataset = 'telemetry_samples' AND m.day = t.plant_day AND m.closed
        AND NOT EXISTS (
            SELECT 1 FROM lake_dirty AS d
            WHERE d.source = 'telemetry_samples' AND d.day = t.plant_day
              AND d.marked > COALESCE((m.source_watermark ->> 'telemetry_samples')::bigint, 0))
        AND NOT EXISTS (
            SELECT 1 FROM lake_dirty_log AS l
            WHERE l.source = 'telemetry_samples' AND l.day = t.plant_day))
"""


@dataclass(frozen=True)
class Retention:
    dropped: list[dt.date]
    # Expired, kept: from the oldest whose plant days the lake does not all hold yet on.
    held: list[dt.date]


def partition_name(day: dt.date) -> str:
    return SAMPLES.name(day)


async def existing_days(conn: Connection) -> set[dt.date]:
    return await SAMPLES.existing_days(conn)


async def ensure_partitions(conn: Connection, days: Iterable[dt.date]) -> list[dt.date]:
    """Create the partitions (UTC days) that do not exist yet; safe to run concurrently."""
    return await SAMPLES.ensure(conn, days)


async def ensure_ahead(conn: Connection, today: dt.date, *, days_ahead: int = 7) -> list[dt.date]:
    """Today's partition and the next `days_ahead` days'."""
    return await SAMPLES.ensure(conn, [today + dt.timedelta(days=n) for n in range(days_ahead + 1)])


async def lake_holds(conn: Connection, days: list[dt.date]) -> set[dt.date]:
    """Of these UTC days, those whose rows the lake (when in use) may not hold yet."""
    return {r["utc_day"] for r in await conn.fetch(LAKE_HOLDS, days)}


async def drop_expired(conn: Connection, today: dt.date, retention_days: int) -> Retention:
    """Drop the partitions whose whole day is older than the retention period, except those
    the lake does not hold yet (an export that failed longer than the retention period)."""
    expired = await SAMPLES.expired(conn, today, retention_days)
    held = await lake_holds(conn, expired) if expired else set()
    # Oldest first, up to the first day held: what is left stays one run of days, so the
    # lake's export still tells a plant day retention cut into by its start alone
    # (LakeExport._partly_dropped: a start before the oldest partition).
    kept = next((n for n, day in enumerate(expired) if day in held), len(expired))
    dropped = await SAMPLES.drop(conn, expired[:kept])
    return Retention(dropped, expired[kept:])

"""Daily partitions of telemetry_samples: created ahead and on demand, dropped whole by retention."""

from __future__ import annotations

import datetime as dt
import re

import asyncpg

PARENT = "telemetry_samples"
_NAME = re.compile(rf"^{PARENT}_(\d{{8}})$")

LIST_PARTITIONS = """
SELECT c.relname FROM pg_inherits i
JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
WHERE p.relname = $1
"""


def partition_name(day: dt.date) -> str:
    return f"{PARENT}_{day:%Y%m%d}"


async def existing_days(conn: asyncpg.Connection) -> set[dt.date]:
    rows = await conn.fetch(LIST_PARTITIONS, PARENT)
    days = set()
    for row in rows:
        match = _NAME.match(row["relname"])
        if match:
            stamp = match.group(1)
            days.add(dt.date(int(stamp[:4]), int(stamp[4:6]), int(stamp[6:])))
    return days


async def ensure_partitions(
    conn: asyncpg.Connection, days: set[dt.date] | list[dt.date]
) -> list[dt.date]:
    """Create the partitions (UTC days) that do not exist yet; safe to run concurrently."""
    created = []
    for day in sorted(set(days) - await existing_days(conn)):
        start = dt.datetime.combine(day, dt.time(), dt.UTC)
        end = start + dt.timedelta(days=1)
        # Names and bounds come from a date, never from input text.
        try:
            await conn.execute(
                f"CREATE TABLE IF NOT EXISTS {partition_name(day)} PARTITION OF {PARENT} "
                f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
            )
        except asyncpg.DuplicateTableError:
            continue  # another ingestor made it first
        created.append(day)
    return created


async def ensure_ahead(
    conn: asyncpg.Connection, today: dt.date, *, days_ahead: int = 7
) -> list[dt.date]:
    """Today's partition and the next `days_ahead` days'."""
    return await ensure_partitions(
        conn, [today + dt.timedelta(days=n) for n in range(days_ahead + 1)]
    )


async def drop_expired(
    conn: asyncpg.Connection, today: dt.date, retention_days: int
) -> list[dt.date]:
    """Drop the partitions whose whole day is older than the retention period."""
    cutoff = today - dt.timedelta(days=retention_days)
    dropped = []
    for day in sorted(await existing_days(conn)):
        if day < cutoff:
            await conn.execute(f"DROP TABLE IF EXISTS {partition_name(day)}")
            dropped.append(day)
    return dropped

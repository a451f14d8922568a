"""Daily partitions of audit_log: created ahead, dropped whole by retention (never a DELETE)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable

import asyncpg

PARENT = "audit_log"
_NAME = re.compile(rf"^{PARENT}_(\d{{8}})$")
# Any fixed number: services creating or dropping partitions at once take turns.
_LOCK_ID = 7_314_159_266

LIST_PARTITIONS = """
SELECT c.relname FROM pg_inherits i
JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
WHERE p.relname = $1
"""


def partition_name(day: dt.date) -> str:
    return f"{PARENT}_{day:%Y%m%d}"


async def existing_days(conn: asyncpg.Connection) -> set[dt.date]:
    days = set()
    for row in await conn.fetch(LIST_PARTITIONS, PARENT):
        match = _NAME.match(row["relname"])
        if match:
            stamp = match.group(1)
            days.add(dt.date(int(stamp[:4]), int(stamp[4:6]), int(stamp[6:])))
    return days


async def ensure_days(conn: asyncpg.Connection, days: Iterable[dt.date]) -> set[dt.date]:
    """Create the partitions of these UTC days that do not exist yet; return every day ready."""
    wanted = set(days)
    existing = await existing_days(conn)
    for day in sorted(wanted - existing):
        start = dt.datetime.combine(day, dt.time(), dt.UTC)
        end = start + dt.timedelta(days=1)
        # Names and bounds come from a date, never from input text.
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_ID)
            await conn.execute(
                f"CREATE TABLE IF NOT EXISTS {partition_name(day)} PARTITION OF {PARENT} "
                f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
            )
    return existing | wanted


async def drop_expired(
    conn: asyncpg.Connection, today: dt.date, retention_days: int
) -> list[dt.date]:
    """Drop the partitions whose whole day is older than the retention period."""
    cutoff = today - dt.timedelta(days=retention_days)
    dropped = []
    for day in sorted(await existing_days(conn)):
        if day < cutoff:
            async with conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_ID)
                await conn.execute(f"DROP TABLE IF EXISTS {partition_name(day)}")
            dropped.append(day)
    return dropped

"""Daily partitions of audit_log: created ahead, dropped whole by retention (never a DELETE)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from shared.db.pools import Connection
from shared.partitions import DailyPartitions

PARENT = "audit_log"
# Any fixed number: services creating or dropping partitions at once take turns.
AUDIT = DailyPartitions(PARENT, lock_id=7_314_159_266)


def partition_name(day: dt.date) -> str:
    return AUDIT.name(day)


async def existing_days(conn: Connection) -> set[dt.date]:
    return await AUDIT.existing_days(conn)


async def ensure_days(conn: Connection, days: Iterable[dt.date]) -> set[dt.date]:
    """Create the partitions of these UTC days that do not exist yet; return every day ready."""
    wanted = set(days)
    existing = await AUDIT.existing_days(conn)
    await AUDIT.ensure(conn, wanted - existing)
    return existing | wanted


async def drop_expired(conn: Connection, today: dt.date, retention_days: int) -> list[dt.date]:
    """Drop the partitions whose whole day is older than the retention period."""
    return await AUDIT.drop_expired(conn, today, retention_days)

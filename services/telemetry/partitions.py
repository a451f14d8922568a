"""Daily partitions of telemetry_samples: created ahead and on demand, dropped whole by retention."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from shared.db.pools import Connection
from shared.partitions import DailyPartitions

PARENT = "telemetry_samples"
SAMPLES = DailyPartitions(PARENT)


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


async def drop_expired(conn: Connection, today: dt.date, retention_days: int) -> list[dt.date]:
    """Drop the partitions whose whole day is older than the retention period."""
    return await SAMPLES.drop_expired(conn, today, retention_days)

"""Daily range partitions of a PostgreSQL table (UTC days): listed, created, dropped whole."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from collections.abc import Iterable

import asyncpg

from shared.db.pools import Connection

# Dropping an expired partition: how long it may wait for its lock, then give way (below).
DROP_LOCK_TIMEOUT_MS = 200
DROP_ATTEMPTS = 20
DROP_PAUSE_S = 1.0

LIST_PARTITIONS = """
SELECT c.relname FROM pg_inherits i
JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
WHERE p.relname = $1
"""


class DailyPartitions:
    """The partitions `<parent>_YYYYMMDD` of one table partitioned by a timestamptz range.

    With `lock_id`, creating and dropping take a transaction-scoped advisory lock, so
    processes doing it at once take turns; without it, a concurrent creation is tolerated.
    Names and bounds come from dates, never from input text.
    """

    def __init__(self, parent: str, *, lock_id: int | None = None) -> None:
        self.parent = parent
        self.lock_id = lock_id
        self._name = re.compile(rf"^{parent}_(\d{{8}})$")

    def name(self, day: dt.date) -> str:
        return f"{self.parent}_{day:%Y%m%d}"

    async def existing_days(self, conn: Connection) -> set[dt.date]:
        days = set()
        for row in await conn.fetch(LIST_PARTITIONS, self.parent):
            match = self._name.match(row["relname"])
            if match:
                days.add(dt.datetime.strptime(match.group(1), "%Y%m%d").date())  # noqa: DTZ007 - a date
        return days

    async def _run(self, conn: Connection, statement: str) -> None:
        if self.lock_id is None:
            await conn.execute(statement)
            return
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", self.lock_id)
            await conn.execute(statement)

    async def ensure(self, conn: Connection, days: Iterable[dt.date]) -> list[dt.date]:
        """Create the partitions of these days that do not exist yet; the days created."""
        created = []
        for day in sorted(set(days) - await self.existing_days(conn)):
            start = dt.datetime.combine(day, dt.time(), dt.UTC)
            end = start + dt.timedelta(days=1)
            try:
                await self._run(
                    conn,
                    f"CREATE TABLE IF NOT EXISTS {self.name(day)} PARTITION OF {self.parent} "
                    f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')",
                )
            except asyncpg.DuplicateTableError:
                continue  # another process made it first
            created.append(day)
        return created

    async def expired(self, conn: Connection, today: dt.date, retention_days: int) -> list[dt.date]:
        """The days of the partitions whose whole day is older than the retention period."""
        cutoff = today - dt.timedelta(days=retention_days)
        return [day for day in sorted(await self.existing_days(conn)) if day < cutoff]

    async def drop(self, conn: Connection, days: Iterable[dt.date]) -> list[dt.date]:
        """Drop these days' partitions, oldest first; the days dropped."""
        dropped = []
        for day in sorted(days):
            await self._drop(conn, self.name(day))
            dropped.append(day)
        return dropped

    async def drop_expired(
        self, conn: Connection, today: dt.date, retention_days: int
    ) -> list[dt.date]:
        """Drop the partitions whose whole day is older than the retention period."""
        return await self.drop(conn, await self.expired(conn, today, retention_days))

    async def _drop(self, conn: Connection, table: str) -> None:
        """DROP takes an exclusive lock on the parent too: waiting for it behind a long reader
        (the lake's export of a day) would queue every writer (the ingestor's COPY) behind
        the DROP. So it asks for the lock briefly, gives way, and tries again; after
        DROP_ATTEMPTS the error goes to the caller (the next maintenance round retries)."""
        for attempt in range(1, DROP_ATTEMPTS + 1):
            try:
                async with conn.transaction():
                    await conn.execute(f"SET LOCAL lock_timeout = '{DROP_LOCK_TIMEOUT_MS}ms'")
                    if self.lock_id is not None:
                        await conn.execute("SELECT pg_advisory_xact_lock($1)", self.lock_id)
                    await conn.execute(f"DROP TABLE IF EXISTS {table}")
                return
            except asyncpg.LockNotAvailableError:
                if attempt == DROP_ATTEMPTS:
                    raise
                await asyncio.sleep(DROP_PAUSE_S)

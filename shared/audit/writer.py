"""The audit writer: a bounded in-memory buffer of rows, flushed by COPY in the background.

Recording a row never waits and never fails: when the buffer is full (the database has been
away long enough) the new row is dropped, counted in `audit_rows_total{outcome="dropped"}`
and logged. Writes that change MES data record their row in their own transaction instead
(`InTransaction`), so the change and its audit row commit or roll back together.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import datetime as dt
import functools
import ipaddress
import logging
import time
from typing import Any, NamedTuple

import asyncpg
from prometheus_client import CollectorRegistry, Counter, Gauge

from shared.audit import partitions
from shared.db.pools import Connection, create_pg_pool
from shared.migrations import migrate
from shared.redact import mask_dsn
from shared.settings import AuditSettings

log = logging.getLogger(__name__)

DAYS_AHEAD = 2  # today's partition and the next days', so a write never meets a missing one
RETRY_CAP_S = 30.0
DROP_LOG_EVERY_S = 10.0


class AuditRow(NamedTuple):
    """One audit_log row, in the table's column order."""

    at: dt.datetime
    request_id: str
    key_name: str
    method: str
    route: str
    path: str
    status: int
    client: str | None
    peer: str | None
    duration_ms: float | None
    subject: str | None
    service: str


COLUMNS = AuditRow._fields
# Column names from the NamedTuple above, placeholders numbered: no input in the text.
INSERT = (
    f"INSERT INTO audit_log ({', '.join(COLUMNS)}) "  # noqa: S608
    f"VALUES ({', '.join(f'${n + 1}' for n in range(len(COLUMNS)))})"
)


class AuditMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.rows = Counter(
            "audit_rows_total",
            "Audit rows by outcome: written (batched), in_transaction, dropped (buffer full).",
            ("outcome",),
            registry=registry,
        )
        self.buffered = Gauge(
            "audit_buffer_rows", "Audit rows waiting for the writer.", registry=registry
        )
        self.failures = Counter(
            "audit_flush_failures_total",
            "Batches the writer could not store (retried while the buffer has room).",
            registry=registry,
        )


class AuditWriter:
    """Buffer + background flush into audit_log; owns a small pool of its own."""

    def __init__(
        self, settings: AuditSettings, dsn: str, registry: CollectorRegistry, *, ca_file: str | None
    ) -> None:
        self.settings = settings
        self.dsn = dsn
        self.ca_file = ca_file
        self.metrics = AuditMetrics(registry)
        self.buffer: collections.deque[AuditRow] = collections.deque()
        self.pool: asyncpg.Pool | None = None
        self.ready_days: set[dt.date] = set()
        self.maintained_on: dt.date | None = None
        self.prepared = False
        self.dropped = 0
        self.last_error: str | None = None
        self.last_drop_at = 0.0
        self._last_drop_log = 0.0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    # --- the request path: never waits ---------------------------------------------------

    def record(self, row: AuditRow) -> None:
        if len(self.buffer) >= self.settings.buffer_rows:
            self._drop(1)
            return
        self.buffer.append(row)
        if len(self.buffer) >= self.settings.batch_rows:
            self._wake.set()

    def _drop(self, count: int) -> None:
        self.dropped += count
        self.metrics.rows.labels("dropped").inc(count)
        now = time.monotonic()
        self.last_drop_at = now
        if now - self._last_drop_log >= DROP_LOG_EVERY_S:
            self._last_drop_log = now
            log.warning(
                "audit buffer full (%d rows): rows dropped (%d so far); last error: %s",
                self.settings.buffer_rows,
                self.dropped,
                self.last_error,
            )

    @functools.lru_cache(maxsize=1024)  # noqa: B019 - one writer per app, a handful of peers
    def _trusted(self, peer: str) -> bool:
        try:
            address = ipaddress.ip_address(peer)
        except ValueError:
            return False
        return any(address in network for network in self.settings.trusted_proxies)

    def client_of(self, peer: str | None, real_ip: str | None) -> str | None:
        """The client's address: X-Real-IP when the peer is a trusted proxy (nginx), else the peer."""
        if real_ip and peer and self._trusted(peer):
            return real_ip[:64]
        return peer

    # --- health ------------------------------------------------------------------------------

    @property
    def healthy(self) -> bool:
        recent_drop = time.monotonic() - self.last_drop_at < 60 if self.dropped else False
        return self.last_error is None and not recent_drop

    def state(self) -> str:
        return (
            f"buffer {len(self.buffer)}/{self.settings.buffer_rows}, descartados {self.dropped}, "
            f"último erro: {self.last_error or 'nenhum'}"
        )

    # --- background ----------------------------------------------------------------------

    async def start(self) -> None:
        self.pool = await create_pg_pool(
            self.dsn,
            max_size=self.settings.pool_max,
            ca_file=self.ca_file,
            application_name="mes-audit",
        )
        self._task = asyncio.create_task(self._run(), name="audit-writer")

    async def stop(self, *, drain_s: float = 3.0) -> None:
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), timeout=drain_s)
            except (TimeoutError, asyncio.CancelledError):
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
        if self.buffer:
            log.warning("audit writer stopped with %d rows not stored", len(self.buffer))
        if self.pool is not None:
            await self.pool.close()

    async def _run(self) -> None:
        pause = self.settings.flush_s
        while True:
            if not self._stopping:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=pause)
            self._wake.clear()
            ok = await self.flush()
            if self._stopping:  # one last flush, then out (stop() bounds how long it may take)
                return
            pause = self.settings.flush_s if ok else min(max(pause * 2, 1.0), RETRY_CAP_S)

    async def prepare(self, conn: Connection) -> None:
        """Once per connection to a working database: schema, partitions ahead, retention."""
        today = dt.datetime.now(dt.UTC).date()
        if not self.prepared:
            applied = await migrate(conn)
            if applied:
                log.info("applied MES migrations %s", applied)
        if not self.prepared or self.maintained_on != today:
            days = [today + dt.timedelta(days=n) for n in range(DAYS_AHEAD + 1)]
            self.ready_days = await partitions.ensure_days(conn, days)
            dropped = await partitions.drop_expired(conn, today, self.settings.retention_days)
            if dropped:
                self.ready_days -= set(dropped)
                log.info("audit retention dropped partitions of %s", [str(d) for d in dropped])
            self.maintained_on = today
            self.prepared = True

    async def flush(self) -> bool:
        """Store what the buffer holds, a batch at a time; False when the database failed."""
        assert self.pool is not None
        try:
            async with self.pool.acquire(timeout=2) as conn:
                await self.prepare(conn)
                while self.buffer:
                    batch = [
                        self.buffer.popleft()
                        for _ in range(min(self.settings.batch_rows, len(self.buffer)))
                    ]
                    try:
                        missing = {r.at.astimezone(dt.UTC).date() for r in batch} - self.ready_days
                        if missing:
                            self.ready_days = await partitions.ensure_days(conn, missing)
                        await conn.copy_records_to_table(
                            "audit_log", records=batch, columns=COLUMNS, timeout=10
                        )
                    except BaseException:
                        self._requeue(batch)
                        raise
                    self.metrics.rows.labels("written").inc(len(batch))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if isinstance(exc, asyncpg.UndefinedTableError):
                self.prepared = False
            self.metrics.failures.inc()
            if self.last_error is None:
                log.warning("audit database unavailable at %s: %s", mask_dsn(self.dsn), exc)
            self.last_error = f"{type(exc).__name__}: {exc}"[:300]
            return False
        finally:
            self.metrics.buffered.set(len(self.buffer))
        if self.last_error is not None:
            log.info("audit database back; buffered rows stored")
            self.last_error = None
        return True

    def _requeue(self, batch: list[AuditRow]) -> None:
        """Give a failed batch back to the front of the buffer, within its bound."""
        room = max(self.settings.buffer_rows - len(self.buffer), 0)
        keep = batch[:room]
        if len(batch) > room:
            self._drop(len(batch) - room)
        self.buffer.extendleft(reversed(keep))

    # --- writes in the caller's transaction --------------------------------------------------

    async def insert(self, conn: Connection, row: AuditRow) -> None:
        """Insert one row on the caller's connection (inside its transaction)."""
        day = row.at.astimezone(dt.UTC).date()
        if day not in self.ready_days:
            # Rare (the writer has not reached the database yet). Not remembered: this
            # transaction may still roll the new partition back; the writer's next flush
            # records what exists.
            await partitions.ensure_days(conn, {day})
        await conn.execute(INSERT, *row)
        self.metrics.rows.labels("in_transaction").inc()


def stats(writer: AuditWriter) -> dict[str, Any]:
    return {"buffered": len(writer.buffer), "dropped": writer.dropped, "error": writer.last_error}

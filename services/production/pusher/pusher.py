"""The pusher: delivers production reports (MATA681) and stops (MATA682) to Protheus exactly once.

Protheus has no idempotency key, so every document carries `MES:<its id>` at the start of
H6_OBSERVA (a report's Comments, a stop's Observation). Before a request leaves, the attempt
is recorded and its outcome presumed unknown; when an outcome stays unknown (lost answer,
timeout, 5xx, a pusher killed mid-call), the next attempt first waits PROTHEUS_SETTLE_S
(longer than the AppServer's own timeout) and looks for the marker in SH6, deleted rows
included, and only sends when it is absent.

One pusher delivers both kinds (documents.py says what differs between them): each round
claims the heads of both outboxes (FOR UPDATE SKIP LOCKED, with a lease; reports in order
per branch, order and operation, stops per machine in start order), and the same gate,
backoff and circuit breaker apply to every call.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import random
import socket
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
import asyncpg
from prometheus_client import CollectorRegistry, Counter, Gauge

from services.production.pusher import queries
from services.production.pusher.client import AuthError, Outcome, ProtheusClient
from services.production.pusher.documents import KINDS, DocumentKind
from shared.errors import DependencyUnavailable
from shared.protheus.context import ProtheusContext
from shared.protheus.sql import observa_too_narrow
from shared.settings import PusherSettings, Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class KindMetrics:
    """One kind's outbox depth and age, and its delivery outcomes."""

    depth: Gauge
    oldest: Gauge
    outcomes: Counter


class PusherMetrics:
    """Per kind, outbox depth and age, deliveries, retries, rejections, unknown outcomes; the
    circuit breaker's state."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.kinds = {
            "report": KindMetrics(
                Gauge(
                    "production_outbox_depth",
                    "Reports waiting to reach Protheus.",
                    registry=registry,
                ),
                Gauge(
                    "production_outbox_oldest_seconds",
                    "Age of the oldest report not yet in Protheus.",
                    registry=registry,
                ),
                Counter(
                    "production_report_outcomes_total",
                    "Report delivery attempts by outcome (delivered, rejected, retry, unknown, found, reversed).",
                    ("outcome",),
                    registry=registry,
                ),
            ),
            "stop": KindMetrics(
                Gauge(
                    "production_stop_outbox_depth",
                    "Stops waiting to reach Protheus.",
                    registry=registry,
                ),
                Gauge(
                    "production_stop_outbox_oldest_seconds",
                    "Age of the oldest stop queued and not yet in Protheus.",
                    registry=registry,
                ),
                Counter(
                    "production_stop_outcomes_total",
                    "Stop delivery attempts by outcome (delivered, rejected, retry, unknown, found, reversed).",
                    ("outcome",),
                    registry=registry,
                ),
            ),
        }
        self.breaker_open = Gauge(
            "production_pusher_circuit_open",
            "1 while the pusher stops calling a failing Protheus.",
            registry=registry,
        )

    def of(self, kind: DocumentKind) -> KindMetrics:
        return self.kinds[kind.name]


class CircuitBreaker:
    """After N consecutive transient failures, stop calling Protheus for a cool-down."""

    def __init__(self, threshold: int, cooldown_s: float) -> None:
        self.threshold = threshold
        self.cooldown_s = cooldown_s
        self.failures = 0
        self.open_until = 0.0

    @property
    def is_open(self) -> bool:
        return time.monotonic() < self.open_until

    def record(self, success: bool) -> None:
        if success:
            self.failures = 0
            return
        self.failures += 1
        if self.failures >= self.threshold:
            self.open_until = time.monotonic() + self.cooldown_s
            self.failures = 0
            log.warning("circuit open: Protheus failing; pausing for %.1f s", self.cooldown_s)


class Pusher:
    """Claims the heads of each kind's outbox (FOR UPDATE SKIP LOCKED, with a lease) and
    delivers them; several may run."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        protheus: ProtheusContext,
        client: ProtheusClient,
        settings: Settings,
        pusher: PusherSettings,
        metrics: PusherMetrics,
        *,
        name: str | None = None,
        kinds: Sequence[DocumentKind] = KINDS,
    ) -> None:
        self.pool = pool
        self.protheus = protheus
        self.client = client
        self.settings = settings
        self.config = pusher
        self.metrics = metrics
        self.kinds = tuple(kinds)
        self.name = name or f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}"
        self.breaker = CircuitBreaker(pusher.breaker_threshold, pusher.breaker_cooldown_s)
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._rng = random.Random()  # noqa: S311 - jitter, not security
        self._marker_fits = False  # H6_OBSERVA checked wide enough for the marker

    # --- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        self._stopping.clear()
        self._task = asyncio.create_task(self._run(), name=f"pusher-{self.name}")

    async def stop(self) -> None:
        self._stopping.set()
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while not self._stopping.is_set():
            handled = 0
            try:
                await self.refresh_gauges()
                if not self.breaker.is_open:
                    handled = await self.run_once()
            except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("pusher round failed: %s", exc)
            except Exception:
                log.exception("pusher round failed")
            self.metrics.breaker_open.set(1 if self.breaker.is_open else 0)
            if not handled:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), timeout=self.config.poll_s)

    async def refresh_gauges(self) -> None:
        async with self.pool.acquire() as conn:
            for kind in self.kinds:
                stats = await queries.outbox_stats(conn, outbox=kind.outbox)
                metrics = self.metrics.of(kind)
                metrics.depth.set(stats["depth"])
                metrics.oldest.set(float(stats["oldest_s"] or 0))

    # --- one round ---------------------------------------------------------------------------

    async def run_once(self) -> int:
        """Claim a batch of each kind and deliver them; returns how many documents were handled."""
        claimed: list[tuple[DocumentKind, asyncpg.Record]] = []
        async with self.pool.acquire() as conn:
            for kind in self.kinds:
                rows = await queries.claim(
                    conn,
                    batch=self.config.batch,
                    lease_s=self.config.lease_s,
                    pusher=self.name,
                    outbox=kind.outbox,
                )
                claimed.extend((kind, row) for row in rows)
        if not claimed:
            return 0
        gate = asyncio.Semaphore(self.config.concurrency)

        async def one(kind: DocumentKind, row: asyncpg.Record) -> None:
            async with gate:
                if self.breaker.is_open:
                    await self._postpone(kind, row["id"], self.breaker.cooldown_s)
                    return
                try:
                    await self.deliver(kind, row["id"], row)
                except Exception:
                    # The lease runs out and the row is claimed again; nothing is lost.
                    log.exception("delivery failed", extra=kind.log_extra(dict(row)))

        await asyncio.gather(*(one(kind, row) for kind, row in claimed))
        return len(claimed)

    async def deliver(
        self, kind: DocumentKind, document_id: uuid.UUID, claimed: asyncpg.Record | None = None
    ) -> None:
        """Deliver one claimed document (as the claim returned it, or read again), step by
        step: settle an unknown outcome, complete it (a report's order data), check it may
        leave, send, conclude.

        Each step but the last returns whether the document may go on; one that stops it has
        already given the document back to the outbox (or finished it)."""
        document = await self._document(kind, document_id, claimed)
        if document is None:
            return
        if document["unknown_since"] is not None and not await self.settle_unknown(kind, document):
            return
        if not await self.prepare(kind, document):
            return
        if not await self.ready_to_send(kind, document):
            return
        sent = await self.send(kind, document)
        if sent is not None:
            await self.conclude(kind, document, *sent)

    async def _document(
        self, kind: DocumentKind, document_id: uuid.UUID, claimed: asyncpg.Record | None
    ) -> dict[str, Any] | None:
        if claimed is None:
            async with self.pool.acquire() as conn:
                claimed = await queries.document(conn, document_id=document_id, outbox=kind.outbox)
            if claimed is None:
                return None
        return dict(claimed)

    async def settle_unknown(self, kind: DocumentKind, document: dict[str, Any]) -> bool:
        """An earlier attempt's outcome is unknown: once PROTHEUS_SETTLE_S has passed, look for
        the marker in SH6. True when it is absent (the document may be sent again); found, the
        document is finished as delivered (or reversed) without sending."""
        settle_at = document["unknown_since"] + dt.timedelta(seconds=self.config.settle_s)
        if dt.datetime.now(dt.UTC) < settle_at:
            await self._postpone_until(kind, document["id"], settle_at)
            return False
        extra = kind.log_extra(document)
        try:
            found = await kind.find_marker(self.protheus, document)
        except DependencyUnavailable as exc:
            log.warning("cannot look for the marker yet: %s", exc, extra=extra)
            await self._retry(
                kind, document, Outcome("unknown", message=str(exc)), keep_unknown=True, count=False
            )
            return False
        if found is None:
            return True
        ident, deleted = found
        status = "reversed" if deleted else "delivered"
        await self._finish(
            kind, document["id"], status, ident, None, check=f"marker found in SH6 ({ident})"
        )
        self.metrics.of(kind).outcomes.labels("reversed" if deleted else "found").inc()
        log.info(
            "%s already in Protheus: %s",
            kind.name,
            status,
            extra={**extra, "id_appointment": ident},
        )
        return False

    async def prepare(self, kind: DocumentKind, document: dict[str, Any]) -> bool:
        """Complete the document (a report accepted with the ERP database down reads its
        order's product and warehouse now), or retry later (no attempt counted) while
        Protheus's database is away."""
        try:
            await kind.prepare(self.pool, self.protheus, document)
        except DependencyUnavailable as exc:
            await self._retry(
                kind,
                document,
                Outcome("not_sent", message=str(exc)),
                keep_unknown=False,
                count=False,
            )
            return False
        return True

    async def ready_to_send(self, kind: DocumentKind, document: dict[str, Any]) -> bool:
        """H6_OBSERVA holds the marker and the AppServer gave us a token; otherwise retry later
        without counting an attempt (nothing left)."""
        if not await self.marker_fits():
            await self._retry(
                kind,
                document,
                Outcome("not_sent", message="H6_OBSERVA não comporta o marcador"),
                keep_unknown=False,
                count=False,
            )
            return False
        try:  # authenticate first, so the attempt's clock starts with the request itself
            await self.client.authorization()
        except (TimeoutError, AuthError, aiohttp.ClientError) as exc:
            self.breaker.record(False)
            await self._retry(
                kind,
                document,
                Outcome("not_sent", message=f"autenticação falhou: {exc}"),
                keep_unknown=False,
                count=False,
            )
            return False
        return True

    async def send(
        self, kind: DocumentKind, document: dict[str, Any]
    ) -> tuple[Outcome, int] | None:
        """One attempt: recorded (outcome presumed unknown) while the lease holds, then the
        call: its outcome and the attempt's number (`conclude` records how it ended with the
        document's next state). None
        when the lease was lost (or the document changed) before sending; the row is then
        given back, if still ours, to be claimed again as it is."""
        extra = kind.log_extra(document)
        payload = kind.payload(document, tz=self.settings.tz, now=dt.datetime.now(dt.UTC))
        async with self.pool.acquire() as conn:
            attempt = await queries.start_attempt(
                conn,
                document_id=document["id"],
                pusher=self.name,
                lease_s=self.config.lease_s,
                outbox=kind.outbox,
                checks=kind.attempt_checks(document),
            )
        if attempt is None:
            log.warning("lease lost or %s changed before sending; not sent", kind.name, extra=extra)
            await self._postpone_until(kind, document["id"], dt.datetime.now(dt.UTC))
            return None
        log.info("sending %s to Protheus", kind.name, extra={**extra, "attempt": attempt})
        outcome = await kind.post(self.client, payload, branch=document["branch"])
        log.info(
            "delivery attempt: %s",
            outcome.kind,
            extra={**extra, "attempt": attempt, "http_status": outcome.http_status},
        )
        return outcome, attempt

    async def conclude(
        self, kind: DocumentKind, document: dict[str, Any], outcome: Outcome, attempt: int
    ) -> None:
        """Count the outcome (breaker, metrics) and act on it, recording the attempt's end in
        the same statement: delivered and rejected are final, not sent and unknown retry (an
        unknown one checks SH6 first)."""
        ended = queries.AttemptEnd(attempt, outcome.kind, outcome.http_status, outcome.message)
        self.breaker.record(outcome.kind in ("delivered", "rejected"))
        self.metrics.of(kind).outcomes.labels(
            "retry" if outcome.kind == "not_sent" else outcome.kind
        ).inc()
        if outcome.kind == "delivered":
            await self._finish(
                kind, document["id"], "delivered", outcome.id_appointment, None, attempt=ended
            )
        elif outcome.kind == "rejected":
            await self._finish(
                kind, document["id"], "rejected", None, outcome.message, attempt=ended
            )
        else:
            await self._retry(
                kind,
                document,
                outcome,
                keep_unknown=outcome.kind == "unknown",
                count=True,
                attempt=ended,
            )

    # --- Protheus reads --------------------------------------------------------------------

    async def marker_fits(self) -> bool:
        """Once: H6_OBSERVA must hold the marker, or exactly-once cannot be checked (the start-up
        check is skipped when the ERP database is down then)."""
        if self._marker_fits:
            return True
        try:
            width = await observa_too_narrow(self.protheus.source)
        except DependencyUnavailable:
            return False
        if width is not None:
            log.error(
                "H6_OBSERVA has %s characters, too narrow for the marker: nothing is sent",
                width,
            )
            return False
        self._marker_fits = True
        return True

    # --- outcomes --------------------------------------------------------------------------

    def backoff(self, attempts: int) -> float:
        """Exponential backoff with jitter, capped."""
        ceiling = min(
            self.config.backoff_cap_s, self.config.backoff_base_s * 2.0 ** max(attempts - 1, 0)
        )
        return ceiling * self._rng.uniform(0.5, 1.0)

    async def _finish(
        self,
        kind: DocumentKind,
        document_id: uuid.UUID,
        status: str,
        ident: str | None,
        error: str | None,
        *,
        check: str | None = None,
        attempt: queries.AttemptEnd | None = None,
    ) -> None:
        # One statement needs no transaction of its own (two round trips fewer on the path
        # every delivery takes); what a marker check found goes with the finish, in one.
        async with (
            self.pool.acquire() as conn,
            conn.transaction() if check is not None else contextlib.nullcontext(),
        ):
            if check is not None:
                await queries.record_check(
                    conn,
                    document_id=document_id,
                    outcome="found" if status == "delivered" else status,
                    message=check,
                    outbox=kind.outbox,
                )
            await queries.finish(
                conn,
                document_id=document_id,
                status=status,
                id_appointment=ident,
                error=error,
                pusher=self.name,
                outbox=kind.outbox,
                attempt=attempt,
            )

    async def _retry(
        self,
        kind: DocumentKind,
        document: dict[str, Any],
        outcome: Outcome,
        *,
        keep_unknown: bool,
        count: bool,
        attempt: queries.AttemptEnd | None = None,
    ) -> None:
        delay = self.backoff(document["attempts"] + (1 if count else 0))
        if keep_unknown:
            delay = max(delay, self.config.settle_s)
        when = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=delay)
        async with self.pool.acquire() as conn:
            await queries.retry(
                conn,
                document_id=document["id"],
                available_at=when,
                keep_unknown=keep_unknown,
                pusher=self.name,
                outbox=kind.outbox,
                attempt=attempt,
            )

    async def _postpone(self, kind: DocumentKind, document_id: uuid.UUID, seconds: float) -> None:
        await self._postpone_until(
            kind, document_id, dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds)
        )

    async def _postpone_until(
        self, kind: DocumentKind, document_id: uuid.UUID, when: dt.datetime
    ) -> None:
        async with self.pool.acquire() as conn:
            await queries.postpone(
                conn,
                document_id=document_id,
                available_at=when,
                pusher=self.name,
                outbox=kind.outbox,
            )

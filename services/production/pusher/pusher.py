"""The report pusher: delivers accepted reports to Protheus (MATA681) exactly once.

Protheus has no idempotency key, so every appointment carries `MES:<report id>` at the
start of its Comments (H6_OBSERVA). Before a request leaves, the attempt is recorded and
its outcome presumed unknown; when an outcome stays unknown (lost answer, timeout, 5xx,
a pusher killed mid-call), the next attempt first waits PROTHEUS_SETTLE_S (longer than the
AppServer's own timeout) and looks for the marker in SH6, deleted rows included, and only
sends when it is absent.
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
from typing import Any

import aiohttp
import asyncpg
from prometheus_client import CollectorRegistry, Counter, Gauge

from services.production.pusher import queries
from services.production.pusher.client import AuthError, Outcome, ProtheusClient
from services.production.reports import queries as report_queries
from services.production.reports.service import order_for_report
from shared.errors import DependencyUnavailable
from shared.protheus.context import ProtheusContext
from shared.protheus.sql import MARKER_PREFIX, observa_too_narrow
from shared.settings import PusherSettings, Settings

log = logging.getLogger(__name__)


def marker(report_id: uuid.UUID | str) -> str:
    """`MES:<UUID>` in upper case: a user or a Protheus screen that upper-cases H6_OBSERVA (many
    AdvPL fields carry the `@!` picture) leaves it unchanged, and the lookup ignores case."""
    return f"{MARKER_PREFIX}{str(report_id).upper()}"


class PusherMetrics:
    """Outbox depth and age, deliveries, retries, rejections, unknown outcomes."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.depth = Gauge(
            "production_outbox_depth", "Reports waiting to reach Protheus.", registry=registry
        )
        self.oldest = Gauge(
            "production_outbox_oldest_seconds",
            "Age of the oldest report not yet in Protheus.",
            registry=registry,
        )
        self.outcomes = Counter(
            "production_report_outcomes_total",
            "Delivery attempts by outcome (delivered, rejected, retry, unknown, found, reversed).",
            ("outcome",),
            registry=registry,
        )
        self.breaker_open = Gauge(
            "production_pusher_circuit_open",
            "1 while the pusher stops calling a failing Protheus.",
            registry=registry,
        )


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


def appointment_payload(report: dict[str, Any], tz: dt.tzinfo) -> dict[str, Any]:
    """The MATA681 body: dates dd/mm/yyyy and times HH:MM in plant time; the marker first in Comments."""
    start = report["start_at"].astimezone(tz)
    end = report["end_at"].astimezone(tz)
    comments = marker(report["id"])
    if report["scrap_reason"]:
        comments += f" {report['scrap_reason']}"
    return {
        "appointmentType": "3",
        "ProductionOrderNumber": report["order_key"],
        "ActivityCode": report["operation"],
        "ItemCode": report["item_code"] or "",
        "MachineCode": report["machine"],
        "StartReportDateTime": start.strftime("%d/%m/%Y"),
        "StartReportTime": start.strftime("%H:%M"),
        "EndReportDateTime": end.strftime("%d/%m/%Y"),
        "EndReportTime": end.strftime("%H:%M"),
        "ApprovedQuantity": float(report["good_quantity"]),
        "ScrapQuantity": float(report["scrap_quantity"]),
        "Part_Total": "T" if report["final"] else "P",
        "OperatorCode": report["operator"],
        "WarehouseCode": report["warehouse"] or "",
        "LotCode": report["lot"] or "",
        "Comments": comments,
        "ReportDateTime": end.strftime("%d/%m/%Y"),
    }


class ReportPusher:
    """Claims outbox rows (FOR UPDATE SKIP LOCKED, with a lease) and delivers them; several may run."""

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
    ) -> None:
        self.pool = pool
        self.protheus = protheus
        self.client = client
        self.settings = settings
        self.config = pusher
        self.metrics = metrics
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
            stats = await queries.outbox_stats(conn)
        self.metrics.depth.set(stats["depth"])
        self.metrics.oldest.set(float(stats["oldest_s"] or 0))

    # --- one round ---------------------------------------------------------------------------

    async def run_once(self) -> int:
        """Claim a batch and deliver it; returns how many reports were handled."""
        async with self.pool.acquire() as conn:
            claimed = await queries.claim(
                conn, batch=self.config.batch, lease_s=self.config.lease_s, pusher=self.name
            )
        if not claimed:
            return 0
        gate = asyncio.Semaphore(self.config.concurrency)

        async def one(row: asyncpg.Record) -> None:
            async with gate:
                if self.breaker.is_open:
                    await self._postpone(row["report_id"], self.breaker.cooldown_s)
                    return
                try:
                    await self.deliver(row["report_id"], row)
                except Exception:
                    # The lease runs out and the row is claimed again; nothing is lost.
                    log.exception("delivery failed", extra={"report_id": str(row["report_id"])})

        await asyncio.gather(*(one(row) for row in claimed))
        return len(claimed)

    async def deliver(self, report_id: uuid.UUID, claimed: asyncpg.Record | None = None) -> None:
        """Deliver one claimed report (as the claim returned it, or read again), step by step:
        settle an unknown outcome, ensure the order data, check it may leave, send, conclude.

        Each step but the last returns whether the report may go on; one that stops it has
        already given the report back to the outbox (or finished it)."""
        report = await self._report(report_id, claimed)
        if report is None:
            return
        if report["unknown_since"] is not None and not await self.settle_unknown(report):
            return
        if not await self.ensure_order_data(report):
            return
        if not await self.ready_to_send(report):
            return
        outcome = await self.send(report)
        if outcome is not None:
            await self.conclude(report, outcome)

    async def _report(
        self, report_id: uuid.UUID, claimed: asyncpg.Record | None
    ) -> dict[str, Any] | None:
        if claimed is None:
            async with self.pool.acquire() as conn:
                claimed = await queries.report(conn, report_id=report_id)
            if claimed is None:
                return None
        return dict(claimed)

    @staticmethod
    def _log_extra(report: dict[str, Any]) -> dict[str, Any]:
        return {"report_id": str(report["id"]), "order": report["order_key"]}

    async def settle_unknown(self, report: dict[str, Any]) -> bool:
        """An earlier attempt's outcome is unknown: once PROTHEUS_SETTLE_S has passed, look for
        the marker in SH6. True when it is absent (the report may be sent again); found, the
        report is finished as delivered (or reversed) without sending."""
        settle_at = report["unknown_since"] + dt.timedelta(seconds=self.config.settle_s)
        if dt.datetime.now(dt.UTC) < settle_at:
            await self._postpone_until(report["id"], settle_at)
            return False
        extra = self._log_extra(report)
        try:
            found = await self.find_marker(report)
        except DependencyUnavailable as exc:
            log.warning("cannot look for the marker yet: %s", exc, extra=extra)
            await self._retry(
                report, Outcome("unknown", message=str(exc)), keep_unknown=True, count=False
            )
            return False
        if found is None:
            return True
        ident, deleted = found
        status = "reversed" if deleted else "delivered"
        await self._finish(
            report["id"], status, ident, None, check=f"marker found in SH6 ({ident})"
        )
        self.metrics.outcomes.labels("reversed" if deleted else "found").inc()
        log.info("report already in Protheus: %s", status, extra={**extra, "id_appointment": ident})
        return False

    async def ensure_order_data(self, report: dict[str, Any]) -> bool:
        """A report accepted with the ERP database down has no product and warehouse yet: read
        them now, or retry later (no attempt counted) while Protheus's database is away."""
        if report["item_code"] is not None:
            return True
        try:
            await self.load_order_data(report)
        except DependencyUnavailable as exc:
            await self._retry(
                report, Outcome("not_sent", message=str(exc)), keep_unknown=False, count=False
            )
            return False
        return True

    async def ready_to_send(self, report: dict[str, Any]) -> bool:
        """H6_OBSERVA holds the marker and the AppServer gave us a token; otherwise retry later
        without counting an attempt (nothing left)."""
        if not await self.marker_fits():
            await self._retry(
                report,
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
                report,
                Outcome("not_sent", message=f"autenticação falhou: {exc}"),
                keep_unknown=False,
                count=False,
            )
            return False
        return True

    async def send(self, report: dict[str, Any]) -> Outcome | None:
        """One attempt: recorded (outcome presumed unknown) while the lease holds, the MATA681
        call, its outcome recorded. None when the lease was lost before sending."""
        extra = self._log_extra(report)
        async with self.pool.acquire() as conn:
            attempt = await queries.start_attempt(
                conn, report_id=report["id"], pusher=self.name, lease_s=self.config.lease_s
            )
        if attempt is None:
            log.warning("lease lost before sending; another pusher has the report", extra=extra)
            return None
        log.info("sending report to Protheus", extra={**extra, "attempt": attempt})
        outcome = await self.client.post_appointment(
            appointment_payload(report, self.settings.tz), branch=report["branch"]
        )
        async with self.pool.acquire() as conn:
            await queries.finish_attempt(
                conn,
                report_id=report["id"],
                attempt=attempt,
                outcome=outcome.kind,
                http_status=outcome.http_status,
                message=outcome.message,
            )
        log.info(
            "delivery attempt: %s",
            outcome.kind,
            extra={**extra, "attempt": attempt, "http_status": outcome.http_status},
        )
        return outcome

    async def conclude(self, report: dict[str, Any], outcome: Outcome) -> None:
        """Count the outcome (breaker, metrics) and act on it: delivered and rejected are final,
        not sent and unknown retry (an unknown one checks SH6 first)."""
        self.breaker.record(outcome.kind in ("delivered", "rejected"))
        self.metrics.outcomes.labels("retry" if outcome.kind == "not_sent" else outcome.kind).inc()
        if outcome.kind == "delivered":
            await self._finish(report["id"], "delivered", outcome.id_appointment, None)
        elif outcome.kind == "rejected":
            await self._finish(report["id"], "rejected", None, outcome.message)
        else:
            await self._retry(report, outcome, keep_unknown=outcome.kind == "unknown", count=True)

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
                "H6_OBSERVA has %s characters, too narrow for the report marker: nothing is sent",
                width,
            )
            return False
        self._marker_fits = True
        return True

    async def find_marker(self, report: dict[str, Any]) -> tuple[str, bool] | None:
        """The appointment carrying this report's marker: (H6_IDENT, deleted?); live wins."""
        rows = await self.protheus.source.fetch(
            report_queries.marker_in_sh6(self.protheus.dialect, self.protheus.tables),
            {
                "sh6_filial": await self.protheus.filial("SH6", report["branch"]),
                "order_key": report["order_key"],
                "marker": f"{marker(report['id'])}%",
            },
        )
        if not rows:
            return None
        live = [r for r in rows if r["deleted"] != "*"]
        chosen = live[0] if live else rows[0]
        return chosen["h6_ident"], not live

    async def load_order_data(self, report: dict[str, Any]) -> None:
        """Product and warehouse of the order, for reports accepted while the ERP database was down."""
        parts = (await self.protheus.dictionary.order_key()).split(report["order_key"])
        row = (
            await order_for_report(
                self.protheus,
                branch=report["branch"],
                parts=parts,
                operation=report["operation"],
                machine=report["machine"],
            )
            if parts is not None
            else None
        )
        # An order Protheus does not have is sent anyway: the routine's rejection is the answer.
        report["item_code"], report["warehouse"] = (
            (row["c2_produto"], row["c2_local"]) if row else ("", "")
        )
        async with self.pool.acquire() as conn:
            await queries.save_order_data(
                conn,
                report_id=report["id"],
                item_code=report["item_code"],
                warehouse=report["warehouse"],
            )

    # --- outcomes --------------------------------------------------------------------------

    def backoff(self, attempts: int) -> float:
        """Exponential backoff with jitter, capped."""
        ceiling = min(
            self.config.backoff_cap_s, self.config.backoff_base_s * 2.0 ** max(attempts - 1, 0)
        )
        return ceiling * self._rng.uniform(0.5, 1.0)

    async def _finish(
        self,
        report_id: uuid.UUID,
        status: str,
        ident: str | None,
        error: str | None,
        *,
        check: str | None = None,
    ) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            if check:
                await queries.record_check(
                    conn,
                    report_id=report_id,
                    outcome="found" if status == "delivered" else status,
                    message=check,
                )
            await queries.finish(
                conn,
                report_id=report_id,
                status=status,
                id_appointment=ident,
                error=error,
                pusher=self.name,
            )

    async def _retry(
        self, report: dict[str, Any], outcome: Outcome, *, keep_unknown: bool, count: bool
    ) -> None:
        delay = self.backoff(report["attempts"] + (1 if count else 0))
        if keep_unknown:
            delay = max(delay, self.config.settle_s)
        when = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=delay)
        async with self.pool.acquire() as conn:
            await queries.retry(
                conn,
                report_id=report["id"],
                available_at=when,
                keep_unknown=keep_unknown,
                pusher=self.name,
            )

    async def _postpone(self, report_id: uuid.UUID, seconds: float) -> None:
        await self._postpone_until(
            report_id, dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds)
        )

    async def _postpone_until(self, report_id: uuid.UUID, when: dt.datetime) -> None:
        async with self.pool.acquire() as conn:
            await queries.postpone(conn, report_id=report_id, available_at=when, pusher=self.name)

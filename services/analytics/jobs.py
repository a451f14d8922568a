"""The analytics jobs' runner: one periodic task per job, under a PostgreSQL advisory lock,
that never dies (a failed run is logged and retried with backoff), with its Prometheus figures.

A job is a name and a coroutine returning the rows it wrote per dataset. Every job of the
service runs through `PeriodicJob` and is listed as one resource in services/analytics/app.py
(`job_resource` builds that resource): the sync (services/analytics/sync), the rollups and
the lake export each add one.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Final

import asyncpg
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

log = logging.getLogger(__name__)

# The first key of every job's two-key advisory lock (the second: hashtext(job name)).
LOCK_NAMESPACE: Final = 20_015
BACKOFF_MIN_S = 1.0
BACKOFF_MAX_S = 300.0

# Rows written per dataset by one run (`{"machines": 12, ...}`).
RunResult = Mapping[str, int]
JobRun = Callable[[], Awaitable[RunResult]]


class JobMetrics:
    """The figures every analytics job reports, labelled by job (created once per app)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.last_success = Gauge(
            "analytics_job_last_success_timestamp",
            "Unix time the job last finished a run without error.",
            ["job"],
            registry=registry,
        )
        self.duration = Histogram(
            "analytics_job_duration_seconds",
            "Duration of the job's runs (failed ones included).",
            ["job"],
            buckets=(0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600),
            registry=registry,
        )
        self.rows = Counter(
            "analytics_rows_total",
            "Rows the job wrote, per dataset.",
            ["job", "dataset"],
            registry=registry,
        )
        self.failures = Counter(
            "analytics_job_failures_total",
            "Runs of the job that ended in an error (retried with backoff).",
            ["job"],
            registry=registry,
        )


class PeriodicJob:
    """Runs `run` every `interval_s` (the first run at start) while holding the job's advisory
    lock: a second replica's run finds it taken and waits for its next turn. A run that fails
    is retried after a backoff growing from BACKOFF_MIN_S up to the interval (at most
    BACKOFF_MAX_S); the task itself only ends with stop()."""

    def __init__(
        self,
        name: str,
        interval_s: float,
        pool: asyncpg.Pool,
        run: JobRun,
        metrics: JobMetrics,
    ) -> None:
        self.name = name
        self.interval_s = interval_s
        self.pool = pool
        self.run = run
        self.metrics = metrics
        self.last_success: dt.datetime | None = None
        self.last_error: str | None = None
        self.last_rows: dict[str, int] = {}
        self.runs = 0
        self.succeeded = asyncio.Event()  # set by the first successful run (and every one after)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name=f"analytics-{self.name}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def wake(self) -> None:
        """Run now instead of at the end of the current wait (tests, a manual trigger)."""
        self._wake.set()

    def status(self) -> dict[str, object]:
        return {
            "interval_s": self.interval_s,
            "runs": self.runs,
            "last_success": self.last_success.isoformat() if self.last_success else None,
            "last_error": self.last_error,
            "last_rows": self.last_rows,
        }

    async def run_once(self) -> bool:
        """One run under the lock; False when another replica holds it (nothing done)."""
        started = time.perf_counter()
        async with self.pool.acquire() as lock_conn:
            taken = await lock_conn.fetchval(
                "SELECT pg_try_advisory_lock($1::int, hashtext($2))", LOCK_NAMESPACE, self.name
            )
            if not taken:
                log.debug("job %s: another replica holds the lock", self.name)
                return False
            try:
                try:
                    rows = dict(await self.run())
                finally:
                    self.metrics.duration.labels(self.name).observe(time.perf_counter() - started)
            finally:
                await lock_conn.execute(
                    "SELECT pg_advisory_unlock($1::int, hashtext($2))", LOCK_NAMESPACE, self.name
                )
        for dataset, count in rows.items():
            self.metrics.rows.labels(self.name, dataset).inc(count)
        self.metrics.last_success.labels(self.name).set_to_current_time()
        self.last_success = dt.datetime.now(dt.UTC)
        self.last_error = None
        self.last_rows = rows
        self.runs += 1
        self.succeeded.set()
        return True

    async def _loop(self) -> None:
        backoff = BACKOFF_MIN_S
        while True:
            try:
                await self.run_once()
            except Exception as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"[:300]
                self.metrics.failures.labels(self.name).inc()
                log.exception("job %s failed; retrying in %.0f s", self.name, backoff)
                delay = backoff
                backoff = min(backoff * 2, self.interval_s, BACKOFF_MAX_S)
            else:
                backoff = BACKOFF_MIN_S
                delay = self.interval_s
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=delay)


@contextlib.asynccontextmanager
async def running_job(jobs: dict[str, PeriodicJob], job: PeriodicJob) -> AsyncIterator[PeriodicJob]:
    """Start a job, list it among the app's jobs (for /readyz) while it runs, stop it after."""
    await job.start()
    jobs[job.name] = job
    try:
        yield job
    finally:
        jobs.pop(job.name, None)
        await job.stop()

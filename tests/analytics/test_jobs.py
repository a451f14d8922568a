"""The analytics jobs' runner on a real database: one run at a time across replicas (advisory
lock), a failing run retried rather than ending the task, figures on the app's registry."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest
from prometheus_client import CollectorRegistry

from services.analytics import jobs
from services.analytics.jobs import JobMetrics, PeriodicJob, RunResult


@pytest.fixture
async def pool(mes_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(mes_dsn, min_size=0, max_size=4)
    yield pool
    await pool.close()


async def test_a_second_replica_does_not_run_while_the_first_holds_the_lock(
    pool: asyncpg.Pool,
) -> None:
    inside, release = asyncio.Event(), asyncio.Event()
    calls = 0

    async def slow() -> RunResult:
        nonlocal calls
        calls += 1
        inside.set()
        await release.wait()
        return {"rows": 3}

    registry = CollectorRegistry()
    first = PeriodicJob("lock_test", 3600, pool, slow, JobMetrics(registry))
    second = PeriodicJob("lock_test", 3600, pool, slow, JobMetrics(CollectorRegistry()))
    running = asyncio.create_task(first.run_once())
    await inside.wait()
    assert await second.run_once() is False  # the lock is taken: nothing done
    release.set()
    assert await running is True
    assert calls == 1
    assert await second.run_once() is True  # free again
    assert (
        registry.get_sample_value("analytics_rows_total", {"job": "lock_test", "dataset": "rows"})
        == 3
    )


async def test_a_failing_run_is_retried_and_the_task_survives(
    pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(jobs, "BACKOFF_MIN_S", 0.01)
    attempts = 0

    async def flaky() -> RunResult:
        nonlocal attempts
        attempts += 1
        if attempts < 3:
            raise RuntimeError("Protheus fora do ar")
        return {}

    registry = CollectorRegistry()
    job = PeriodicJob("retry_test", 3600, pool, flaky, JobMetrics(registry))
    await job.start()
    try:
        await asyncio.wait_for(job.succeeded.wait(), 10)
    finally:
        await job.stop()
    assert attempts == 3
    assert job.last_error is None
    assert registry.get_sample_value("analytics_job_failures_total", {"job": "retry_test"}) == 2
    assert registry.get_sample_value("analytics_job_last_success_timestamp", {"job": "retry_test"})

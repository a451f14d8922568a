"""The lake export's resource: every LAKE_EXPORT_MIN minutes (the first run at start), under
the job's advisory lock, when ANALYTICS_ENABLED; its figures on /metrics."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from services.analytics.jobs import PeriodicJob, RunResult, running_job
from services.analytics.keys import JOB_METRICS, JOBS
from services.analytics.lake import queries
from services.analytics.lake.export import JOB, LakeExport
from services.analytics.lake.metrics import LakeMetrics
from shared.keys import MES_POOL, METRICS, SETTINGS


async def lake_job(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    if not settings.analytics.enabled:
        yield
        return
    pool = app[MES_POOL]
    metrics = LakeMetrics(app[METRICS])
    export = LakeExport(
        pool,
        lake_dir=Path(settings.analytics.lake_dir),
        zone=settings.plant_timezone,
        batch_rows=settings.analytics.batch_rows,
    )

    async def run() -> RunResult:
        report = await export.run()
        async with pool.acquire() as conn:
            newest = await queries.newest_exported(conn)
        metrics.update({dataset: value for dataset, (value, _) in newest.items()})
        return report.rows

    job = PeriodicJob(JOB, settings.analytics.export_min * 60, pool, run, app[JOB_METRICS])
    async with running_job(app[JOBS], job):
        yield

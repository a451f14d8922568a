"""The dimension sync's resource: copies the Protheus dimensions into analytics_src every
ANALYTICS_SYNC_MIN minutes (services/analytics/sync/service.py), when ANALYTICS_ENABLED."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from services.analytics.jobs import PeriodicJob, running_job
from services.analytics.keys import JOB_METRICS, JOBS
from services.analytics.sync.service import DimensionSync
from shared.keys import MES_POOL, PROTHEUS_CONTEXT, SETTINGS

JOB = "dimension_sync"


async def dimension_sync(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    if not settings.analytics.enabled:
        yield
        return
    sync = DimensionSync(app[MES_POOL], app[PROTHEUS_CONTEXT], settings)
    job = PeriodicJob(
        JOB, settings.analytics.sync_min * 60, app[MES_POOL], sync.run, app[JOB_METRICS]
    )
    async with running_job(app[JOBS], job):
        yield

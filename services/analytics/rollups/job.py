"""The rollup job's resource: every ANALYTICS_ROLLUP_S seconds, recompute what ingest marked
dirty (services/analytics/rollups/service.py), when ANALYTICS_ENABLED."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator

from aiohttp import web

from services.analytics.jobs import PeriodicJob, running_job
from services.analytics.keys import JOB_METRICS, JOBS
from services.analytics.rollups.service import OeeSetup, refresh_rollups
from shared.keys import MES_POOL, PROTHEUS_CONTEXT, SETTINGS

JOB = "rollups"


async def rollup_job(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    if not settings.analytics.enabled:
        yield
        return
    pool = app[MES_POOL]
    setup = OeeSetup.from_settings(settings)
    run = functools.partial(refresh_rollups, pool, app[PROTHEUS_CONTEXT], setup=setup)
    job = PeriodicJob(JOB, settings.analytics.rollup_s, pool, run, app[JOB_METRICS])
    async with running_job(app[JOBS], job):
        yield

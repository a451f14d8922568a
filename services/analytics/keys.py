"""Application keys of the analytics service: its jobs and their shared Prometheus figures."""

from __future__ import annotations

from typing import Final

from aiohttp import web

from services.analytics.jobs import JobMetrics, PeriodicJob

# Every running job by name (each job's resource adds its own): /readyz reports them all.
JOBS: Final = web.AppKey("analytics_jobs", dict[str, PeriodicJob])
JOB_METRICS: Final = web.AppKey("analytics_job_metrics", JobMetrics)

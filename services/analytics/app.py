"""Application factory of the analytics service: base app, resources in start order, routes.

The service runs the BI schema's jobs (Protheus dimensions mirrored for the views, rollups,
the Parquet lake's export, the anomaly detector) apart from the request-serving APIs: they
read the ERP in bulk and write large files (memory, event-loop latency), and run once per
plant while the APIs scale out. Its own HTTP API serves what its jobs compute (anomalies,
failure risk), with the OpenAPI document at /api/v1/analytics/openapi.json.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from aiohttp import web

from services.analytics.alerts.publisher import ALERT_PUBLISHER
from services.analytics.anomalies.job import anomaly_job
from services.analytics.bi import set_bi_login
from services.analytics.jobs import JobMetrics
from services.analytics.keys import JOB_METRICS, JOBS
from services.analytics.lake.job import lake_job
from services.analytics.risk.job import risk_job
from services.analytics.rollups.job import rollup_job
from services.analytics.routes import add_routes
from services.analytics.sync.job import dimension_sync
from services.telemetry.query.shifts import parse_shift_calendar
from shared.app import (
    Resource,
    add_resources,
    audit_log,
    create_service_app,
    mes_database,
    protheus_database,
)
from shared.health import add_check
from shared.keys import MES_POOL, METRICS, SETTINGS
from shared.openapi import publish_openapi
from shared.settings import Settings

log = logging.getLogger(__name__)

SERVICE = "analytics"
DESCRIPTION = (
    "Manutenção preditiva sobre a telemetria do MES: anomalias detectadas (spike, stuck, "
    "out_of_range, drift) e o risco de falha das máquinas, com os alertas publicados no MQTT."
)


async def bi_login(app: web.Application) -> AsyncIterator[None]:
    """The read-only role mes_bi logs in with ANALYTICS_BI_PASSWORD (no login when unset).
    A database user without the right to alter the role leaves it as it was, with a warning."""
    password = app[SETTINGS].analytics.bi_password
    try:
        async with app[MES_POOL].acquire() as conn:
            await set_bi_login(conn, password)
    except Exception as exc:
        log.warning("could not set the login of the BI role mes_bi: %s", exc)
    else:
        log.info("BI role mes_bi: %s", "login enabled" if password else "no login")
    yield


def add_jobs_check(app: web.Application) -> None:
    """Each job's last run, reported on /readyz; a job never gates readiness."""

    async def jobs() -> dict[str, object]:
        if not app[SETTINGS].analytics.enabled:
            return {"enabled": False}
        return {name: job.status() for name, job in sorted(app[JOBS].items())}

    add_check(app, "analytics_jobs", jobs, required=False)


def setup(app: web.Application) -> None:
    """The analytics service on an app: its own, or the devserver's composed one.

    Each job is one resource below (one per line); it runs only with ANALYTICS_ENABLED.
    A bad SHIFT_CALENDAR raises shared.settings.ConfigError here, before anything opens.
    """
    parse_shift_calendar(app[SETTINGS].shift_calendar)  # the sync writes it for the views
    app[JOBS] = {}
    app[JOB_METRICS] = JobMetrics(app[METRICS])
    add_resources(
        app,
        audit_log,
        mes_database,
        # The dimension sync reads the ERP; the service is ready without it (it retries).
        protheus_database(required=False),
        Resource(bi_login, add_jobs_check),
        dimension_sync,
        rollup_job,
        lake_job,
        anomaly_job,
        ALERT_PUBLISHER,
        risk_job,
    )
    add_routes(app)
    publish_openapi(app, SERVICE, "Analytics API", DESCRIPTION)


def create_app(settings: Settings) -> web.Application:
    """The analytics service alone, as `python -m services.analytics` serves it."""
    return create_service_app(settings, setup)

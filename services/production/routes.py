"""URL table of the production service, its resources and its background pusher."""

from __future__ import annotations

import logging
import ssl
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from services.production.keys import PUSHER, PUSHER_SETTINGS, REPORTS
from services.production.orders.routes import load_dictionary
from services.production.pusher.client import TOKEN_PATH, ProtheusClient
from services.production.pusher.pusher import PusherMetrics, ReportPusher
from services.production.reports import handlers as reports
from services.production.reports.service import Reports
from services.production.settings import PusherSettings
from shared.app import use_mes_pool, use_protheus
from shared.audit.handlers import register_audit_routes
from shared.health import add_check
from shared.keys import BRANCHES, DICTIONARY, MES_POOL, METRICS, PROTHEUS, SETTINGS
from shared.openapi import publish_openapi
from shared.protheus.sql import MARKER_WIDTH, observa_too_narrow

log = logging.getLogger(__name__)

DESCRIPTION = (
    "Ordens de produção (SC2) com status e progresso, e apontamentos de produção "
    "enviados ao Protheus (MATA681) de forma durável e exatamente uma vez."
)


async def check_observa_width(app: web.Application) -> None:
    """Refuse to start when H6_OBSERVA cannot hold the marker exactly-once depends on."""
    try:
        width = await observa_too_narrow(app[PROTHEUS])
    except Exception as exc:  # the ERP database may be down at start: the pusher waits for it
        log.warning("could not read H6_OBSERVA's width: %s", exc)
        return
    if width is not None:
        raise RuntimeError(
            f"H6_OBSERVA has {width} characters; the report marker needs {MARKER_WIDTH}. "
            "Widen the field in the Protheus dictionary (SX3) before running the production service."
        )


async def reports_context(app: web.Application) -> AsyncIterator[None]:
    settings, pusher_settings = app[SETTINGS], app[PUSHER_SETTINGS]
    app[REPORTS] = Reports(
        pool=app[MES_POOL],
        protheus=app[PROTHEUS],
        branches=app[BRANCHES],
        settings=settings,
        dictionary=app[DICTIONARY],
        idempotency_days=pusher_settings.idempotency_days,
    )
    await check_observa_width(app)
    await load_dictionary(app)
    if not pusher_settings.enabled:
        yield
        return
    tls = (
        ssl.create_default_context(cafile=settings.protheus_rest_ca_file)
        if settings.protheus_rest_ca_file
        else None
    )
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(ssl=tls) if tls else None
    ) as session:
        pusher = ReportPusher(
            app[MES_POOL],
            app[PROTHEUS],
            app[BRANCHES],
            ProtheusClient(session, settings, pusher_settings),
            settings,
            pusher_settings,
            PusherMetrics(app[METRICS]),
            dictionary=app[DICTIONARY],
        )
        app[PUSHER] = pusher
        await pusher.start()
        try:
            yield
        finally:
            await pusher.stop()


def register(app: web.Application) -> None:
    from services.production.orders.routes import register_order_routes

    use_mes_pool(app)
    # Reports are accepted with the ERP database down, so it does not gate readiness.
    use_protheus(app, required=False)
    if PUSHER_SETTINGS not in app:  # tests inject theirs
        app[PUSHER_SETTINGS] = PusherSettings.from_env()
    app.cleanup_ctx.append(reports_context)

    async def protheus_rest() -> None:
        # Reported, never required: reports wait in the outbox while the AppServer is away.
        url = app[SETTINGS].protheus_rest_url + TOKEN_PATH
        async with (
            aiohttp.ClientSession() as session,
            session.options(url, timeout=aiohttp.ClientTimeout(total=2)),
        ):
            pass

    add_check(app, "protheus_rest", protheus_rest, required=False)
    register_order_routes(app)
    app.router.add_post(
        "/api/v1/production-reports", reports.create_report, name="production_reports_create"
    )
    app.router.add_get(
        "/api/v1/production-reports", reports.list_reports, name="production_reports_list"
    )
    app.router.add_get(
        "/api/v1/production-reports/{id}", reports.get_report, name="production_report"
    )
    app.router.add_patch(
        "/api/v1/production-reports/{id}", reports.correct_report, name="production_report_correct"
    )
    register_audit_routes(app)
    publish_openapi(app, "production", "Production API", DESCRIPTION)

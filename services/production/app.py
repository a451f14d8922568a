"""Application factory of the production service: base app, resources in start order, routes."""

from __future__ import annotations

import logging
import ssl
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from services.production.keys import PROTHEUS_REST, PUSHER, STOP_DETECTOR
from services.production.pusher.client import TOKEN_PATH, ProtheusClient
from services.production.pusher.pusher import Pusher, PusherMetrics
from services.production.routes import add_routes
from services.production.stops.detector import StopDetector, StopMetrics
from shared.app import (
    Resource,
    add_resources,
    audit_log,
    create_service_app,
    mes_database,
    protheus_database,
    running,
)
from shared.health import add_check
from shared.keys import DICTIONARY, MES_POOL, METRICS, PROTHEUS, PROTHEUS_CONTEXT, SETTINGS
from shared.openapi import publish_openapi
from shared.protheus.sql import MARKER_WIDTH, observa_too_narrow
from shared.settings import Settings

log = logging.getLogger(__name__)

SERVICE = "production"
DESCRIPTION = (
    "Ordens de produção (SC2) com status e progresso, e apontamentos de produção "
    "enviados ao Protheus (MATA681) de forma durável e exatamente uma vez; paradas de máquina "
    "classificadas enviadas como apontamentos de parada (MATA682), também exatamente uma vez."
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


async def protheus_dictionary(app: web.Application) -> AsyncIterator[None]:
    """What production needs from the ERP's dictionary before it serves: H6_OBSERVA wide
    enough for the report marker, and the order key's widths (read on first use instead when
    the ERP database is down)."""
    await check_observa_width(app)
    try:
        await app[DICTIONARY].order_key()
    except Exception as exc:
        log.warning("Protheus dictionary not read at start: %s", exc)
    yield


async def protheus_rest_session(app: web.Application) -> AsyncIterator[None]:
    """The HTTP session to the AppServer's REST API (TLS from PROTHEUS_REST_CA_FILE); only the
    pusher calls it, so it is opened only when the pusher runs."""
    settings = app[SETTINGS]
    if not settings.pusher.enabled:
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
        app[PROTHEUS_REST] = session
        yield


async def document_pusher(app: web.Application) -> AsyncIterator[None]:
    """The background task that sends the outboxes' reports and stops to Protheus
    (PUSHER_ENABLED)."""
    settings = app[SETTINGS]
    if not settings.pusher.enabled:
        yield
        return
    pusher = Pusher(
        app[MES_POOL],
        app[PROTHEUS_CONTEXT],
        ProtheusClient(app[PROTHEUS_REST], settings, settings.pusher),
        settings,
        settings.pusher,
        PusherMetrics(app[METRICS]),
    )
    async with running(app, PUSHER, pusher):
        yield


async def stop_detector(app: web.Application) -> AsyncIterator[None]:
    """The background task that turns the machines' state timelines into stops, classifies
    them and queues the classified ones (services/production/stops/detector.py). It needs only
    the MES database; several replicas share the work (one machine at a time each)."""
    settings = app[SETTINGS]
    detector = StopDetector(app[MES_POOL], settings, StopMetrics(app[METRICS]))
    async with running(app, STOP_DETECTOR, detector):
        yield


def add_protheus_rest_check(app: web.Application) -> None:
    """Reported, never required: reports wait in the outbox while the AppServer is away."""

    async def probe() -> None:
        url = app[SETTINGS].protheus_rest_url + TOKEN_PATH
        async with (
            aiohttp.ClientSession() as session,
            session.options(url, timeout=aiohttp.ClientTimeout(total=2)),
        ):
            pass

    add_check(app, "protheus_rest", probe, required=False)


def setup(app: web.Application) -> None:
    """The production service on an app: its own, or the devserver's composed one."""
    add_resources(
        app,
        audit_log,
        mes_database,
        # Reports are accepted with the ERP database down, so it does not gate readiness.
        protheus_database(required=False),
        protheus_dictionary,
        Resource(protheus_rest_session, add_protheus_rest_check),
        document_pusher,
        stop_detector,
    )
    add_routes(app)
    publish_openapi(app, SERVICE, "Production API", DESCRIPTION)


def create_app(settings: Settings) -> web.Application:
    """The production service alone, as `python -m services.production` serves it."""
    return create_service_app(settings, setup)

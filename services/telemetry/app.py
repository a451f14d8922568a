"""Application factory of the telemetry service: base app, resources in start order, routes."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from services.telemetry.ingest.ingestor import IngestMetrics, Ingestor
from services.telemetry.keys import INGESTOR
from services.telemetry.query.keys import SHIFT_CALENDAR
from services.telemetry.query.shifts import ShiftCalendar
from services.telemetry.routes import add_routes
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
from shared.keys import MES_POOL, METRICS, SETTINGS
from shared.mqtt import probe_broker
from shared.openapi import publish_openapi
from shared.settings import Settings

SERVICE = "telemetry"
DESCRIPTION = (
    "Telemetria de máquinas recebida por MQTT: últimos valores, séries agregadas, "
    "linha do tempo de estados, contadores e OEE."
)


async def ingestor(app: web.Application) -> AsyncIterator[None]:
    """The MQTT ingestor in the background (INGEST_ENABLED); it may also run alone
    (python -m services.telemetry.ingest)."""
    settings = app[SETTINGS]
    if not settings.ingest.enabled:
        yield
        return
    worker = Ingestor(app[MES_POOL], settings, settings.ingest, IngestMetrics(app[METRICS]))
    async with running(app, INGESTOR, worker):
        yield


def add_ingest_checks(app: web.Application) -> None:
    """The broker and the ingestor, reported on /readyz; neither gates readiness."""

    async def broker() -> None:
        settings = app[SETTINGS]
        await probe_broker(settings.mqtt_url, settings.mqtt_ca_file)

    # Messages wait in the broker's persistent session while we are away: not a readiness gate.
    add_check(app, "mqtt_broker", broker, required=False)

    async def ingestor_status() -> dict[str, object]:
        """The spool's figures, whether the broker is read (a full spool pauses it) and what
        a broker this project does not configure may drop; not a readiness gate either."""
        running = app.get(INGESTOR)
        if running is None:
            return {"enabled": False}
        return running.status()

    add_check(app, "telemetry_ingestor", ingestor_status, required=False)


def setup(app: web.Application) -> None:
    """The telemetry service on an app: its own, or the devserver's composed one.

    A bad SHIFT_CALENDAR raises shared.settings.ConfigError here, before anything opens.
    """
    settings = app[SETTINGS]
    app[SHIFT_CALENDAR] = ShiftCalendar.from_setting(settings.shift_calendar, settings.tz)
    add_resources(
        app,
        audit_log,
        mes_database,
        # Only OEE reads the ERP (standard times); the rest answers without it.
        protheus_database(required=False),
        Resource(ingestor, add_ingest_checks),
    )
    add_routes(app)
    publish_openapi(app, SERVICE, "Telemetry API", DESCRIPTION)


def create_app(settings: Settings) -> web.Application:
    """The telemetry service alone, as `python -m services.telemetry` serves it."""
    return create_service_app(settings, setup)

"""URL table of the telemetry service, its resources and its background ingestor."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from services.telemetry.ingest.ingestor import IngestMetrics, Ingestor
from services.telemetry.keys import INGEST_SETTINGS, INGESTOR
from services.telemetry.settings import IngestSettings
from shared.app import use_mes_pool, use_protheus
from shared.health import add_check
from shared.keys import MES_POOL, METRICS, SETTINGS
from shared.mqtt import probe_broker
from shared.openapi import publish_openapi

DESCRIPTION = (
    "Telemetria de máquinas recebida por MQTT: últimos valores, séries agregadas, "
    "linha do tempo de estados, contadores e OEE."
)


async def ingestor_context(app: web.Application) -> AsyncIterator[None]:
    config = app[INGEST_SETTINGS]
    if not config.enabled:
        yield
        return
    ingestor = Ingestor(app[MES_POOL], app[SETTINGS], config, IngestMetrics(app[METRICS]))
    app[INGESTOR] = ingestor
    await ingestor.start()
    try:
        yield
    finally:
        await ingestor.stop()


def register(app: web.Application) -> None:
    from services.telemetry.query.routes import register_query_routes

    use_mes_pool(app)
    # Only OEE reads the ERP (standard times); the rest answers without it.
    use_protheus(app, required=False)
    if INGEST_SETTINGS not in app:  # tests inject theirs
        app[INGEST_SETTINGS] = IngestSettings.from_env()
    app.cleanup_ctx.append(ingestor_context)

    async def broker() -> None:
        settings = app[SETTINGS]
        await probe_broker(settings.mqtt_url, settings.mqtt_ca_file)

    # Messages wait in the broker's persistent session while we are away: not a readiness gate.
    add_check(app, "mqtt_broker", broker, required=False)

    async def ingestor() -> dict[str, object]:
        """The spool's figures, whether the broker is read (a full spool pauses it) and what
        a broker this project does not configure may drop; not a readiness gate either."""
        running = app.get(INGESTOR)
        if running is None:
            return {"enabled": False}
        return running.status()

    add_check(app, "telemetry_ingestor", ingestor, required=False)
    register_query_routes(app)
    publish_openapi(app, "telemetry", "Telemetry API", DESCRIPTION)

"""URL table of the telemetry service."""

from __future__ import annotations

from aiohttp import web

from shared.app import use_mes_pool, use_protheus
from shared.health import add_check
from shared.keys import SETTINGS
from shared.mqtt import probe_broker
from shared.openapi import publish_openapi

DESCRIPTION = (
    "Telemetria de máquinas recebida por MQTT: últimos valores, séries agregadas, "
    "linha do tempo de estados, contadores e OEE."
)


def register(app: web.Application) -> None:
    use_mes_pool(app)
    # Only OEE reads the ERP (standard times); the rest answers without it.
    use_protheus(app, required=False)

    async def broker() -> None:
        settings = app[SETTINGS]
        await probe_broker(settings.mqtt_url, settings.mqtt_ca_file)

    # Messages wait in the broker's persistent session while we are away: not a readiness gate.
    add_check(app, "mqtt_broker", broker, required=False)
    publish_openapi(app, "telemetry", "Telemetry API", DESCRIPTION)

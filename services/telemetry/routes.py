"""URL table of the telemetry service."""

from __future__ import annotations

from aiohttp import web

from shared.app import use_mes_pool, use_protheus
from shared.openapi import publish_openapi

DESCRIPTION = (
    "Telemetria de máquinas recebida por MQTT: últimos valores, séries agregadas, "
    "linha do tempo de estados, contadores e OEE."
)


def register(app: web.Application) -> None:
    use_mes_pool(app)
    # Only OEE reads the ERP (standard times); the rest answers without it.
    use_protheus(app, required=False)
    publish_openapi(app, "telemetry", "Telemetry API", DESCRIPTION)

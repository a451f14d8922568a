"""Application factory of the telemetry service: base app, resources, routes, OpenAPI."""

from __future__ import annotations

from aiohttp import web

from shared.app import create_base_app
from shared.settings import Settings

SERVICE = "telemetry"
TITLE = "Telemetria de máquinas e OEE"


def setup(app: web.Application) -> None:
    """Register the telemetry service's resources and routes on an app (its own or a composed one)."""
    from services.telemetry.routes import register

    register(app)


def create_app(settings: Settings) -> web.Application:
    """The telemetry service alone, as `python -m services.telemetry` serves it."""
    app = create_base_app(settings)
    setup(app)
    return app

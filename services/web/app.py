"""Application factory of the web service: base app, resources in start order, routes."""

from __future__ import annotations

from aiohttp import web

from services.web.assets.bundle import load_bundle
from services.web.keys import BUNDLE
from services.web.routes import add_routes
from shared.app import create_service_app
from shared.openapi import publish_openapi
from shared.settings import Settings

SERVICE = "web"
DESCRIPTION = (
    "O aplicativo web (página única) e o fluxo de eventos ao vivo: estados de máquinas, "
    "status de apontamentos e paradas, anomalias."
)


def setup(app: web.Application) -> None:
    """The web service on an app: its own, or the devserver's composed one."""
    # The static folder is read and versioned once, before the app serves.
    app[BUNDLE] = load_bundle()
    add_routes(app)
    publish_openapi(app, SERVICE, "Web API", DESCRIPTION)


def create_app(settings: Settings) -> web.Application:
    """The web service alone, as `python -m services.web` serves it."""
    return create_service_app(settings, setup)

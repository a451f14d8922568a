"""Application factory of the production service: base app, resources, routes, OpenAPI."""

from __future__ import annotations

from aiohttp import web

from shared.app import create_base_app
from shared.settings import Settings

SERVICE = "production"
TITLE = "Ordens e apontamentos de produção"


def setup(app: web.Application) -> None:
    """Register the production service's resources and routes on an app (its own or a composed one)."""
    from services.production.routes import register

    register(app)


def create_app(settings: Settings) -> web.Application:
    """The production service alone, as `python -m services.production` serves it."""
    app = create_base_app(settings)
    setup(app)
    return app

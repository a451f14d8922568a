"""Application factory of the catalog service: base app, resources, routes, OpenAPI."""

from __future__ import annotations

from aiohttp import web

from shared.app import create_base_app
from shared.settings import Settings

SERVICE = "catalog"
TITLE = "Catálogo de produtos (Product API)"


def setup(app: web.Application) -> None:
    """Register the catalog service's resources and routes on an app (its own or a composed one)."""
    from services.catalog.routes import register

    register(app)


def create_app(settings: Settings) -> web.Application:
    """The catalog service alone, as `python -m services.catalog` serves it."""
    app = create_base_app(settings)
    setup(app)
    return app

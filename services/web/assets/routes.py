"""URL table of the app's page and files."""

from __future__ import annotations

from aiohttp import web

from services.web.assets import handlers


def add_routes(app: web.Application) -> None:
    app.router.add_get("/", handlers.index, name="web_index")
    app.router.add_get("/static/{version}/{path:.+}", handlers.static_file, name="web_static")

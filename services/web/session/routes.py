"""URL table of the session route."""

from __future__ import annotations

from aiohttp import web

from services.web.session import handlers


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/session", handlers.session, name="web_session")

"""URL table of the event stream."""

from __future__ import annotations

from aiohttp import web

from services.web.events import handlers


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/events", handlers.events, name="web_events")

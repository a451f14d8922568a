"""URL table of the web service: the app's page and files, the session and the event stream."""

from __future__ import annotations

from aiohttp import web

from services.web.assets import routes as assets
from services.web.events import routes as events
from services.web.session import routes as session


def add_routes(app: web.Application) -> None:
    assets.add_routes(app)
    session.add_routes(app)
    events.add_routes(app)

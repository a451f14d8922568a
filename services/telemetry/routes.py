"""URL table of the telemetry service: the query routes and the Sparkplug routes (the ingestor
has none)."""

from __future__ import annotations

from aiohttp import web

from services.telemetry.query import routes as query
from services.telemetry.sparkplug import routes as sparkplug


def add_routes(app: web.Application) -> None:
    query.add_routes(app)
    sparkplug.add_routes(app)

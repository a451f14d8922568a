"""URL table of the telemetry service: the query routes (the ingestor has none)."""

from __future__ import annotations

from aiohttp import web

from services.telemetry.query import routes as query


def add_routes(app: web.Application) -> None:
    query.add_routes(app)

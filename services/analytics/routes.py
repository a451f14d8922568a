"""URL table of the analytics service: the failure-risk routes."""

from __future__ import annotations

from aiohttp import web

from services.analytics.risk import routes as risk


def add_routes(app: web.Application) -> None:
    risk.add_routes(app)

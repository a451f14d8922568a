"""URL table of the analytics service: the anomaly routes (and the failure-risk routes)."""

from __future__ import annotations

from aiohttp import web

from services.analytics.anomalies import routes as anomalies


def add_routes(app: web.Application) -> None:
    anomalies.add_routes(app)

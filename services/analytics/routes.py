"""URL table of the analytics service: the anomaly routes and the failure-risk routes."""

from __future__ import annotations

from aiohttp import web

from services.analytics.anomalies import routes as anomalies
from services.analytics.risk import routes as risk


def add_routes(app: web.Application) -> None:
    anomalies.add_routes(app)
    risk.add_routes(app)

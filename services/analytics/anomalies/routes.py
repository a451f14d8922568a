"""URL table of the anomaly routes."""

from __future__ import annotations

from aiohttp import web

from services.analytics.anomalies import handlers


def add_routes(app: web.Application) -> None:
    router = app.router
    router.add_get("/api/v1/anomalies", handlers.list_anomalies, name="anomalies_list")
    router.add_get(
        "/api/v1/machines/{machine}/anomalies",
        handlers.machine_anomalies,
        name="machine_anomalies",
    )

"""URL table of the risk routes."""

from __future__ import annotations

from aiohttp import web

from services.analytics.risk import handlers


def add_routes(app: web.Application) -> None:
    router = app.router
    router.add_get("/api/v1/machines/{machine}/risk", handlers.machine_risk, name="machine_risk")
    router.add_get("/api/v1/maintenance/risk", handlers.maintenance_risk, name="maintenance_risk")

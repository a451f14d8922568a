"""URL table of the stop routes: stops, stop reasons and the downtime Pareto."""

from __future__ import annotations

from aiohttp import web

from services.production.stops import handlers


def add_routes(app: web.Application) -> None:
    router = app.router
    router.add_get("/api/v1/stops", handlers.list_stops, name="stops_list")
    router.add_get("/api/v1/stops/{id}", handlers.get_stop, name="stop")
    router.add_patch("/api/v1/stops/{id}", handlers.change_stop, name="stop_change")
    router.add_get("/api/v1/stop-reasons", handlers.list_stop_reasons, name="stop_reasons")
    router.add_put(
        "/api/v1/stop-reasons/mapping", handlers.replace_mapping, name="stop_reason_mapping"
    )
    router.add_get("/api/v1/downtime/pareto", handlers.downtime_pareto, name="downtime_pareto")

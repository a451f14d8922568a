"""URL table of the telemetry query routes."""

from __future__ import annotations

from aiohttp import web

from services.telemetry.query import handlers


def add_routes(app: web.Application) -> None:
    router = app.router
    router.add_get("/api/v1/machines", handlers.list_machines, name="machines_list")
    router.add_get("/api/v1/machines/{machine}/latest", handlers.latest, name="machine_latest")
    router.add_get(
        "/api/v1/machines/{machine}/telemetry", handlers.series, name="machine_telemetry"
    )
    router.add_get("/api/v1/machines/{machine}/states", handlers.states, name="machine_states")
    router.add_get(
        "/api/v1/machines/{machine}/counters", handlers.counters, name="machine_counters"
    )
    router.add_get(
        "/api/v1/telemetry/dead-letters", handlers.dead_letters, name="telemetry_dead_letters"
    )
    router.add_get("/api/v1/oee", handlers.overall_equipment_effectiveness, name="oee")
    router.add_get("/api/v1/plant", handlers.plant, name="plant")

"""URL table of the Sparkplug routes: the edge nodes and the mapping."""

from __future__ import annotations

from aiohttp import web

from services.telemetry.sparkplug import handlers


def add_routes(app: web.Application) -> None:
    router = app.router
    router.add_get("/api/v1/sparkplug/nodes", handlers.list_nodes, name="sparkplug_nodes")
    router.add_get("/api/v1/sparkplug/mapping", handlers.get_mapping, name="sparkplug_mapping")
    router.add_put(
        "/api/v1/sparkplug/mapping", handlers.replace_mapping, name="sparkplug_mapping_replace"
    )

"""URL table of the production-order routes."""

from __future__ import annotations

from aiohttp import web

from services.production.orders import handlers


def add_routes(app: web.Application) -> None:
    router = app.router
    router.add_get("/api/v1/production-orders", handlers.list_orders, name="production_orders_list")
    router.add_get("/api/v1/production-orders/{order}", handlers.get_order, name="production_order")

"""Application key of the production-order routes."""

from __future__ import annotations

from typing import Final

from aiohttp import web

from services.production.orders.service import ProductionOrders

ORDERS: Final = web.AppKey("production_orders", ProductionOrders)


def get_orders(app: web.Application) -> ProductionOrders:
    return app[ORDERS]

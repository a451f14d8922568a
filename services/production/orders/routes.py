"""URL table of the production-order routes and the context that builds their service object."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from aiohttp import web

from services.production.orders import handlers
from services.production.orders.keys import ORDERS
from services.production.orders.service import ProductionOrders
from shared.keys import BRANCHES, DICTIONARY, MES_POOL, PROTHEUS, SETTINGS

log = logging.getLogger(__name__)


async def _orders(app: web.Application) -> AsyncIterator[None]:
    # Runs after use_protheus's and use_mes_pool's contexts, which open what it holds.
    app[ORDERS] = ProductionOrders(
        source=app[PROTHEUS],
        branches=app[BRANCHES],
        settings=app[SETTINGS],
        mes_pool=app[MES_POOL],
        dictionary=app[DICTIONARY],
    )
    await load_dictionary(app)
    yield


async def load_dictionary(app: web.Application) -> None:
    """Read the order key's widths at start; with the ERP database down, on first use."""
    try:
        await app[DICTIONARY].order_key()
    except Exception as exc:
        log.warning("Protheus dictionary not read at start: %s", exc)


def register_order_routes(app: web.Application) -> None:
    """Add the order routes; call after `use_mes_pool(app)` and `use_protheus(app, ...)`."""
    app.cleanup_ctx.append(_orders)
    app.router.add_get(
        "/api/v1/production-orders", handlers.list_orders, name="production_orders_list"
    )
    app.router.add_get(
        "/api/v1/production-orders/{order}", handlers.get_order, name="production_order"
    )

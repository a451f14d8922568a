"""URL table of the production service: orders, reports, stops and the audit trail."""

from __future__ import annotations

from aiohttp import web

from services.production.orders import routes as orders
from services.production.reports import routes as reports
from services.production.stops import routes as stops
from shared.audit.handlers import register_audit_routes


def add_routes(app: web.Application) -> None:
    orders.add_routes(app)
    reports.add_routes(app)
    stops.add_routes(app)
    register_audit_routes(app)

"""Application key of the telemetry query routes."""

from __future__ import annotations

from typing import Final

from aiohttp import web

from services.telemetry.query.service import TelemetryQueries

TELEMETRY_QUERIES: Final = web.AppKey("telemetry_queries", TelemetryQueries)


def get_queries(app: web.Application) -> TelemetryQueries:
    return app[TELEMETRY_QUERIES]

"""URL table of the telemetry query routes and the context that builds their service object."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from aiohttp import web

from services.telemetry.query import handlers
from services.telemetry.query.keys import TELEMETRY_QUERIES
from services.telemetry.query.service import TelemetryQueries
from services.telemetry.query.shifts import ShiftCalendar
from shared.keys import BRANCHES, DICTIONARY, MES_POOL, PROTHEUS, SETTINGS


def _telemetry_queries(calendar: ShiftCalendar) -> Callable[[web.Application], AsyncIterator[None]]:
    async def context(app: web.Application) -> AsyncIterator[None]:
        # Runs after use_protheus's and use_mes_pool's contexts, which open what it holds.
        app[TELEMETRY_QUERIES] = TelemetryQueries(
            mes_pool=app[MES_POOL],
            source=app[PROTHEUS],
            branches=app[BRANCHES],
            dictionary=app[DICTIONARY],
            settings=app[SETTINGS],
            calendar=calendar,
        )
        yield

    return context


def register_query_routes(app: web.Application) -> None:
    """Add the query routes; call after `use_mes_pool(app)` and `use_protheus(app, ...)`.

    A bad SHIFT_CALENDAR raises shared.settings.ConfigError here, before anything opens.
    """
    settings = app[SETTINGS]
    calendar = ShiftCalendar.from_setting(settings.shift_calendar, settings.tz)
    app.cleanup_ctx.append(_telemetry_queries(calendar))
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

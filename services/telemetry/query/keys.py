"""Application key of the telemetry query routes: the plant's shift calendar, parsed at setup."""

from __future__ import annotations

from typing import Final

from aiohttp import web

from services.telemetry.query.shifts import ShiftCalendar

SHIFT_CALENDAR: Final = web.AppKey("shift_calendar", ShiftCalendar)


def get_shift_calendar(app: web.Application) -> ShiftCalendar:
    return app[SHIFT_CALENDAR]

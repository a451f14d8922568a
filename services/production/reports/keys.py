"""Application key of the production-report routes."""

from __future__ import annotations

from typing import Final

from aiohttp import web

from services.production.reports.service import Reports

REPORTS: Final = web.AppKey("reports", Reports)


def get_reports(app: web.Application) -> Reports:
    return app[REPORTS]

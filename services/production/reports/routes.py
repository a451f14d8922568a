"""URL table of the production-report routes."""

from __future__ import annotations

from aiohttp import web

from services.production.reports import handlers


def add_routes(app: web.Application) -> None:
    router = app.router
    router.add_post(
        "/api/v1/production-reports", handlers.create_report, name="production_reports_create"
    )
    router.add_get(
        "/api/v1/production-reports", handlers.list_reports, name="production_reports_list"
    )
    router.add_get("/api/v1/production-reports/{id}", handlers.get_report, name="production_report")
    router.add_patch(
        "/api/v1/production-reports/{id}",
        handlers.correct_report,
        name="production_report_correct",
    )

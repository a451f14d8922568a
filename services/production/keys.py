"""Application keys of the production service."""

from __future__ import annotations

from typing import Final

from aiohttp import web

from services.production.pusher.pusher import ReportPusher
from services.production.reports.service import Reports
from services.production.settings import PusherSettings

REPORTS: Final = web.AppKey("reports", Reports)
PUSHER_SETTINGS: Final = web.AppKey("pusher_settings", PusherSettings)
PUSHER: Final = web.AppKey("pusher", ReportPusher)


def get_reports(app: web.Application) -> Reports:
    return app[REPORTS]

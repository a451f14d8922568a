"""Analytics test helpers: settings for the analytics service's app on test databases, the
BI role's test password, and a dimension sync bound to an app."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from services.analytics.sync.service import DimensionSync
from shared.keys import MES_POOL, PROTHEUS_CONTEXT, SETTINGS
from shared.settings import AnalyticsSettings, Settings
from tests.helpers import NO_AUDIT

# Every analytics app of the tests sets mes_bi's password at start (the role is cluster-wide,
# tests run in parallel): all with this one, quotes and a backslash included (format's %L).
# tests/plugin.py also puts it in the environment, so a composed `make run` started by a test
# sets the same one rather than taking the login away from a test connecting as mes_bi.
BI_PASSWORD = "bi-'senha\"de\\teste"


def analytics_settings(protheus_dsn: str, mes_dsn: str, **overrides: Any) -> Settings:
    """Test settings; the jobs do not run by themselves unless `analytics` says so."""
    return Settings(
        **{
            "protheus_db_url": protheus_dsn,
            "mes_db_url": mes_dsn,
            "audit": NO_AUDIT,
            "analytics": AnalyticsSettings(enabled=False, bi_password=BI_PASSWORD),
            **overrides,
        },
    )


def dimension_sync(app: web.Application, **options: Any) -> DimensionSync:
    """A sync on the app's own pool, Protheus context and settings."""
    return DimensionSync(app[MES_POOL], app[PROTHEUS_CONTEXT], app[SETTINGS], **options)

"""Analytics fixtures: the analytics service's real app on a migrated MES database and a
writable tiny demo Protheus database, and a dimension sync bound to them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from services.analytics.app import create_app
from services.analytics.sync.service import DimensionSync
from shared.keys import MES_POOL, PROTHEUS_CONTEXT, SETTINGS
from shared.settings import AnalyticsSettings, AuditSettings, Settings

NO_AUDIT = AuditSettings(enabled=False)
# Every analytics app of the tests sets mes_bi's password at start (the role is cluster-wide,
# tests run in parallel): all with this one, quotes and a backslash included (format's %L).
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


@pytest.fixture
async def analytics_app(
    aiohttp_client: Callable[..., Any], demo_dsn: str, mes_dsn: str
) -> Callable[..., Any]:
    """Start the analytics app (resources opened) with settings overrides; returns its client."""

    async def start(**overrides: Any) -> TestClient[Any, Any]:
        app = create_app(analytics_settings(demo_dsn, mes_dsn, **overrides))
        client: TestClient[Any, Any] = await aiohttp_client(app)
        return client

    return start


def dimension_sync(app: web.Application, **options: Any) -> DimensionSync:
    """A sync on the app's own pool, Protheus context and settings."""
    return DimensionSync(app[MES_POOL], app[PROTHEUS_CONTEXT], app[SETTINGS], **options)

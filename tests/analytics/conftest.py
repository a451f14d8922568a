"""Analytics fixtures: the analytics service's real app on a migrated MES database and a
writable tiny demo Protheus database."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from services.analytics.app import create_app
from tests.support.analytics import analytics_settings


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

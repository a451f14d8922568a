"""Simulator fixtures: cheap copies of the tiny demo (tests/plugin.py's `demo_dsn` for a test's
own) and simulator clients built through the real config and factory."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from protheus_demo.simulator import SimulatorConfig, create_simulator
from tests.support.databases import Reaper, create_database, run_async


@pytest.fixture(scope="module")
def module_demo_dsn(
    template_database: Callable[[str], str], database_reaper: Reaper
) -> Iterator[str]:
    """A demo copy shared by a module whose tests write nothing that others count."""
    template = template_database("demo")
    dsn = run_async(lambda: create_database("t_sim_", template=template))
    yield dsn
    database_reaper.drop([dsn])


StartSimulator = Callable[..., Awaitable[TestClient]]


@pytest.fixture
def start_simulator(aiohttp_client: Any) -> StartSimulator:
    """Build the app through the real config and factory; keyword overrides change the config."""

    async def start(dsn: str, **overrides: Any) -> TestClient:
        return await aiohttp_client(create_simulator(SimulatorConfig(db_url=dsn, **overrides)))

    return start

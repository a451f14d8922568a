"""Simulator fixtures: a private tiny demo template, cheap copies of it, and simulator clients."""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient

from protheus_demo.load import load_demo
from protheus_demo.simulator import SimulatorConfig, create_simulator
from tests.conftest import ADMIN_DSN, dsn_for

USER = PASSWORD = "mesinteg"
BASIC = {"Authorization": "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()}


async def _admin(statement: str) -> None:
    admin = await asyncpg.connect(ADMIN_DSN)
    try:
        await admin.execute(statement)
    finally:
        await admin.close()


async def copy_database(template: str) -> str:
    """A new database cloned from the template (about 0.1 s at the tiny scale)."""
    name = f"t_sim_{uuid.uuid4().hex[:12]}"
    await _admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    return name


async def drop_database(name: str) -> None:
    await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def simulator_template() -> AsyncIterator[str]:
    """A tiny demo database nobody connects to after loading, so it can be a template.

    Our own rather than `demo_protheus_dsn`: CREATE DATABASE ... TEMPLATE fails while
    anyone (another suite's pool) is connected to the source.
    """
    name = f"t_simtpl_{uuid.uuid4().hex[:12]}"
    await _admin(f'CREATE DATABASE "{name}"')
    conn = await asyncpg.connect(dsn_for(name))
    try:
        await load_demo(conn, scale="tiny")
    finally:
        await conn.close()
    yield name
    await drop_database(name)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def module_demo_dsn(simulator_template: str) -> AsyncIterator[str]:
    """A demo copy shared by a module whose tests write nothing that others count."""
    name = await copy_database(simulator_template)
    yield dsn_for(name)
    await drop_database(name)


@pytest.fixture
async def demo_dsn(simulator_template: str) -> AsyncIterator[str]:
    """A demo copy of the test's own, for tests that write appointments."""
    name = await copy_database(simulator_template)
    yield dsn_for(name)
    await drop_database(name)


StartSimulator = Callable[..., Awaitable[TestClient]]


@pytest.fixture
def start_simulator(aiohttp_client: Any) -> StartSimulator:
    """Build the app through the real config and factory; keyword overrides change the config."""

    async def start(dsn: str, **overrides: Any) -> TestClient:
        return await aiohttp_client(create_simulator(SimulatorConfig(db_url=dsn, **overrides)))

    return start

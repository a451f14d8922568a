"""Demo-database fixtures: one tiny demo loaded per session for the read-only trap checks."""

from __future__ import annotations

import asyncio
import datetime
import uuid
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest

from protheus_demo.load import load_demo
from tests.conftest import ADMIN_DSN, dsn_for

# A fixed reference date: every "expired", "idle" or "future" check is relative to it.
TODAY = datetime.date(2024, 6, 1)
SEED = 20240101


async def _create(name: str) -> None:
    admin = await asyncpg.connect(ADMIN_DSN)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    conn = await asyncpg.connect(dsn_for(name))
    try:
        await load_demo(conn, scale="tiny", seed=SEED, today=TODAY)
    finally:
        await conn.close()


async def _drop(name: str) -> None:
    admin = await asyncpg.connect(ADMIN_DSN)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture(scope="session")
def tiny_demo_dsn() -> Iterator[str]:
    """DSN of a tiny demo database shared by the tests that only read it.

    Loaded once (fresh_database is per test); a sync fixture running its own event
    loop keeps asyncpg connections out of the tests' loops.
    """
    name = f"t_demo_{uuid.uuid4().hex[:12]}"
    try:
        asyncio.run(_create(name))
        yield dsn_for(name)
    finally:
        asyncio.run(_drop(name))


@pytest.fixture
async def demo(tiny_demo_dsn: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection to the shared tiny demo database."""
    conn = await asyncpg.connect(tiny_demo_dsn)
    try:
        yield conn
    finally:
        await conn.close()

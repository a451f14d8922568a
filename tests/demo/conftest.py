"""Demo-database fixtures: one tiny demo loaded per session for the read-only trap checks."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import asyncpg
import pytest


@pytest.fixture(scope="session")
def tiny_demo_dsn(session_database: Callable[[str], str]) -> str:
    """DSN of a tiny demo database (seed SEED, reference date TODAY) shared by the tests
    that only read it."""
    return session_database("demo_fixed")


@pytest.fixture
async def demo(tiny_demo_dsn: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection to the shared tiny demo database."""
    conn = await asyncpg.connect(tiny_demo_dsn)
    try:
        yield conn
    finally:
        await conn.close()

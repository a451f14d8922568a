"""Shared test fixtures: real PostgreSQL databases created per test and dropped afterwards."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import pytest
import pytest_asyncio

# Services the tests start as processes record no audit (the apps built in-process get
# tests.helpers.NO_AUDIT in their Settings): the default MES_DB_URL is no test's database.
os.environ.setdefault("AUDIT_ENABLED", "false")

# The server the tests run against; `make test` makes sure one answers here.
ADMIN_DSN = os.environ.get("TEST_PG_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")


def dsn_for(database: str) -> str:
    """The admin DSN pointed at another database on the same server."""
    base, _, _ = ADMIN_DSN.rpartition("/")
    return f"{base}/{database}"


async def create_database(prefix: str = "t_") -> str:
    """A new, empty database on the test server; its DSN."""
    name = f"{prefix}{uuid.uuid4().hex[:16]}"
    admin = await asyncpg.connect(ADMIN_DSN)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return dsn_for(name)


async def drop_databases(dsns: list[str]) -> None:
    admin = await asyncpg.connect(ADMIN_DSN)
    try:
        for dsn in dsns:
            name = dsn.rsplit("/", 1)[-1]
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
async def fresh_database() -> AsyncIterator[Callable[[], Awaitable[str]]]:
    """A factory of new, empty databases (DSNs); every one is dropped after the test."""
    created: list[str] = []

    async def make() -> str:
        created.append(await create_database())
        return created[-1]

    yield make
    await drop_databases(created)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def demo_protheus_dsn() -> AsyncIterator[str]:
    """A demo Protheus database at the `tiny` scale, loaded once per run (read-only use)."""
    from protheus_demo.load import load_demo

    name = f"t_demo_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(ADMIN_DSN)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    conn = await asyncpg.connect(dsn_for(name))
    try:
        await load_demo(conn, scale="tiny")
    finally:
        await conn.close()
    yield dsn_for(name)
    admin = await asyncpg.connect(ADMIN_DSN)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def demo_two_companies_dsn() -> AsyncIterator[str]:
    """The tiny demo (company 01) plus company 02 under Gestão de Empresas (layout EEUUFF,
    branches 01SP01/01SP02/01RJ01), loaded once per run (read-only use)."""
    from protheus_demo.company import load_unit_company
    from protheus_demo.load import load_demo

    dsn = await create_database("t_demo2_")
    conn = await asyncpg.connect(dsn)
    try:
        await load_demo(conn, scale="tiny")
        await load_unit_company(conn)
    finally:
        await conn.close()
    yield dsn
    await drop_databases([dsn])

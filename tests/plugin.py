"""The suite's shared fixtures (registered once, by tests/conftest.py): test databases on the
real PostgreSQL server, cloned from templates built once per run and dropped in the background.

Every database a fixture hands out is the test's own: clones of a template, never the template
itself (CREATE DATABASE ... TEMPLATE needs a source nobody is connected to).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import asyncpg
import pytest

from deploy.supervisor import free_port
from tests.support.analytics import BI_PASSWORD
from tests.support.databases import (
    Reaper,
    Templates,
    create_database,
    dsn_for,
    run_async,
)
from tests.support.telemetry import Broker

# mes_bi is the cluster's, shared by every test database: whatever starts an analytics
# service in a test (a composed `make run` too) gives it this one password, so none takes
# the login away from a test connecting as mes_bi.
os.environ.setdefault("ANALYTICS_BI_PASSWORD", BI_PASSWORD)


async def _migrated(conn: asyncpg.Connection) -> None:
    from shared.migrations import migrate

    await migrate(conn)


async def _protheus_schema(conn: asyncpg.Connection) -> None:
    from protheus_demo.load import create_schema

    await create_schema(conn, company="01")


async def _tiny_demo(conn: asyncpg.Connection) -> None:
    from protheus_demo.load import load_demo

    await load_demo(conn, scale="tiny")


async def _tiny_demo_fixed(conn: asyncpg.Connection) -> None:
    from protheus_demo.load import load_demo
    from tests.support.demo import SEED, TODAY

    await load_demo(conn, scale="tiny", seed=SEED, today=TODAY)


async def _tiny_demo_two_companies(conn: asyncpg.Connection) -> None:
    from protheus_demo.company import load_unit_company

    await _tiny_demo(conn)
    await load_unit_company(conn)


# Template key -> how it is filled.
TEMPLATES: dict[str, Callable[[asyncpg.Connection], Awaitable[None]]] = {
    # A MES database with every migration applied.
    "mes": _migrated,
    # Empty Protheus tables of company 01, SX2 as the demo has it.
    "erp01": _protheus_schema,
    # The demo Protheus database at the `tiny` scale (seed and date of the loader's defaults).
    "demo": _tiny_demo,
    # The tiny demo with a fixed seed and reference date (tests/support/demo.py).
    "demo_fixed": _tiny_demo_fixed,
    # The tiny demo (company 01) plus company 02 under Gestão de Empresas (layout EEUUFF,
    # branches 01SP01/01SP02/01RJ01).
    "demo2": _tiny_demo_two_companies,
}

Clone = Callable[[str], Awaitable[str]]


@pytest.fixture(scope="session")
def database_reaper() -> Iterator[Reaper]:
    """Drops the run's databases in the background; waits for the last ones at the end."""
    reaper = Reaper()
    yield reaper
    reaper.close()


@pytest.fixture(scope="session")
def database_templates(database_reaper: Reaper) -> Iterator[Templates]:
    templates = Templates()
    yield templates
    database_reaper.drop(dsn_for(name) for name in templates.names())


@pytest.fixture(scope="session")
def template_database(database_templates: Templates) -> Callable[[str], str]:
    """The name of a template of TEMPLATES (built on first use)."""

    def get(key: str) -> str:
        return database_templates.get(key, TEMPLATES[key])

    return get


@pytest.fixture(scope="session")
def session_database(
    template_database: Callable[[str], str], database_reaper: Reaper
) -> Iterator[Callable[[str], str]]:
    """One clone of a template per run and key, shared by the tests that only read it."""
    made: dict[str, str] = {}

    def get(key: str) -> str:
        if key not in made:
            template = template_database(key)
            made[key] = run_async(lambda: create_database(f"t_{key}_", template=template))
        return made[key]

    yield get
    database_reaper.drop(made.values())


@pytest.fixture
async def fresh_database(database_reaper: Reaper) -> AsyncIterator[Callable[[], Awaitable[str]]]:
    """A factory of new, empty databases (DSNs); every one is dropped after the test."""
    created: list[str] = []

    async def make() -> str:
        created.append(await create_database())
        return created[-1]

    yield make
    database_reaper.drop(created)


@pytest.fixture
async def clone_database(
    template_database: Callable[[str], str], database_reaper: Reaper
) -> AsyncIterator[Clone]:
    """A factory of the test's own copies of a template of TEMPLATES (DSNs); every one is
    dropped after the test."""
    created: list[str] = []

    async def make(key: str) -> str:
        created.append(await create_database(f"t_{key}_", template=template_database(key)))
        return created[-1]

    yield make
    database_reaper.drop(created)


@pytest.fixture
async def mes_dsn(clone_database: Clone) -> str:
    """A new MES database with every migration applied."""
    return await clone_database("mes")


@pytest.fixture
async def demo_dsn(clone_database: Clone) -> str:
    """A writable copy of the tiny demo Protheus database, the test's own."""
    return await clone_database("demo")


@pytest.fixture(scope="session")
def demo_protheus_dsn(session_database: Callable[[str], str]) -> str:
    """The tiny demo Protheus database, shared by the run (read-only use)."""
    return session_database("demo")


@pytest.fixture(scope="session")
def demo_two_companies_dsn(session_database: Callable[[str], str]) -> str:
    """The tiny demo (company 01) plus company 02 under Gestão de Empresas (layout EEUUFF,
    branches 01SP01/01SP02/01RJ01), shared by the run (read-only use)."""
    return session_database("demo2")


@pytest.fixture
async def broker(tmp_path) -> AsyncIterator[Broker]:
    """A Mosquitto of the test's own, with the project's broker configuration (spare port)."""
    b = Broker(port=free_port(), directory=tmp_path)
    await b.start()
    yield b
    await b.stop()

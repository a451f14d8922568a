"""Application factory of the Protheus REST simulator: keys, middlewares, database, routes."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import asyncpg
from aiohttp import web

from protheus_demo.load import has_protheus_tables
from protheus_demo.simulator.auth import auth_middleware
from protheus_demo.simulator.config import FaultSettings, SimulatorConfig
from protheus_demo.simulator.dictionary import Dictionary
from protheus_demo.simulator.errors import error_middleware
from protheus_demo.simulator.faults import fault_middleware
from protheus_demo.simulator.guard import NotADemoDatabase, check_demo_database
from protheus_demo.simulator.injector import FaultInjector
from protheus_demo.simulator.keys import CONFIG, DICTIONARY, FAULTS, POOL, TOKENS
from protheus_demo.simulator.routes import register
from protheus_demo.simulator.tokens import TokenStore
from shared.redact import mask_dsn

__all__ = ["FaultSettings", "NotADemoDatabase", "SimulatorConfig", "create_simulator"]

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 256 * 1024


async def open_database(app: web.Application) -> AsyncIterator[None]:
    """The pool, opened only on a database that carries the demo marker (cleanup context)."""
    config = app[CONFIG]
    pool = await asyncpg.create_pool(
        config.db_url,
        min_size=1,
        max_size=config.pool_max,
        server_settings={"application_name": "protheus-simulator"},
    )
    try:
        async with pool.acquire() as conn:
            await conn.fetchval("SELECT 1")
            await check_demo_database(conn, config.company, mask_dsn(config.db_url))
            if not await has_protheus_tables(conn, config.company):
                raise NotADemoDatabase(
                    f"recusando iniciar: a base demo {mask_dsn(config.db_url)} não tem as "
                    f"tabelas da empresa {config.company} (PROTHEUS_COMPANY)"
                )
            app[DICTIONARY] = await Dictionary.load(conn, config.company)
        app[POOL] = pool
        log.info("protheus simulator using demo database %s", mask_dsn(config.db_url))
        yield
    finally:
        await pool.close()


def create_simulator(config: SimulatorConfig) -> web.Application:
    """The simulator app; the database is opened (and checked) when the app starts."""
    app = web.Application(
        # Outermost first: errors and the access line wrap the faults, which come before
        # authentication (an overloaded AppServer fails before it checks anyone).
        middlewares=[error_middleware, fault_middleware, auth_middleware],
        client_max_size=MAX_BODY_BYTES,
    )
    app[CONFIG] = config
    app[TOKENS] = TokenStore(access_ttl_s=config.access_ttl_s, refresh_ttl_s=config.refresh_ttl_s)
    app[FAULTS] = FaultInjector(config.faults)
    app.cleanup_ctx.append(open_database)
    register(app)
    return app

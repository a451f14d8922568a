"""asyncpg pools: the MES database, and the Protheus database when it is PostgreSQL."""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from shared.errors import DependencyUnavailable
from shared.redact import mask_dsn

log = logging.getLogger(__name__)

# Failures that mean the database (or the way to it) is away, not that the SQL is wrong.
# What query functions take: a connection of their own or one borrowed from a pool.
Connection: TypeAlias = "asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]"

PG_UNAVAILABLE: tuple[type[BaseException], ...] = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.QueryCanceledError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
)


def ssl_context(ca_file: str | None) -> ssl.SSLContext | None:
    return ssl.create_default_context(cafile=ca_file) if ca_file else None


async def create_pg_pool(
    dsn: str,
    *,
    max_size: int,
    statement_timeout_ms: int | None = None,
    read_only: bool = False,
    ca_file: str | None = None,
    application_name: str = "mes-integration",
) -> asyncpg.Pool:
    """An asyncpg pool that opens connections on demand (a database down at start is not fatal)."""
    server_settings = {"application_name": application_name}
    if statement_timeout_ms:
        server_settings["statement_timeout"] = str(statement_timeout_ms)
    if read_only:
        server_settings["default_transaction_read_only"] = "on"
    pool = await asyncpg.create_pool(
        dsn,
        min_size=0,
        max_size=max_size,
        server_settings=server_settings,
        ssl=ssl_context(ca_file),
        max_inactive_connection_lifetime=60,
    )
    assert pool is not None
    return pool


PG_DOWN_OR_REFUSED: tuple[type[BaseException], ...] = (*PG_UNAVAILABLE, asyncpg.PostgresError)


async def check_pool(pool: asyncpg.Pool, dsn: str, name: str) -> bool:
    """SELECT 1 at start-up, logged with the DSN masked; False (not an error) when down."""
    started = time.perf_counter()
    try:
        async with pool.acquire(timeout=5) as conn:
            await conn.fetchval("SELECT 1")
    except PG_DOWN_OR_REFUSED as exc:
        log.warning("database %s unreachable at %s: %s", name, mask_dsn(dsn), exc)
        return False
    log.info(
        "database %s ready at %s (%.0f ms)",
        name,
        mask_dsn(dsn),
        (time.perf_counter() - started) * 1000,
    )
    return True


@asynccontextmanager
async def mes_connection(pool: asyncpg.Pool) -> AsyncIterator[Connection]:
    """A MES connection whose connection failures surface as 503."""
    try:
        async with pool.acquire(timeout=10) as conn:
            yield conn
    except PG_UNAVAILABLE as exc:
        raise DependencyUnavailable(
            "O banco de dados do MES está indisponível no momento."
        ) from exc

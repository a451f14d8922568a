"""Read-only access to the Protheus database over asyncpg or ODBC."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Mapping
from typing import Any, Protocol

import asyncpg

from shared.db.dialect import (
    POSTGRESQL,
    TSQL,
    TSQL_BEFORE_2017,
    TSQL_VERSION_SQL,
    Dialect,
    render,
    tsql_dialect,
)
from shared.db.pools import PG_UNAVAILABLE, create_pg_pool
from shared.errors import DependencyUnavailable
from shared.protheus.naming import table_name

log = logging.getLogger(__name__)

Row = dict[str, Any]


def _clean(value: Any) -> Any:
    # Protheus CHAR columns are blank-padded; values are presented trimmed.
    return value.rstrip() if isinstance(value, str) else value


# --- the Protheus database --------------------------------------------------------------


class ProtheusSource(Protocol):
    """Read-only access to the Protheus database, whatever the engine and driver."""

    dialect: Dialect
    company: str

    def table(self, alias: str) -> str: ...

    async def fetch(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Row]: ...

    async def ping(self) -> None: ...

    async def close(self) -> None: ...


class _SourceBase:
    def __init__(self, *, company: str, dialect: Dialect) -> None:
        self.company = company
        self.dialect = dialect

    def table(self, alias: str) -> str:
        return table_name(alias, self.company)


def _unavailable(exc: BaseException) -> DependencyUnavailable:
    if isinstance(exc, asyncpg.QueryCanceledError) or "timeout" in type(exc).__name__.lower():
        return DependencyUnavailable(
            "A consulta ao banco do Protheus excedeu o tempo limite; tente um filtro mais restrito."
        )
    return DependencyUnavailable("O banco de dados do Protheus está indisponível no momento.")


class PgProtheusSource(_SourceBase):
    """Protheus on PostgreSQL through asyncpg: read-only transactions, statement timeout."""

    def __init__(self, pool: asyncpg.Pool, *, company: str, acquire_timeout: float) -> None:
        super().__init__(company=company, dialect=POSTGRESQL)
        self.pool = pool
        self.acquire_timeout = acquire_timeout

    async def fetch(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Row]:
        text, args = render(sql, params or {}, style="dollar", dialect=self.dialect)
        try:
            async with self.pool.acquire(timeout=self.acquire_timeout) as conn:
                records = await conn.fetch(text, *args)
        except PG_UNAVAILABLE as exc:
            raise _unavailable(exc) from exc
        return [{k: _clean(v) for k, v in record.items()} for record in records]

    async def ping(self) -> None:
        async with self.pool.acquire(timeout=self.acquire_timeout) as conn:
            await conn.fetchval("SELECT 1")

    async def close(self) -> None:
        await self.pool.close()


class OdbcProtheusSource(_SourceBase):
    """Protheus through ODBC (SQL Server in production; psqlODBC in the tests)."""

    def __init__(
        self, pool: Any, *, company: str, dialect: Dialect, acquire_timeout: float
    ) -> None:
        super().__init__(company=company, dialect=dialect)
        self.pool = pool
        self.acquire_timeout = acquire_timeout
        self.detected = not dialect.is_tsql  # the SQL Server version is read at start

    async def fetch(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Row]:
        import pyodbc

        text, args = render(sql, params or {}, style="qmark", dialect=self.dialect)
        try:
            async with asyncio.timeout(self.acquire_timeout):
                conn = await self.pool.acquire()
            try:
                async with conn.cursor() as cursor:
                    await cursor.execute(text, *args)
                    names = [column[0].lower() for column in cursor.description]
                    rows = await cursor.fetchall()
                await conn.rollback()  # read-only: end the implicit transaction
            finally:
                await self.pool.release(conn)
        except (pyodbc.OperationalError, pyodbc.InterfaceError, OSError, TimeoutError) as exc:
            raise _unavailable(exc) from exc
        except pyodbc.Error as exc:
            # Query timeouts (HYT00 from the driver, 57014 from PostgreSQL) and lost links (08xxx).
            state = str(exc.args[0]) if exc.args else ""
            if state in ("HYT00", "HYT01", "57014") or state.startswith("08"):
                raise DependencyUnavailable(
                    "A consulta ao banco do Protheus excedeu o tempo limite ou perdeu a conexão."
                ) from exc
            raise
        return [{n: _clean(v) for n, v in zip(names, row, strict=True)} for row in rows]

    async def ping(self) -> None:
        if not self.detected:
            try:
                await self.detect_dialect()
            except DependencyUnavailable:
                raise  # the server is away: try again on the next ping
            except Exception as exc:  # it answered but not the version: keep the safe variant
                log.warning(
                    "SQL Server version not readable (%s); writing SQL any version runs", exc
                )
                self.detected = True
        await self.fetch("SELECT 1 AS ok")

    async def detect_dialect(self) -> None:
        """SQL Server: read the version once and write SQL for it (TRANSLATE from 2017 on).

        Until the server has answered, the SQL is the pre-2017 variant, correct everywhere;
        the services ping at start, and a failed detection is retried on the next ping
        (every /readyz).
        """
        if not self.dialect.is_tsql:
            self.detected = True
            return
        rows = await self.fetch(TSQL_VERSION_SQL)
        version, edition = (rows[0]["version"], rows[0]["edition"]) if rows else (None, None)
        self.dialect = tsql_dialect(version, edition)
        self.detected = True
        log.info(
            "protheus database is SQL Server %s (engine edition %s): search normalisation by %s",
            version,
            edition,
            self.dialect.describe()["normalization"],
        )

    async def close(self) -> None:
        self.pool.close()
        await self.pool.wait_closed()


def odbc_dialect(connection_string: str) -> Dialect:
    """The target's dialect from the ODBC driver name: psqlODBC speaks PostgreSQL."""
    match = re.search(r"(?i)driver=\{?([^;}]*)", connection_string)
    driver = (match.group(1) if match else "").lower()
    return POSTGRESQL if "postgres" in driver else TSQL


async def open_protheus_source(
    url: str,
    *,
    company: str,
    pool_max: int,
    statement_timeout_ms: int,
    ca_file: str | None = None,
    application_name: str = "mes-integration",
) -> ProtheusSource:
    """Open a bounded, read-only pool on the Protheus database (connects lazily)."""
    acquire_timeout = max(statement_timeout_ms / 1000, 1.0)
    if url.lower().startswith("odbc://"):
        import aioodbc

        connection_string = url[len("odbc://") :]
        dialect = odbc_dialect(connection_string)
        seconds = max(1, round(statement_timeout_ms / 1000))

        async def protect(conn: Any) -> None:
            # Runs once per new pyodbc connection (sync calls, at connect time only).
            if not dialect.is_tsql:
                # psqlODBC has no query-timeout attribute: ask the server instead.
                conn.execute(f"SET statement_timeout = {int(statement_timeout_ms)}")
                conn.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
                conn.commit()  # a SET inside the driver's implicit transaction dies with a rollback
            else:
                conn.timeout = seconds  # SQL Server driver: per-statement query timeout

        pool = await aioodbc.create_pool(
            dsn=connection_string,
            minsize=0,
            maxsize=pool_max,
            autocommit=False,
            after_created=protect,
        )
        return OdbcProtheusSource(
            pool,
            company=company,
            # SQL Server: the variant every version runs, until the first ping (at start)
            # has read the server's version.
            dialect=TSQL_BEFORE_2017 if dialect.is_tsql else dialect,
            acquire_timeout=acquire_timeout,
        )
    pool = await create_pg_pool(
        url,
        max_size=pool_max,
        statement_timeout_ms=statement_timeout_ms,
        read_only=True,
        ca_file=ca_file,
        application_name=application_name,
    )
    return PgProtheusSource(pool, company=company, acquire_timeout=acquire_timeout)

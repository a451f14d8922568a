"""Database access: asyncpg pools for the MES, and a read-only Protheus source over asyncpg or ODBC.

SQL is written once per target dialect with named parameters (`:code`); the driver
turns them into its own placeholders (`$1` for asyncpg, `?` for ODBC), so the same
PostgreSQL text runs through asyncpg or through psqlODBC, and T-SQL through ODBC.
"""

from __future__ import annotations

import asyncio
import logging
import re
import ssl
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import asyncpg

from shared.errors import DependencyUnavailable, Detail, InvalidParameter
from shared.protheus import ORDER_KEY_COLUMNS, OrderKeyLayout, normalized_column_sql, table_name
from shared.redact import mask_dsn

log = logging.getLogger(__name__)

Row = dict[str, Any]

# A named parameter outside quotes; `::text` casts and quoted literals are skipped.
_TOKENS = re.compile(r"'(?:[^']|'')*'|::|:([A-Za-z_][A-Za-z0-9_]*)")


def ssl_context(ca_file: str | None) -> ssl.SSLContext | None:
    return ssl.create_default_context(cafile=ca_file) if ca_file else None


# --- dialects: how SQL text is written for the target database -------------------------


# Whitespace characters other than the space that PostgreSQL's `\s` matches (tab, line
# feed, vertical tab, form feed, carriage return): search text treats them as blanks.
CONTROL_BLANKS = (9, 10, 11, 12, 13)


@dataclass(frozen=True)
class Dialect:
    """The target database's SQL flavour (not the driver's).

    `translate`: the server has TRANSLATE (PostgreSQL; SQL Server 2017 and later). Older
    SQL Servers get the same normalisation from nested REPLACE calls.
    """

    name: str  # "postgresql" or "tsql"
    translate: bool = True

    def describe(self) -> dict[str, str]:
        """What /readyz says about the SQL written for this server."""
        return {
            "dialect": self.name,
            "normalization": "translate" if self.translate else "nested_replace",
        }

    @property
    def is_tsql(self) -> bool:
        return self.name == "tsql"

    # --- SQL pieces that differ between PostgreSQL and SQL Server ----------------------

    @property
    def recursive(self) -> str:
        """`WITH RECURSIVE` on PostgreSQL; SQL Server's CTEs recurse without the keyword."""
        return "WITH" if self.is_tsql else "WITH RECURSIVE"

    @property
    def page(self) -> str:
        """Row window for `:limit` rows after `:offset` (needs an ORDER BY before it)."""
        if self.is_tsql:
            return "OFFSET :offset ROWS FETCH NEXT :limit ROWS ONLY"
        return "LIMIT :limit OFFSET :offset"

    @property
    def materialized(self) -> str:
        """Compute a CTE once even when the planner would inline it (PostgreSQL 12+)."""
        return "" if self.is_tsql else "MATERIALIZED"

    @property
    def text(self) -> str:
        return "VARCHAR(MAX)" if self.is_tsql else "TEXT"

    @property
    def float(self) -> str:
        return "FLOAT" if self.is_tsql else "DOUBLE PRECISION"

    @property
    def binary_order(self) -> str:
        """Byte-wise collation, so control-character separators in sort keys sort first."""
        return "COLLATE Latin1_General_BIN" if self.is_tsql else 'COLLATE "C"'

    def cat(self, *parts: str) -> str:
        return (" + " if self.is_tsql else " || ").join(parts)

    def chr(self, code: int) -> str:
        return f"CHAR({code})" if self.is_tsql else f"chr({code})"

    def contains(self, haystack: str, needle: str) -> str:
        """The needle appears literally (no wildcard meaning) in the haystack."""
        if self.is_tsql:
            return f"CHARINDEX({needle}, {haystack}) > 0"
        return f"strpos({haystack}, {needle}) > 0"

    def starts(self, haystack: str, needle: str) -> str:
        if self.is_tsql:
            return f"LEFT({haystack}, LEN({needle})) = {needle}"
        return f"starts_with({haystack}, {needle})"

    def length(self, expr: str) -> str:
        return f"LEN({expr})" if self.is_tsql else f"length({expr})"

    def limit_rows(self, select_list: str, rest: str, limit: str) -> str:
        """`SELECT ... LIMIT n` / `SELECT TOP (n) ...`."""
        if self.is_tsql:
            return f"SELECT TOP ({limit}) {select_list} {rest}"
        return f"SELECT {select_list} {rest} LIMIT {limit}"

    def outer_lateral(self, subquery: str, alias: str) -> str:
        """A correlated subquery joined to every row, kept when it yields nothing."""
        if self.is_tsql:
            return f"OUTER APPLY ({subquery}) {alias}"
        return f"LEFT JOIN LATERAL ({subquery}) {alias} ON TRUE"

    def normalized(self, column: str) -> str:
        """The column without accents, in upper case (the expression the search filters on)."""
        return normalized_column_sql(column, self.name, translate=self.translate)

    def collapse_blanks(self, expr: str) -> str:
        """Trim, and collapse every run of blanks (spaces, tabs, line breaks) to one space.

        PostgreSQL: `\\s+` to a space, only where a row has a run or a control blank (most
        have neither). SQL Server: control blanks become spaces; then each space gets a tab
        after it, "tab space" pairs go, and the last tab of each run goes, which leaves one
        space per run of any length (the tab is free to mark with: none is left by then).
        """
        if self.is_tsql:
            spaced = expr
            for code in CONTROL_BLANKS:
                spaced = f"REPLACE({spaced}, CHAR({code}), ' ')"
            marked = f"REPLACE({spaced}, ' ', ' ' + CHAR(9))"
            collapsed = f"REPLACE(REPLACE({marked}, CHAR(9) + ' ', ''), CHAR(9), '')"
            return f"LTRIM(RTRIM({collapsed}))"
        tests = " OR ".join(
            [f"strpos({expr}, '  ') > 0"]
            + [f"strpos({expr}, chr({code})) > 0" for code in CONTROL_BLANKS]
        )
        return (
            f"(CASE WHEN {tests} "
            f"THEN btrim(regexp_replace({expr}, '\\s+', ' ', 'g')) ELSE btrim({expr}) END)"
        )

    def prefix(self, column: str, length: str) -> str:
        """The first `length` characters of a CHAR column, compared blank-insensitively with
        another CHAR column (xFilial of one table from another table's row filial)."""
        if self.is_tsql:
            return f"LEFT({column}, {length})"
        return f"CAST(left({column}, {length}) AS bpchar)"

    def param(self, placeholder: str, value: Any) -> str:
        # SQL Server: a Python str is sent as NVARCHAR, and NVARCHAR against a CHAR
        # column forces a scan; cast to VARCHAR so the index on the column is used.
        if self.is_tsql and isinstance(value, str):
            return f"CAST({placeholder} AS VARCHAR({max(len(value), 1)}))"
        return placeholder


POSTGRESQL = Dialect("postgresql")
TSQL = Dialect("tsql")  # SQL Server 2017 (14) and later, Azure SQL
TSQL_BEFORE_2017 = Dialect("tsql", translate=False)

# SQL Server's version and engine edition (5 Azure SQL Database, 8 Azure SQL Managed
# Instance: both have every recent function whatever ProductVersion says).
TSQL_VERSION_SQL = (
    "SELECT CAST(SERVERPROPERTY('ProductVersion') AS VARCHAR(32)) AS version, "
    "CAST(SERVERPROPERTY('EngineEdition') AS INT) AS edition"
)
TRANSLATE_MAJOR = 14  # SQL Server 2017
AZURE_EDITIONS = frozenset({5, 8})


def tsql_dialect(version: str | None, edition: int | None) -> Dialect:
    """The T-SQL dialect for a server's ProductVersion ('13.0.5026.0') and EngineEdition."""
    if edition is not None and int(edition) in AZURE_EDITIONS:
        return TSQL
    match = re.match(r"\s*(\d+)\.", version or "")
    if match and int(match.group(1)) >= TRANSLATE_MAJOR:
        return TSQL
    return TSQL_BEFORE_2017


def render(
    sql: str, params: Mapping[str, Any], *, style: str, dialect: Dialect
) -> tuple[str, list[Any]]:
    """Replace `:name` parameters by driver placeholders: style 'dollar' ($n) or 'qmark' (?)."""
    args: list[Any] = []
    numbers: dict[str, int] = {}

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is None:
            return match.group(0)
        if name not in params:
            raise KeyError(f"SQL parameter :{name} not supplied")
        value = params[name]
        if style == "dollar":
            if name not in numbers:
                args.append(value)
                numbers[name] = len(args)
            return dialect.param(f"${numbers[name]}", value)
        args.append(value)
        return dialect.param("?", value)

    return _TOKENS.sub(replace, sql), args


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


# --- PostgreSQL pools -------------------------------------------------------------------


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


async def check_pool(pool: asyncpg.Pool, dsn: str, name: str) -> bool:
    """SELECT 1 at start-up, logged with the DSN masked; False (not an error) when down."""
    started = time.perf_counter()
    try:
        async with pool.acquire(timeout=5) as conn:
            await conn.fetchval("SELECT 1")
    except (*PG_UNAVAILABLE, asyncpg.PostgresError) as exc:
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
async def mes_connection(pool: asyncpg.Pool) -> AsyncIterator[asyncpg.Connection]:
    """A MES connection whose connection failures surface as 503."""
    try:
        async with pool.acquire(timeout=10) as conn:
            yield conn
    except PG_UNAVAILABLE as exc:
        raise DependencyUnavailable(
            "O banco de dados do MES está indisponível no momento."
        ) from exc


# --- branch (filial) per table -----------------------------------------------------------


class BranchError(InvalidParameter):
    """A branch code that does not fit the company's layout or FILIAL width (400)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, details=[Detail("branch", "layout", message)])


@dataclass(frozen=True)
class ShareMode:
    """One SX2 row: the share mode of each branch segment and the segment lengths.

    `company`/`unit` are X2_MODOEMP/X2_MODOUN (blank on old dictionaries), `branch` is
    X2_MODO; the lengths are X2_TAMEMP/X2_TAMUN/X2_TAMFIL (0 when absent).
    """

    branch: str = "E"
    company: str = ""
    unit: str = ""
    company_len: int = 0
    unit_len: int = 0
    branch_len: int = 0

    @property
    def layout(self) -> tuple[tuple[str, int], ...]:
        """(mode, length) of the company and unit segments, or () for an old dictionary
        (no MODOEMP/MODOUN, blank, or lengths 0): then only X2_MODO counts."""
        segments = tuple(
            (mode, length)
            for mode, length in ((self.company, self.company_len), (self.unit, self.unit_len))
            if length > 0
        )
        if not segments or any(mode not in ("C", "E") for mode, _ in segments):
            return ()
        return segments

    @property
    def code_length(self) -> int | None:
        """The length a branch code has under this table's layout (None: not declared)."""
        if not self.layout:
            return None
        return self.company_len + self.unit_len + self.branch_len or None

    def kept(self) -> int | None:
        """How many leading characters of the branch the table keeps (None: all of them).

        Modes are hierarchical: the first shared segment blanks itself and all after it.
        """
        keep = 0
        for mode, length in self.layout:
            if mode != "E":
                return keep
            keep += length
        return None if self.branch != "C" else keep


def xfilial(branch: str, mode: ShareMode | None, width: int | None = None) -> str:
    """What AdvPL's xFilial(alias) gives for `branch`: the kept prefix padded to the width.

    `mode` None is an exclusive table on an old dictionary (the whole code); `width` is
    the FILIAL column's width (None: unknown; CHAR comparison ignores trailing blanks, so
    the unpadded value, or one blank, matches all the same).
    """
    kept = None if mode is None else mode.kept()
    value = branch if kept is None else branch[:kept]
    return value.ljust(width) if width else value or " "


class BranchResolver:
    """What AdvPL's xFilial(alias) does for every table (PROTHEUS.md section 4).

    Modes come from SX2 (X2_CHAVE, X2_MODO and, under Gestão de Empresas, X2_MODOEMP,
    X2_MODOUN, X2_TAMEMP, X2_TAMUN, X2_TAMFIL), and the FILIAL widths from the catalog
    of columns, both read once and cached; where SX2 is absent the
    PROTHEUS_SHARED_TABLES setting says which tables are shared (whole code or blanks).
    """

    # SELECT *: old dictionaries lack the Gestão de Empresas columns.
    SQL_MODES = "SELECT * FROM {sx2} WHERE d_e_l_e_t_ = ' '"
    SQL_WIDTHS = (
        "SELECT table_name AS tab, column_name AS col, character_maximum_length AS width "
        "FROM information_schema.columns "
        "WHERE lower(table_name) LIKE '%{suffix}' AND lower(column_name) LIKE '%filial'"
    )

    def __init__(
        self, source: ProtheusSource, *, shared_tables: Sequence[str] = (), ttl_s: float = 600
    ) -> None:
        self.source = source
        self.fallback_shared = frozenset(shared_tables)
        self.ttl_s = ttl_s
        self._modes: dict[str, ShareMode] | None = None
        self._widths: dict[str, int] = {}
        self._loaded_at = 0.0
        self._lock = asyncio.Lock()

    async def modes(self) -> dict[str, ShareMode]:
        if self._modes is not None and time.monotonic() - self._loaded_at < self.ttl_s:
            return self._modes
        async with self._lock:
            if self._modes is None or time.monotonic() - self._loaded_at >= self.ttl_s:
                try:
                    rows = await self.source.fetch(
                        self.SQL_MODES.format(sx2=self.source.table("SX2"))
                    )
                    self._modes = {str(r["x2_chave"]).strip().upper(): share_mode(r) for r in rows}
                except DependencyUnavailable:
                    raise
                except Exception as exc:  # no SX2 on this database: use the setting
                    log.warning("SX2 not readable (%s); using PROTHEUS_SHARED_TABLES", exc)
                    self._modes = {}
                self._widths = await self._read_widths()
                self._loaded_at = time.monotonic()
        return self._modes

    async def _read_widths(self) -> dict[str, int]:
        """FILIAL width per alias ({alias}{company}0's *_FILIAL column), {} when unreadable."""
        suffix = f"{self.source.company.lower()}0"
        try:
            rows = await self.source.fetch(self.SQL_WIDTHS.format(suffix=suffix))
        except DependencyUnavailable:
            raise
        except Exception as exc:
            log.warning("FILIAL widths not readable (%s); branches are not padded", exc)
            return {}
        widths: dict[str, int] = {}
        for row in rows:
            table, column = str(row["tab"]).lower(), str(row["col"]).lower()
            alias = table[: -len(suffix)].upper()
            prefix = alias[1:] if alias.startswith("S") else alias
            if len(alias) == 3 and column == f"{prefix.lower()}_filial" and row["width"]:
                widths[alias] = int(row["width"])
        return widths

    def _mode(self, modes: dict[str, ShareMode], alias: str) -> ShareMode | None:
        mode = modes.get(alias)
        if mode is None and alias in self.fallback_shared:
            return ShareMode(branch="C")
        return mode

    async def check(self, branch: str, aliases: Sequence[str] = ()) -> None:
        """Raise BranchError when `branch` cannot be a branch of this company: longer than a
        FILIAL column, or not the length of a declared layout (X2_TAMEMP+TAMUN+TAMFIL)."""
        modes = await self.modes()
        names = [a.upper() for a in aliases] or sorted(set(modes) | set(self._widths))
        for alias in names:
            width = self._widths.get(alias)
            if width is not None and len(branch) > width:
                raise BranchError(
                    f"Filial {branch!r} tem {len(branch)} caracteres; o campo de filial "
                    f"da tabela {alias} comporta {width}."
                )
            mode = modes.get(alias)
            length = mode.code_length if mode else None
            if length is not None and len(branch) != length:
                raise BranchError(
                    f"Filial {branch!r} não segue o leiaute da empresa {self.source.company}: "
                    f"a tabela {alias} espera códigos de {length} caracteres "
                    "(empresa + unidade de negócio + filial)."
                )

    async def filial(self, alias: str, branch: str) -> str:
        """The value of ALIAS_FILIAL for `branch`: the prefix the table keeps, padded."""
        alias = alias.upper()
        modes = await self.modes()
        await self.check(branch, (alias,))
        return xfilial(branch, self._mode(modes, alias), self._widths.get(alias))

    async def kept(self, alias: str) -> int:
        """How many leading characters of a row's branch the table keeps, for joins that
        derive this table's FILIAL from another table's row: `left(row_filial, kept)`."""
        alias = alias.upper()
        mode = self._mode(await self.modes(), alias)
        kept = None if mode is None else mode.kept()
        return self._widths.get(alias, 99) if kept is None else kept


def share_mode(row: Mapping[str, Any]) -> ShareMode:
    """The ShareMode of one SX2 row (lower-case keys; absent columns count as blank/0)."""

    def mode(name: str) -> str:
        return str(row.get(name) or "").strip().upper()

    def length(name: str) -> int:
        try:
            return max(int(row.get(name) or 0), 0)
        except (TypeError, ValueError):
            return 0

    return ShareMode(
        branch=mode("x2_modo") or "E",
        company=mode("x2_modoemp"),
        unit=mode("x2_modoun"),
        company_len=length("x2_tamemp"),
        unit_len=length("x2_tamun"),
        branch_len=length("x2_tamfil"),
    )


# --- the data dictionary: column widths and optional tables ------------------------------


def dictionary_sql(dialect: Dialect, company: str) -> str:
    """One row: the declared widths of SC2's key columns and whether SH3 (alternative
    resources) exists. Only names derived from the validated company are formatted in."""
    sc2, sh3 = table_name("SC2", company), table_name("SH3", company)
    if dialect.is_tsql:
        widths = ", ".join(f"COL_LENGTH('{sc2}', '{c}') AS {c}" for c in ORDER_KEY_COLUMNS)
        return f"SELECT {widths}, CASE WHEN OBJECT_ID('{sh3}') IS NULL THEN 0 ELSE 1 END AS has_sh3"
    widths = ", ".join(
        f"MAX(CASE WHEN column_name = '{c}' THEN character_maximum_length END) AS {c}"
        for c in ORDER_KEY_COLUMNS
    )
    return (
        f"SELECT {widths}, CASE WHEN to_regclass('{sh3}') IS NULL THEN 0 ELSE 1 END AS has_sh3 "  # noqa: S608 - validated names only
        f"FROM information_schema.columns WHERE table_name = '{sc2}' "
        "AND table_schema = ANY (current_schemas(false))"
    )


class ProtheusDictionary:
    """What the services need of Protheus's dictionary, read once (at start, else on first use):
    the order key's widths (SC2's columns) and whether SH3 exists."""

    def __init__(self, source: ProtheusSource) -> None:
        self.source = source
        self._layout: OrderKeyLayout | None = None
        self._has_sh3 = False
        self._lock = asyncio.Lock()

    async def load(self) -> None:
        async with self._lock:
            if self._layout is not None:
                return
            rows = await self.source.fetch(dictionary_sql(self.source.dialect, self.source.company))
            row = rows[0] if rows else {}
            widths = [row.get(column) for column in ORDER_KEY_COLUMNS]
            if any(width is None or int(width) <= 0 for width in widths[:3]):
                raise DependencyUnavailable(
                    f"Não foi possível ler as larguras de C2_NUM, C2_ITEM e C2_SEQUEN em "
                    f"{self.source.table('SC2')}: confira a tabela e a permissão de leitura."
                )
            num, item, sequen, itemgrd = (int(width or 0) for width in widths)
            self._has_sh3 = bool(row.get("has_sh3"))
            self._layout = OrderKeyLayout(num, item, sequen, itemgrd)
            log.info(
                "order key layout from %s: %s; SH3 %s",
                self.source.table("SC2"),
                self._layout.widths,
                "present" if self._has_sh3 else "absent",
            )

    async def order_key(self) -> OrderKeyLayout:
        """The order key's layout (DependencyUnavailable while the database cannot be read)."""
        if self._layout is None:
            await self.load()
        assert self._layout is not None
        return self._layout

    async def has_alternative_resources(self) -> bool:
        """Whether SH3 (alternative/secondary resources of an operation) exists."""
        await self.order_key()
        return self._has_sh3

"""How SQL text is written for the target database (PostgreSQL or SQL Server).

SQL is written once per target dialect with named parameters (`:code`); `render` turns them
into the driver's placeholders (`$1` for asyncpg, `?` for ODBC), so the same PostgreSQL text
runs through asyncpg or through psqlODBC, and T-SQL through ODBC.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared.protheus.text import normalized_column_sql

# A named parameter outside quotes; `::text` casts and quoted literals are skipped.
_TOKENS = re.compile(r"'(?:[^']|'')*'|::|:([A-Za-z_][A-Za-z0-9_]*)")


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

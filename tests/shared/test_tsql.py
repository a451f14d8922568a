"""Every T-SQL statement the project can send to Protheus, parsed by a real T-SQL parser.

Statement builders are found, not listed: every public function in `services` and `shared`
with a `Dialect` parameter that returns `str` is rendered with every combination of its
arguments for SQL Server 2017+ and for older servers, exactly as the ODBC source sends it
(`?` placeholders, VARCHAR casts), and parsed with sqlglot's `tsql` dialect (errors raise).
sqlglot reads many PostgreSQL forms too, so the tokens are also checked against what SQL
Server lacks, every function called must be one SQL Server has (TRANSLATE, TRIM and the
like only from 2017), and a CTE built on a recursive one (the BOM explosion) is read once:
SQL Server runs a CTE again for every reference.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import itertools
import pkgutil
import re
import types
import typing
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel
from sqlglot.tokens import TokenType

import services
import shared
from services.analytics.sync.queries import MIRRORS
from services.production.orders.queries import STATUSES
from shared.db.dialect import _TOKENS, TSQL, TSQL_BEFORE_2017, TSQL_VERSION_SQL, Dialect
from shared.db.dialect import render as render_sql
from shared.protheus.branches import BranchResolver
from shared.protheus.keys import USUAL_ORDER_KEY, OrderKeyLayout
from shared.protheus.naming import Tables

COMPANY = "01"
DIALECTS = {"2017+": TSQL, "before-2017": TSQL_BEFORE_2017}

# Public functions taking a Dialect that return something other than SQL text.
NOT_STATEMENTS = {
    "services.catalog.search.like_contains",  # a LIKE pattern (a bound value)
    "services.catalog.search.word_start_pattern",  # a pattern (a bound value)
    # Fragments (an expression, an OUTER APPLY), parsed inside the statements using them.
    "shared.protheus.orders.order_status_sql",
    "shared.protheus.orders.order_activity_sql",
}

# Values of parameters whose type alone does not say which ones the callers pass.
DOMAINS: dict[str, tuple[Any, ...]] = {
    "services.catalog.queries.search_description.terms": (1, 2, 10),
    "services.catalog.queries.search_products.terms": (0, 1, 10),
    "services.production.orders.queries.list_orders.status": (None, *STATUSES),
    "services.telemetry.query.queries.ideal_times.inferred": (0, 1, 3),
    "services.telemetry.query.queries.ideal_times.numbers": (0, 1, 3),
    "services.telemetry.query.queries.ideal_times.machines": (0, 1, 3),
    "services.telemetry.query.queries.plant_erp.numbers": (0, 1, 3),
    **{
        f"services.analytics.sync.queries.{builder}.mirror": MIRRORS
        for builder in ("key_page_sql", "rows_in_range_sql", "rows_in_list_sql")
    },
    "services.analytics.sync.queries.rows_in_list_sql.count": (1, 3),
    "services.telemetry.query.queries.ideal_times.layout": (
        USUAL_ORDER_KEY,
        OrderKeyLayout(8, 2, 3, 0),
    ),
}

# Statements written as constants rather than built per dialect.
CONSTANTS = {
    "shared.protheus.branches.BranchResolver.SQL_MODES": BranchResolver.SQL_MODES.format(
        sx2="sx2010"
    ),
    "shared.db.dialect.TSQL_VERSION_SQL": TSQL_VERSION_SQL,
    "shared.db.sources.OdbcProtheusSource.ping": "SELECT 1 AS ok",
}

# Functions of SQL Server 2012 and later (the pre-2017 variant's floor), keywords that take
# parentheses, and type names with a length.
TSQL_CALLABLE = {
    "ABS", "CAST", "OBJECT_ID", "CHAR", "CHARINDEX", "COALESCE", "COL_LENGTH", "CONVERT", "COUNT",
    "DATEADD", "DATEDIFF", "FLOOR", "GETDATE", "IIF", "ISNULL", "LEFT", "LEN", "LOWER",
    "LTRIM", "MAX", "MIN", "NULLIF", "REPLACE", "RIGHT", "ROUND", "ROW_NUMBER", "RTRIM",
    "SERVERPROPERTY", "SUBSTRING", "SUM", "SYSDATETIME", "UPPER", "AVG", "DENSE_RANK", "RANK",
    "SQUARE", "CEILING", "FORMAT", "CONCAT", "TRY_CAST", "TRY_CONVERT", "HASHBYTES",
    # keywords followed by a parenthesis
    "AND", "AS", "EXISTS", "FROM", "IN", "JOIN", "NOT", "ON", "OR", "OVER", "SELECT", "TOP",
    "WHEN", "THEN", "ELSE", "WHERE", "APPLY", "ALL", "VALUES", "BY", "WITH", "UNION", "IS",
    # types
    "VARCHAR", "NVARCHAR", "NCHAR", "DECIMAL", "NUMERIC",
}  # fmt: skip
SINCE_2017 = {"TRANSLATE", "TRIM", "STRING_AGG", "CONCAT_WS"}
# What sqlglot reads in T-SQL mode although SQL Server has no such thing.
NOT_TSQL = {"LIMIT", "RECURSIVE", "MATERIALIZED", "LATERAL", "ILIKE", "TRUE", "FALSE", "::", "||"}


WORD = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


# Parameters bound as numbers (the others are strings, sent as VARCHAR).
NUMBERS = {"limit", "offset", "page_end", "cap", "max_depth", "qlen"}
NUMBERS |= {f"{alias}_shared" for alias in ("sa1", "sa2", "sb1")}


def _fill(qualified: str, parameter: inspect.Parameter) -> tuple[Any, ...]:
    if parameter.annotation is Tables:
        return (Tables(COMPANY),)
    if f"{qualified}.{parameter.name}" in DOMAINS:
        return DOMAINS[f"{qualified}.{parameter.name}"]
    annotation = parameter.annotation
    if annotation is bool:
        return (False, True)
    if typing.get_origin(annotation) is typing.Literal:
        return typing.get_args(annotation)
    raise AssertionError(
        f"{qualified}: no values for parameter {parameter.name!r}; add them to DOMAINS"
    )


def builders() -> Iterator[tuple[str, Callable[..., str], inspect.Signature]]:
    """Every public function of services/shared with a Dialect parameter returning str."""
    for package in (services, shared):
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            if info.name.rsplit(".", 1)[-1] == "__main__":
                continue
            module = importlib.import_module(info.name)
            for name, obj in vars(module).items():
                function = getattr(obj, "__wrapped__", obj)  # lru_cache
                if (
                    name.startswith("_")
                    or not isinstance(function, types.FunctionType)
                    or function.__module__ != module.__name__
                ):
                    continue
                signature = inspect.signature(function, eval_str=True)
                takes_dialect = any(p.annotation is Dialect for p in signature.parameters.values())
                qualified = f"{module.__name__}.{name}"
                returns_sql = signature.return_annotation is str and qualified not in NOT_STATEMENTS
                if takes_dialect and returns_sql:
                    yield qualified, obj, signature


def statements(dialect: Dialect) -> Iterator[tuple[str, str]]:
    """(label, SQL text as the ODBC source sends it) for every builder and argument set."""
    for label, sql in CONSTANTS.items():
        yield label, sql
    for qualified, builder, signature in builders():
        names, choices = [], []
        for parameter in signature.parameters.values():
            if parameter.annotation is Dialect:
                names.append(parameter.name)
                choices.append((dialect,))
            else:
                names.append(parameter.name)
                choices.append(_fill(qualified, parameter))
        for values in itertools.product(*choices):
            arguments = dict(zip(names, values, strict=True))
            sql = builder(**arguments)
            shown = {k: v for k, v in arguments.items() if k not in ("dialect", "tables")}
            yield f"{qualified}{shown}", sql


def sent(sql: str) -> str:
    """The text the ODBC source sends: `?` placeholders, strings cast to VARCHAR."""
    names = {m.group(1) for m in _TOKENS.finditer(sql) if m.group(1)}
    params = {name: 1 if name in NUMBERS else "X" for name in names}
    text, _ = render_sql(sql, params, style="qmark", dialect=TSQL)
    return text


@functools.cache
def parse(text: str) -> exp.Expression:
    """One T-SQL statement, parsed with errors raised (cached: variants share most texts)."""
    parsed = sqlglot.parse(text, read="tsql", error_level=ErrorLevel.RAISE)
    assert len(parsed) == 1
    assert parsed[0] is not None
    return parsed[0]


def called_names(sql: str) -> set[str]:
    """Names directly followed by `(` outside string literals (functions, types, keywords)."""
    tokens = sqlglot.tokenize(sql, read="tsql")
    return {
        token.text.upper()
        for token, following in itertools.pairwise(tokens)
        if following.token_type == TokenType.L_PAREN
        and token.token_type != TokenType.STRING
        and WORD.match(token.text)
    }


def cte_names(tree: exp.Expression) -> set[str]:
    return {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}


def reread_ctes(tree: exp.Expression) -> dict[str, int]:
    """CTEs built on a recursive CTE (and the recursive CTEs) read more than once."""
    ctes = {cte.alias_or_name.lower(): cte for cte in tree.find_all(exp.CTE)}

    def reads(node: exp.Expression) -> list[str]:
        return [t.name.lower() for t in node.find_all(exp.Table) if t.name.lower() in ctes]

    depends = {name: set(reads(cte.this)) for name, cte in ctes.items()}
    recursive = {name for name, used in depends.items() if name in used}
    heavy = set(recursive)
    changed = True
    while changed:
        changed = False
        for name, used in depends.items():
            if name not in heavy and used & heavy:
                heavy.add(name)
                changed = True
    counts = dict.fromkeys(heavy, 0)
    for name in reads(tree):
        if name in counts:
            counts[name] += 1
    for name in recursive:
        counts[name] -= 1  # its own recursive member
    return {name: n for name, n in counts.items() if n > 1}


def test_builders_are_found_in_every_service():
    found = {qualified.rsplit(".", 1)[0] for qualified, _, _ in builders()}
    assert {
        "services.catalog.queries",
        "services.production.orders.queries",
        "services.production.reports.queries",
        "services.telemetry.query.queries",
    } <= found


@pytest.mark.parametrize("variant", sorted(DIALECTS))
def test_every_tsql_statement_parses_and_uses_only_what_sql_server_has(variant):
    dialect = DIALECTS[variant]
    count = 0
    for label, sql in statements(dialect):
        text = sent(sql)
        tree = parse(text)
        tokens = {t.text.upper() for t in sqlglot.tokenize(text, read="tsql")
                  if t.token_type != TokenType.STRING}  # fmt: skip
        assert not tokens & NOT_TSQL, (label, tokens & NOT_TSQL)
        allowed = TSQL_CALLABLE | {name.upper() for name in cte_names(tree)}
        if dialect.translate:
            allowed |= SINCE_2017
        unknown = called_names(text) - allowed
        assert not unknown, (label, unknown)
        count += 1
    assert count > 200  # every argument combination of every builder (256 today)


def test_the_bom_explosion_is_read_once_per_statement():
    checked = 0
    for label, sql in statements(TSQL):
        tree = parse(sent(sql))
        assert reread_ctes(tree) == {}, label
        checked += "bom" in cte_names(tree) or "up" in cte_names(tree)
    assert checked >= 4  # structure, parents, guide with components (two branch forms)


def test_reread_detection_sees_a_second_read_of_a_recursive_chain():
    sql = (
        "WITH r (n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 3), c AS (SELECT * FROM r) "
        "SELECT (SELECT count(*) FROM c) AS total, x.n FROM c x"
    )
    assert reread_ctes(sqlglot.parse_one(sql, read="tsql")) == {"c": 2}

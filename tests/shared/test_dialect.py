"""SQL Server's variants: TRANSLATE only from 2017 (version read from the server), and search
normalisation and blank collapsing that give PostgreSQL's (and Python's) answer on each."""

from __future__ import annotations

from urllib.parse import urlsplit

import aioodbc
import asyncpg
import pytest

from shared.db.dialect import POSTGRESQL, TSQL, TSQL_BEFORE_2017, Dialect, tsql_dialect
from shared.db.sources import OdbcProtheusSource
from shared.protheus.text import normalize_text

SAMPLES = [
    "  conexão   Elétrica ",
    "TAB\t\tSEPARADO",
    "QUEBRA\r\nDE LINHA",
    "A" + " " * 40 + "B",  # a run longer than a fixed number of REPLACE passes collapses
    "x \t y\t",
    "ÇÃO ãé ÜÑ ôÕ",
    "   ",
    "",
    "SEM NADA",
]


@pytest.mark.parametrize(
    ("version", "edition", "expected"),
    [
        ("13.0.5026.0", 3, TSQL_BEFORE_2017),  # 2016
        ("11.0.7001.0", 2, TSQL_BEFORE_2017),  # 2012
        ("14.0.1000.169", 3, TSQL),  # 2017
        ("16.0.4135.4", 2, TSQL),  # 2022
        ("12.0.2000.8", 5, TSQL),  # Azure SQL Database answers 12 and has TRANSLATE
        (None, None, TSQL_BEFORE_2017),  # unknown: what every version runs
    ],
)
def test_the_server_version_chooses_the_variant(version, edition, expected):
    assert tsql_dialect(version, edition) == expected


def test_each_variant_says_what_it_writes():
    assert TSQL.describe() == {"dialect": "tsql", "normalization": "translate"}
    assert TSQL_BEFORE_2017.describe() == {"dialect": "tsql", "normalization": "nested_replace"}
    assert POSTGRESQL.describe()["dialect"] == "postgresql"
    assert "TRANSLATE" not in TSQL_BEFORE_2017.normalized("b1_desc").upper()
    assert "translate(" in TSQL.normalized("b1_desc")


def on_postgresql(tsql_expression: str) -> str:
    """A T-SQL string expression made of REPLACE, UPPER, LTRIM/RTRIM, CHAR and `+`, spelled
    for PostgreSQL (whose functions of those names do the same), to run it on real data."""
    return tsql_expression.replace("CHAR(", "chr(").replace(" + ", " || ")


@pytest.mark.parametrize("dialect", [TSQL, TSQL_BEFORE_2017, POSTGRESQL], ids=str)
async def test_normalised_and_collapsed_text_matches_python(fresh_database, dialect: Dialect):
    expression = dialect.collapse_blanks(dialect.normalized("v"))
    if dialect.is_tsql:
        expression = on_postgresql(expression)
    conn = await asyncpg.connect(await fresh_database())
    try:
        values = ", ".join(f"(${n})" for n in range(1, len(SAMPLES) + 1))
        rows = await conn.fetch(
            f"SELECT v, {expression} AS nd FROM (VALUES {values}) t(v)",
            *SAMPLES,
        )
    finally:
        await conn.close()
    assert {row["v"]: row["nd"] for row in rows} == {s: normalize_text(s) for s in SAMPLES}


def odbc_connection_string(dsn: str) -> str:
    parts = urlsplit(dsn)
    return (
        "DRIVER={PostgreSQL Unicode};"
        f"SERVER={parts.hostname};PORT={parts.port or 5432};DATABASE={parts.path.lstrip('/')};"
        f"UID={parts.username or 'postgres'};PWD={parts.password or ''}"
    )


@pytest.mark.parametrize(
    ("version", "edition", "expected"),
    [
        ("13.0.5026.0", "3", TSQL_BEFORE_2017),
        ("14.0.3465.1", "3", TSQL),
        (None, None, TSQL_BEFORE_2017),  # no answer to the question: ready all the same
    ],
)
async def test_the_odbc_source_reads_the_version_and_switches(
    fresh_database, version, edition, expected
):
    """The version query runs through ODBC as written; PostgreSQL stands in for SQL Server
    with a SERVERPROPERTY function answering what the server would."""
    dsn = await fresh_database()
    conn = await asyncpg.connect(dsn)
    try:
        if version is not None:
            await conn.execute(
                "CREATE FUNCTION serverproperty(name text) RETURNS text LANGUAGE sql AS $$ "
                f"SELECT CASE name WHEN 'ProductVersion' THEN '{version}' "
                f"WHEN 'EngineEdition' THEN '{edition}' END $$"
            )
    finally:
        await conn.close()
    pool = await aioodbc.create_pool(
        dsn=odbc_connection_string(dsn), minsize=0, maxsize=1, autocommit=False
    )
    source = OdbcProtheusSource(pool, company="01", dialect=TSQL_BEFORE_2017, acquire_timeout=5)
    try:
        assert not source.detected
        await source.ping()  # the services' first ping, at start
        assert source.detected
        assert source.dialect == expected
    finally:
        await source.close()

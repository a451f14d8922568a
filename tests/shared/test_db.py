"""Database layer against real PostgreSQL: parameter rendering, the Protheus source on asyncpg and
on ODBC (psqlODBC), read-only and timeout protection, branch resolution, migrations."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import asyncpg
import pytest

from shared.db.dialect import POSTGRESQL, TSQL, render
from shared.db.sources import odbc_dialect, open_protheus_source
from shared.errors import DependencyUnavailable
from shared.migrations import MES_MIGRATIONS, MigrationError, discover, migrate
from shared.protheus.branches import BranchResolver
from shared.protheus.naming import table_name
from shared.protheus.text import normalize_text
from tests.support.databases import odbc_url


def test_render_numbers_named_parameters_once_each_for_asyncpg():
    sql, args = render(
        "SELECT * FROM t WHERE a = :code AND b::text = :code AND c = ':literal' AND d = :n",
        {"code": "X", "n": 3},
        style="dollar",
        dialect=POSTGRESQL,
    )
    assert sql == "SELECT * FROM t WHERE a = $1 AND b::text = $1 AND c = ':literal' AND d = $2"
    assert args == ["X", 3]


def test_render_qmark_repeats_values_and_casts_strings_to_varchar_on_tsql():
    sql, args = render(
        "WHERE a = :code OR b = :code AND n > :n",
        {"code": "AB", "n": 1},
        style="qmark",
        dialect=TSQL,
    )
    assert sql == "WHERE a = CAST(? AS VARCHAR(2)) OR b = CAST(? AS VARCHAR(2)) AND n > ?"
    assert args == ["AB", "AB", 1]


def test_render_refuses_a_missing_parameter():
    with pytest.raises(KeyError):
        render("WHERE a = :missing", {}, style="dollar", dialect=POSTGRESQL)


def test_odbc_dialect_follows_the_driver_target():
    assert odbc_dialect("DRIVER={PostgreSQL Unicode};SERVER=x") is POSTGRESQL
    assert odbc_dialect("DRIVER={ODBC Driver 18 for SQL Server};SERVER=x") is TSQL


def test_table_names_come_from_the_company():
    assert table_name("SB1", "01") == "sb1010"
    assert table_name("SB1", "99") == "sb1990"
    with pytest.raises(ValueError, match="company"):
        table_name("SB1", "0'1")
    with pytest.raises(ValueError, match="alias"):
        table_name("SB1; --", "01")


def test_normalize_text_removes_accents_and_collapses_blanks():
    assert normalize_text("  conexão   Elétrica ") == "CONEXAO ELETRICA"


@pytest.fixture
async def protheus_db(fresh_database):
    dsn = await fresh_database()
    conn = await asyncpg.connect(dsn)
    await conn.execute(
        """
        CREATE TABLE sx2010 (x2_chave CHAR(3), x2_modo CHAR(1), d_e_l_e_t_ CHAR(1) DEFAULT ' ');
        INSERT INTO sx2010 (x2_chave, x2_modo) VALUES ('SB1', 'C'), ('SB2', 'E');
        CREATE TABLE sb1010 (b1_filial CHAR(2), b1_cod CHAR(15), b1_desc CHAR(60));
        INSERT INTO sb1010 VALUES ('  ', 'P1', 'PARAFUSO'), ('  ', 'P2', 'PORCA');
        """
    )
    await conn.close()
    return dsn


@pytest.mark.parametrize("driver", ["asyncpg", "odbc"])
async def test_protheus_source_reads_trimmed_rows_through_both_drivers(protheus_db, driver):
    url = protheus_db if driver == "asyncpg" else odbc_url(protheus_db)
    source = await open_protheus_source(url, company="01", pool_max=2, statement_timeout_ms=5000)
    try:
        assert source.dialect is POSTGRESQL
        rows = await source.fetch(
            f"SELECT b1_cod, b1_desc FROM {source.table('SB1')} WHERE b1_cod = :code",
            {"code": "P2"},
        )
        assert rows == [{"b1_cod": "P2", "b1_desc": "PORCA"}]
    finally:
        await source.close()


@pytest.mark.parametrize("driver", ["asyncpg", "odbc"])
async def test_protheus_source_is_read_only(protheus_db, driver):
    url = protheus_db if driver == "asyncpg" else odbc_url(protheus_db)
    source = await open_protheus_source(url, company="01", pool_max=1, statement_timeout_ms=5000)
    try:
        with pytest.raises(Exception, match="read-only"):
            await source.fetch("INSERT INTO sb1010 VALUES ('  ', 'P3', 'X') RETURNING b1_cod")
    finally:
        await source.close()


async def test_statement_timeout_is_a_503(protheus_db):
    source = await open_protheus_source(
        protheus_db, company="01", pool_max=1, statement_timeout_ms=100
    )
    try:
        with pytest.raises(DependencyUnavailable, match="tempo limite"):
            await source.fetch("SELECT pg_sleep(2)")
    finally:
        await source.close()


async def test_unreachable_database_is_a_503():
    source = await open_protheus_source(
        "postgresql://postgres@127.0.0.1:1/none",
        company="01",
        pool_max=1,
        statement_timeout_ms=1000,
    )
    try:
        with pytest.raises(DependencyUnavailable):
            await source.fetch("SELECT 1")
    finally:
        await source.close()


async def test_branch_resolver_reads_sx2_then_falls_back_to_setting(protheus_db, fresh_database):
    source = await open_protheus_source(
        protheus_db, company="01", pool_max=1, statement_timeout_ms=5000
    )
    try:
        resolver = BranchResolver(source, shared_tables=["SB2"])
        assert await resolver.filial("SB1", "02") == "  "  # SX2 says shared; B1_FILIAL is C2
        assert await resolver.filial("SB2", "02") == "02"  # SX2 says exclusive, beats the setting
        assert await resolver.filial("SC2", "02") == "02"  # unknown: exclusive
    finally:
        await source.close()
    bare = await open_protheus_source(
        await fresh_database(), company="01", pool_max=1, statement_timeout_ms=5000
    )
    try:
        resolver = BranchResolver(bare, shared_tables=["SB1"])
        assert await resolver.filial("SB1", "02") == " "
        assert await resolver.filial("SB2", "02") == "02"
    finally:
        await bare.close()


# --- migrations ----------------------------------------------------------------------------


def write(directory: Path, name: str, sql: str) -> None:
    (directory / name).write_text(sql)


async def test_migrations_apply_in_order_once_and_record(fresh_database, tmp_path):
    write(tmp_path, "0002_second.sql", "ALTER TABLE things ADD COLUMN size INTEGER;")
    write(tmp_path, "0001_first.sql", "CREATE TABLE things (id INTEGER);")
    conn = await asyncpg.connect(await fresh_database())
    try:
        assert await migrate(conn, tmp_path) == [1, 2]
        assert await migrate(conn, tmp_path) == []
        columns = await conn.fetch(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'things'"
        )
        assert {c["column_name"] for c in columns} == {"id", "size"}
        versions = await conn.fetch("SELECT version, name FROM schema_migrations ORDER BY version")
        assert [(v["version"], v["name"]) for v in versions] == [(1, "first"), (2, "second")]
    finally:
        await conn.close()


async def test_a_failing_migration_rolls_back_alone(fresh_database, tmp_path):
    write(tmp_path, "0001_first.sql", "CREATE TABLE things (id INTEGER);")
    write(
        tmp_path,
        "0002_broken.sql",
        "CREATE TABLE half (id INTEGER); SELECT nonsense_column FROM things;",
    )
    conn = await asyncpg.connect(await fresh_database())
    try:
        with pytest.raises(asyncpg.UndefinedColumnError):
            await migrate(conn, tmp_path)
        assert await conn.fetchval("SELECT max(version) FROM schema_migrations") == 1
        assert await conn.fetchval("SELECT to_regclass('half')") is None
    finally:
        await conn.close()


async def test_an_edited_applied_migration_is_refused(fresh_database, tmp_path):
    write(tmp_path, "0001_first.sql", "CREATE TABLE things (id INTEGER);")
    conn = await asyncpg.connect(await fresh_database())
    try:
        await migrate(conn, tmp_path)
        write(tmp_path, "0001_first.sql", "CREATE TABLE things (id BIGINT);")
        with pytest.raises(MigrationError, match="changed"):
            await migrate(conn, tmp_path)
    finally:
        await conn.close()


async def test_concurrent_runners_apply_each_migration_once(fresh_database, tmp_path):
    write(tmp_path, "0001_first.sql", "CREATE TABLE things (id INTEGER);")
    dsn = await fresh_database()
    conns = [await asyncpg.connect(dsn) for _ in range(3)]
    try:
        results = await asyncio.gather(*(migrate(c, tmp_path) for c in conns))
        assert sorted(results) == [[], [], [1]]
    finally:
        for c in conns:
            await c.close()


def test_stray_migration_file_names_are_refused(tmp_path):
    write(tmp_path, "1_bad.sql", "SELECT 1;")
    with pytest.raises(MigrationError, match="NNNN_name"):
        discover(tmp_path)


async def test_project_migrations_apply_cleanly(fresh_database):
    conn = await asyncpg.connect(await fresh_database())
    try:
        await migrate(conn)
        await migrate(conn)
    finally:
        await conn.close()


async def test_a_service_brings_its_mes_database_up_to_date_at_start(
    aiohttp_client, fresh_database
):
    from shared.app import create_base_app, mes_pool
    from shared.settings import Settings

    dsn = await fresh_database()
    app = create_base_app(Settings(mes_db_url=dsn))
    app.cleanup_ctx.append(mes_pool)
    await aiohttp_client(app)
    conn = await asyncpg.connect(dsn)
    try:
        versions = [
            r["version"]
            for r in await conn.fetch("SELECT version FROM schema_migrations ORDER BY 1")
        ]
    finally:
        await conn.close()
    assert versions == [m.version for m in discover(MES_MIGRATIONS)]


@pytest.mark.parametrize("already_set", [False, True])
async def test_a_migration_racing_another_database_on_a_cluster_role_is_applied_again(
    fresh_database, tmp_path, already_set
):
    """Roles are the cluster's: a migration that alters one while another database's
    migration does (0020's mes_bi) meets a duplicate key in pg_db_role_setting (the first
    setting) or "tuple concurrently updated" (a later one), and is applied again."""
    role = f"t_race_{uuid.uuid4().hex[:8]}"
    write(tmp_path, "0001_role.sql", f"ALTER ROLE {role} SET work_mem = '2MB';")
    first, second = await fresh_database(), await fresh_database()
    other = await asyncpg.connect(first)
    conn = await asyncpg.connect(second)
    try:
        await other.execute(f"CREATE ROLE {role} NOLOGIN")
        if already_set:
            await other.execute(f"ALTER ROLE {role} SET work_mem = '4MB'")
        racing = other.transaction()
        await racing.start()
        await other.execute(f"ALTER ROLE {role} SET work_mem = '1MB'")
        applying = asyncio.create_task(migrate(conn, tmp_path))
        await asyncio.sleep(0.3)  # the migration now waits on the uncommitted row
        await racing.commit()
        assert await asyncio.wait_for(applying, 30) == [1]
        setting = await conn.fetchval(
            "SELECT setconfig FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole "
            "WHERE r.rolname = $1 AND s.setdatabase = 0",
            role,
        )
        assert setting == ["work_mem=2MB"]
    finally:
        await other.execute(f"DROP ROLE IF EXISTS {role}")
        await other.close()
        await conn.close()

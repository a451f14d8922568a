"""load_demo and the command line: determinism, refusal of non-empty databases, CLI."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import asyncpg
import pytest

from protheus_demo.__main__ import run
from protheus_demo.load import (
    create_schema,
    has_protheus_tables,
    is_demo_database,
    load_demo,
)
from protheus_demo.schema import ALIASES
from shared.protheus.naming import table_name
from tests.support.demo import SEED, TODAY

FreshDatabase = Callable[[], Awaitable[str]]


async def _content(dsn: str, alias: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetch(f"SELECT * FROM {table_name(alias, '01')} ORDER BY r_e_c_n_o_")
    finally:
        await conn.close()


async def _load(dsn: str, **options: object) -> dict[str, int]:
    conn = await asyncpg.connect(dsn)
    try:
        return await load_demo(conn, scale="tiny", today=TODAY, **options)  # type: ignore[arg-type]
    finally:
        await conn.close()


async def test_two_loads_with_the_same_seed_are_identical(fresh_database: FreshDatabase) -> None:
    first, second = await fresh_database(), await fresh_database()
    counts = await _load(first, seed=SEED)
    assert counts == await _load(second, seed=SEED)
    assert set(counts) == set(ALIASES)
    for alias in ("SB1", "SG1"):
        assert await _content(first, alias) == await _content(second, alias)


async def test_another_seed_gives_another_plant(fresh_database: FreshDatabase) -> None:
    first, second = await fresh_database(), await fresh_database()
    await _load(first, seed=SEED)
    await _load(second, seed=SEED + 1)
    assert await _content(first, "SG1") != await _content(second, "SG1")


async def test_load_refuses_a_database_that_has_protheus_tables(
    fresh_database: FreshDatabase,
) -> None:
    conn = await asyncpg.connect(await fresh_database())
    try:
        assert not await has_protheus_tables(conn, "01")
        assert not await is_demo_database(conn)
        await conn.execute(f"CREATE TABLE {table_name('SC2', '01')} (c2_num CHAR(6))")
        with pytest.raises(RuntimeError, match="sc2010"):
            await load_demo(conn, scale="tiny", today=TODAY)
        assert not await is_demo_database(conn)
    finally:
        await conn.close()


async def test_loaded_database_is_recognised_and_refuses_a_second_load(
    fresh_database: FreshDatabase,
) -> None:
    conn = await asyncpg.connect(await fresh_database())
    try:
        await load_demo(conn, scale="tiny", today=TODAY)
        assert await has_protheus_tables(conn, "01")
        assert not await has_protheus_tables(conn, "99")
        assert await is_demo_database(conn)
        with pytest.raises(RuntimeError, match="already holds Protheus tables"):
            await load_demo(conn, scale="tiny", today=TODAY)
        # Another company's tables may live beside the first one's.
        counts = await load_demo(conn, company="99", scale="tiny", today=TODAY)
        assert counts["SB1"] > 0
        assert await conn.fetchval("SELECT count(*) FROM mes_demo_marker") == 2
    finally:
        await conn.close()


async def test_load_rejects_unknown_scale_and_company(fresh_database: FreshDatabase) -> None:
    conn = await asyncpg.connect(await fresh_database())
    try:
        with pytest.raises(ValueError, match="scale"):
            await load_demo(conn, scale="huge")
        with pytest.raises(ValueError, match="company"):
            await load_demo(conn, company="1; DROP", scale="tiny")
    finally:
        await conn.close()


async def test_create_schema_builds_empty_tables_with_indexes(
    fresh_database: FreshDatabase,
) -> None:
    conn = await asyncpg.connect(await fresh_database())
    try:
        assert await create_schema(conn, company="01")
        assert await has_protheus_tables(conn, "01")
        assert not await is_demo_database(conn)
        indexes = await conn.fetchval(
            "SELECT count(*) FROM pg_indexes WHERE tablename = $1", table_name("SG1", "01")
        )
        assert indexes == 3  # R_E_C_N_O_, structure key, where-used
    finally:
        await conn.close()


async def test_command_line_creates_the_database_and_refuses_to_reload(
    fresh_database: FreshDatabase, capsys: pytest.CaptureFixture[str]
) -> None:
    dsn = await fresh_database()
    database = dsn.rpartition("/")[2]
    # Drop it so the command creates it; the fixture still drops it afterwards.
    admin = await asyncpg.connect(dsn.rpartition("/")[0] + "/postgres")
    try:
        await admin.execute(f'DROP DATABASE "{database}"')
    finally:
        await admin.close()

    arguments = ["--dsn", dsn, "--scale", "tiny", "--today", TODAY.isoformat()]
    assert await run(arguments) == 0
    out = capsys.readouterr().out
    assert f"created database {database}" in out
    assert "SB1 sb1010" in out

    assert await run(arguments) == 1
    assert "refusing" in capsys.readouterr().err

"""The simulator's guard: the marker records every company the demo loader wrote and its SX2
rows; a database holding any SX2 table or row the loader did not write is refused."""

from __future__ import annotations

import asyncpg
import pytest
from aiohttp import web

from protheus_demo.load import create_schema, load_demo
from protheus_demo.rows import insert_row
from protheus_demo.simulator import NotADemoDatabase, SimulatorConfig, create_simulator


async def starts(dsn: str, company: str = "01") -> None:
    """Start and stop the simulator's app on a database (raises what the start raises)."""
    runner = web.AppRunner(create_simulator(SimulatorConfig(db_url=dsn, company=company)))
    try:
        await runner.setup()
    finally:
        await runner.cleanup()


async def execute(dsn: str, action) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await action(conn)
    finally:
        await conn.close()


async def test_the_marker_records_the_company_and_its_sx2_rows(demo_dsn):
    async def check(conn: asyncpg.Connection) -> None:
        rows = await conn.fetch("SELECT company, sx2_rows FROM mes_demo_marker")
        assert [r["company"] for r in rows] == ["01"]
        live = await conn.fetchval("SELECT count(*) FROM sx2010")
        assert len(rows[0]["sx2_rows"]) == live > 0
        assert (
            "SC2/"
            + str(await conn.fetchval("SELECT r_e_c_n_o_ FROM sx2010 WHERE x2_chave = 'SC2'"))
            in rows[0]["sx2_rows"]
        )

    await execute(demo_dsn, check)
    await starts(demo_dsn)


async def test_an_sx2_row_the_loader_did_not_write_is_refused(demo_dsn):
    await execute(
        demo_dsn,
        lambda conn: insert_row(conn, "SX2", X2_CHAVE="SZ1", X2_ARQUIVO="SZ1010", X2_MODO="E"),
    )
    with pytest.raises(NotADemoDatabase, match="SZ1"):
        await starts(demo_dsn)


async def test_a_deleted_sx2_row_the_loader_did_not_write_is_refused_too(demo_dsn):
    await execute(
        demo_dsn,
        lambda conn: insert_row(conn, "SX2", X2_CHAVE="SA3", X2_ARQUIVO="SA3010", D_E_L_E_T_="*"),
    )
    with pytest.raises(NotADemoDatabase, match="SA3"):
        await starts(demo_dsn)


async def test_another_companys_sx2_is_refused(demo_dsn):
    await execute(demo_dsn, lambda conn: create_schema(conn, company="99"))
    with pytest.raises(NotADemoDatabase, match="sx2990"):
        await starts(demo_dsn)


async def test_a_company_the_loader_did_not_write_is_refused(demo_dsn):
    with pytest.raises(NotADemoDatabase, match="empresa 99"):
        await starts(demo_dsn, company="99")


async def test_a_second_company_written_by_the_demo_loader_is_accepted(demo_dsn):
    await execute(demo_dsn, lambda conn: load_demo(conn, company="02", scale="tiny"))

    async def companies(conn: asyncpg.Connection) -> None:
        found = await conn.fetch("SELECT company FROM mes_demo_marker ORDER BY 1")
        assert [r["company"] for r in found] == ["01", "02"]

    await execute(demo_dsn, companies)
    await starts(demo_dsn, company="01")
    await starts(demo_dsn, company="02")


async def test_a_marker_from_before_the_sx2_record_accepts_only_demo_tables(demo_dsn):
    await execute(
        demo_dsn, lambda conn: conn.execute("ALTER TABLE mes_demo_marker DROP COLUMN sx2_rows")
    )
    await starts(demo_dsn)
    await execute(
        demo_dsn,
        lambda conn: insert_row(conn, "SX2", X2_CHAVE="SZ9", X2_ARQUIVO="SZ9010"),
    )
    with pytest.raises(NotADemoDatabase, match="SZ9"):
        await starts(demo_dsn)

"""insert_row: Protheus defaults, R_E_C_N_O_ numbering, deleted rows, name checks."""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import pytest

from protheus_demo.rows import insert_row
from shared.protheus.naming import table_name


@pytest.fixture
async def empty_tables(
    clone_database: Callable[[str], Awaitable[str]],
) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(await clone_database("erp01"))  # create_schema's tables
    try:
        yield conn
    finally:
        await conn.close()


async def test_insert_row_fills_protheus_defaults_and_numbers_rows(
    empty_tables: asyncpg.Connection,
) -> None:
    first = await insert_row(empty_tables, "SB1", B1_COD="10080522", B1_DESC="TERMINAL X")
    second = await insert_row(empty_tables, "sb1", b1_cod="10080523")
    assert (first, second) == (1, 2)
    row = await empty_tables.fetchrow(
        f"SELECT * FROM {table_name('SB1', '01')} WHERE r_e_c_n_o_ = 1"
    )
    assert row["b1_cod"] == "10080522".ljust(15)
    assert row["b1_filial"] == "  "
    assert row["b1_revatu"] == "   "
    assert row["b1_qb"] == 0.0
    assert row["d_e_l_e_t_"] == " "
    assert row["r_e_c_d_e_l_"] == 0


async def test_insert_row_takes_dates_numbers_and_marks_deleted_rows(
    empty_tables: asyncpg.Connection,
) -> None:
    recno = await insert_row(
        empty_tables,
        "SH6",
        H6_FILIAL="01",
        H6_OP="00010101001",
        h6_dtapont=datetime.date(2024, 6, 1),
        H6_QTDPROD=10,
        H6_OBSERVA="MES:" + "0" * 36 + " REFUGO POR REBARBA",
        D_E_L_E_T_="*",
    )
    row = await empty_tables.fetchrow(f"SELECT * FROM {table_name('SH6', '01')}")
    assert row["h6_dtapont"] == "20240601"
    assert row["h6_qtdprod"] == 10.0
    assert row["h6_datafin"] == " " * 8
    assert row["r_e_c_d_e_l_"] == recno == 1


async def test_insert_row_keeps_an_explicit_recno(empty_tables: asyncpg.Connection) -> None:
    assert await insert_row(empty_tables, "SC2", C2_NUM="000001", R_E_C_N_O_=40) == 40
    assert await insert_row(empty_tables, "SC2", C2_NUM="000002") == 41


async def test_insert_row_rejects_unknown_columns_aliases_and_nulls(
    empty_tables: asyncpg.Connection,
) -> None:
    with pytest.raises(ValueError, match="B1_NOPE"):
        await insert_row(empty_tables, "SB1", B1_NOPE="x")
    with pytest.raises(ValueError, match="alias"):
        await insert_row(empty_tables, "ZZ9")
    with pytest.raises(ValueError, match="NULL"):
        await insert_row(empty_tables, "SB1", B1_DESC=None)


async def test_concurrent_inserts_get_distinct_recnos(
    clone_database: Callable[[str], Awaitable[str]],
) -> None:
    dsn = await clone_database("erp01")  # create_schema's tables
    connections = [await asyncpg.connect(dsn) for _ in range(4)]
    try:
        recnos = await asyncio.gather(
            *(insert_row(conn, "SH6", H6_IDENT=f"{n:06d}") for n, conn in enumerate(connections))
        )
    finally:
        for conn in connections:
            await conn.close()
    assert sorted(recnos) == [1, 2, 3, 4]

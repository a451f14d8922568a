"""The dimension sync against the tiny demo Protheus database: mirrors equal to Protheus's live
rows of the branch, inserts, in-place updates and deletions applied on the next run, nothing
written when nothing changed, order keys and statuses as the production API gives them."""

from __future__ import annotations

import datetime as dt
from typing import Any

import asyncpg
import pytest

from services.analytics.sync.service import SyncFailed
from services.production.orders.service import list_orders
from shared.keys import PROTHEUS_CONTEXT, SETTINGS
from shared.pagination import Page
from tests.support.analytics import dimension_sync
from tests.support.databases import odbc_url

# table, alias, FILIAL column
MIRRORED = (
    ("sh1", "SH1", "h1_filial"),
    ("sb1", "SB1", "b1_filial"),
    ("sc2", "SC2", "c2_filial"),
    ("sh6", "SH6", "h6_filial"),
    ("stop_reasons", "CYN", "cyn_filial"),
)


async def live_recnos(erp: asyncpg.Connection, table: str, column: str, filial: str) -> set[int]:
    rows = await erp.fetch(
        f"SELECT r_e_c_n_o_ FROM {table} WHERE {column} = $1 AND d_e_l_e_t_ = ' '", filial
    )
    return {row[0] for row in rows}


async def assert_mirrors_match(sync: Any, demo_dsn: str, mes_dsn: str) -> None:
    """Every mirror holds exactly the live rows of the branch, by R_E_C_N_O_."""
    erp, mes = await asyncpg.connect(demo_dsn), await asyncpg.connect(mes_dsn)
    try:
        for mirror, alias, column in MIRRORED:
            filial = await sync.protheus.filial(alias)
            expected = await live_recnos(erp, f"{alias.lower()}010", column, filial)
            assert expected, mirror
            got = {r[0] for r in await mes.fetch(f"SELECT recno FROM analytics_src.{mirror}")}
            assert got == expected, mirror
    finally:
        await erp.close()
        await mes.close()


@pytest.mark.parametrize("via", ["asyncpg", "odbc"])
async def test_first_sync_mirrors_every_live_row_of_the_branch_and_a_second_writes_nothing(
    analytics_app: Any, demo_dsn: str, mes_dsn: str, via: str
) -> None:
    url = demo_dsn if via == "asyncpg" else odbc_url(demo_dsn)
    client = await analytics_app(protheus_db_url=url)
    # Small pages: the key set and the changed rows both take several reads.
    sync = dimension_sync(client.app, key_page=50, fetch_page=40)
    first = await sync.run()
    assert set(first) == {"machines", "products", "orders", "appointments", "stop_reasons"}
    assert all(count > 0 for count in first.values()), first
    await assert_mirrors_match(sync, demo_dsn, mes_dsn)

    # The demo has reversed appointments (SH6 rows marked deleted): never mirrored.
    erp = await asyncpg.connect(demo_dsn)
    try:
        deleted = {
            r[0] for r in await erp.fetch("SELECT r_e_c_n_o_ FROM sh6010 WHERE d_e_l_e_t_ = '*'")
        }
    finally:
        await erp.close()
    assert deleted
    mes = await asyncpg.connect(mes_dsn)
    try:
        mirrored = {r[0] for r in await mes.fetch("SELECT recno FROM analytics_src.sh6")}
        before = await mes.fetchval("SELECT max(synced_at) FROM analytics_src.sh6")
    finally:
        await mes.close()
    assert not deleted & mirrored

    second = await sync.run()
    assert second == dict.fromkeys(first, 0)
    mes = await asyncpg.connect(mes_dsn)
    try:
        assert await mes.fetchval("SELECT max(synced_at) FROM analytics_src.sh6") == before
    finally:
        await mes.close()


async def test_sync_applies_inserts_in_place_updates_and_deletions(
    analytics_app: Any, demo_dsn: str, mes_dsn: str
) -> None:
    client = await analytics_app()
    sync = dimension_sync(client.app, key_page=50, fetch_page=40)
    await sync.run()

    erp = await asyncpg.connect(demo_dsn)
    try:
        filial_sh1 = await sync.protheus.filial("SH1")
        machine = await erp.fetchrow(
            "SELECT r_e_c_n_o_, h1_codigo FROM sh1010 WHERE h1_filial = $1 AND d_e_l_e_t_ = ' ' "
            "ORDER BY r_e_c_n_o_ LIMIT 1",
            filial_sh1,
        )
        # Updated in place, as Protheus does (same R_E_C_N_O_).
        await erp.execute(
            "UPDATE sh1010 SET h1_descri = '  PRENSA REFORMADA' WHERE r_e_c_n_o_ = $1",
            machine["r_e_c_n_o_"],
        )
        # A product renamed in place far from the new one: the changed rows are read as a
        # list of R_E_C_N_O_, not as a range.
        filial_sb1 = await sync.protheus.filial("SB1")
        renamed = await erp.fetchval(
            "SELECT r_e_c_n_o_ FROM sb1010 WHERE b1_filial = $1 AND d_e_l_e_t_ = ' ' "
            "ORDER BY r_e_c_n_o_ LIMIT 1",
            filial_sb1,
        )
        await erp.execute(
            "UPDATE sb1010 SET b1_desc = 'RENOMEADO   ' WHERE r_e_c_n_o_ = $1", renamed
        )
        # A new product: the next R_E_C_N_O_.
        new_recno = await erp.fetchval("SELECT max(r_e_c_n_o_) + 1 FROM sb1010")
        await erp.execute(
            "INSERT INTO sb1010 (b1_filial, b1_cod, b1_desc, b1_tipo, b1_um, b1_grupo, b1_msblql,"
            " r_e_c_n_o_) VALUES ($1, 'NOVO-01', 'PRODUTO NOVO', 'PA', 'UN', '0001', '1', $2)",
            filial_sb1,
            new_recno,
        )
        # An order deleted the Protheus way, an appointment removed physically, another
        # appointment's quantity corrected in place.
        filial_sc2 = await sync.protheus.filial("SC2")
        order = await erp.fetchval(
            "SELECT r_e_c_n_o_ FROM sc2010 WHERE c2_filial = $1 AND d_e_l_e_t_ = ' ' "
            "ORDER BY r_e_c_n_o_ DESC LIMIT 1",
            filial_sc2,
        )
        await erp.execute("UPDATE sc2010 SET d_e_l_e_t_ = '*' WHERE r_e_c_n_o_ = $1", order)
        filial_sh6 = await sync.protheus.filial("SH6")
        gone, corrected = [
            r[0]
            for r in await erp.fetch(
                "SELECT r_e_c_n_o_ FROM sh6010 WHERE h6_filial = $1 AND d_e_l_e_t_ = ' ' "
                "ORDER BY r_e_c_n_o_ LIMIT 2",
                filial_sh6,
            )
        ]
        await erp.execute("DELETE FROM sh6010 WHERE r_e_c_n_o_ = $1", gone)
        await erp.execute("UPDATE sh6010 SET h6_qtdprod = 4321.5 WHERE r_e_c_n_o_ = $1", corrected)
    finally:
        await erp.close()

    written = await sync.run()
    assert written["machines"] == 1
    assert written["products"] == 2
    # The order's row goes; other orders may change status only through it (none here).
    assert written["orders"] == 1
    assert written["appointments"] == 2
    assert written["stop_reasons"] == 0
    await assert_mirrors_match(sync, demo_dsn, mes_dsn)

    mes = await asyncpg.connect(mes_dsn)
    try:
        described = await mes.fetchval(
            "SELECT description FROM analytics.machines WHERE machine = $1",
            machine["h1_codigo"].strip(),
        )
        assert described == "PRENSA REFORMADA"  # trimmed
        product = await mes.fetchrow("SELECT * FROM analytics.products WHERE product = 'NOVO-01'")
        assert product["description"] == "PRODUTO NOVO"
        assert product["blocked"] is True
        assert (
            await mes.fetchval(
                "SELECT description FROM analytics_src.sb1 WHERE recno = $1", renamed
            )
            == "RENOMEADO"
        )
        assert (
            await mes.fetchval("SELECT count(*) FROM analytics_src.sc2 WHERE recno = $1", order)
            == 0
        )
        assert (
            await mes.fetchval("SELECT count(*) FROM analytics_src.sh6 WHERE recno = $1", gone) == 0
        )
        quantity = await mes.fetchval(
            "SELECT good_quantity FROM analytics.production WHERE protheus_recno = $1", corrected
        )
        assert str(quantity) == "4321.5"
    finally:
        await mes.close()


async def test_orders_carry_the_key_and_status_the_production_api_gives(
    analytics_app: Any, mes_dsn: str
) -> None:
    client = await analytics_app()
    await dimension_sync(client.app).run()
    settings, protheus = client.app[SETTINGS], client.app[PROTHEUS_CONTEXT]
    answer = await list_orders(
        protheus,
        tz=settings.tz,
        page=Page(number=1, size=100_000),
        branch=None,
        status=None,
        product=None,
        machine=None,
        planned_from=None,
        planned_to=None,
    )
    api = {row["order_key"].rstrip(): row["status"] for row in answer["data"]}
    assert len(set(api.values())) >= 3  # the demo has orders in several statuses
    mes = await asyncpg.connect(mes_dsn)
    try:
        rows = await mes.fetch("SELECT order_key, status, planned_start FROM analytics.orders")
    finally:
        await mes.close()
    assert {row["order_key"]: row["status"] for row in rows} == api
    assert all(isinstance(row["planned_start"], dt.date | None) for row in rows)


async def test_a_table_that_cannot_be_read_leaves_its_mirror_and_the_others_sync(
    analytics_app: Any, demo_dsn: str, mes_dsn: str
) -> None:
    client = await analytics_app()
    sync = dimension_sync(client.app)
    await sync.run()
    erp = await asyncpg.connect(demo_dsn)
    mes = await asyncpg.connect(mes_dsn)
    try:
        appointments = await mes.fetchval("SELECT count(*) FROM analytics_src.sh6")
        await erp.execute("UPDATE sb1010 SET b1_desc = 'OUTRO NOME' WHERE r_e_c_n_o_ = 1")
        await erp.execute("ALTER TABLE sh6010 RENAME TO sh6010_away")
        with pytest.raises(SyncFailed, match="SH6"):
            await sync.run()
        assert await mes.fetchval("SELECT count(*) FROM analytics_src.sh6") == appointments
        assert await mes.fetchval("SELECT description FROM analytics_src.sb1 WHERE recno = 1") == (
            "OUTRO NOME"
        )
        await erp.execute("ALTER TABLE sh6010_away RENAME TO sh6010")
        await sync.run()
    finally:
        await erp.close()
        await mes.close()
    await assert_mirrors_match(sync, demo_dsn, mes_dsn)

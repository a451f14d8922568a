"""The dimension sync against the tiny demo Protheus database: mirrors equal to Protheus's live
rows of the branch, inserts, in-place updates and deletions applied on the next run."""

from __future__ import annotations

from typing import Any

import asyncpg

from tests.analytics.conftest import dimension_sync


async def live_count(dsn: str, table: str, filial_column: str, filial: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(
            await conn.fetchval(
                f"SELECT count(*) FROM {table} WHERE {filial_column} = $1 AND d_e_l_e_t_ = ' '",
                filial,
            )
        )
    finally:
        await conn.close()


async def test_first_sync_mirrors_every_live_row_of_the_branch(
    analytics_app: Any, demo_dsn: str, mes_dsn: str
) -> None:
    client = await analytics_app()
    sync = dimension_sync(client.app)
    written = await sync.run()
    print(written)
    mes = await asyncpg.connect(mes_dsn)
    try:
        for table, alias, column in (
            ("sh1", "SH1", "h1_filial"),
            ("sb1", "SB1", "b1_filial"),
            ("sc2", "SC2", "c2_filial"),
            ("sh6", "SH6", "h6_filial"),
        ):
            filial = await sync.protheus.filial(alias)
            expected = await live_count(demo_dsn, f"{table}010", column, filial)
            assert expected > 0, table
            got = await mes.fetchval(f"SELECT count(*) FROM analytics_src.{table}")
            assert got == expected, table
        print(await mes.fetch("SELECT * FROM analytics.orders LIMIT 3"))
        print(await mes.fetch("SELECT * FROM analytics.production LIMIT 3"))
        print(await mes.fetch("SELECT * FROM analytics.stop_reasons LIMIT 3"))
    finally:
        await mes.close()

"""The second demo company (02, Gestão de Empresas layout EEUUFF) copied from company 01."""

from __future__ import annotations

import asyncpg

from protheus_demo.company import FILIAL_WIDTH, MODES, load_unit_company
from protheus_demo.schema import ALIASES
from shared.protheus.naming import table_name

FINGERPRINT = "SELECT md5(string_agg(t::text, '|' ORDER BY t.r_e_c_n_o_)) FROM {table} t"


async def fingerprints(conn: asyncpg.Connection, company: str) -> dict[str, str]:
    return {
        alias: await conn.fetchval(FINGERPRINT.format(table=table_name(alias, company)))
        for alias in ALIASES
    }


async def test_company_02_leaves_company_01_untouched_and_declares_its_layout(demo_dsn):
    conn = await asyncpg.connect(demo_dsn)  # the tiny demo, loaded once per run
    try:
        before = await fingerprints(conn, "01")
        counts = await load_unit_company(conn)
        assert await fingerprints(conn, "01") == before
        for alias in ALIASES:
            if alias != "SX2":
                original = await conn.fetchval(f"SELECT count(*) FROM {table_name(alias, '01')}")
                assert counts[alias] == original, alias
        sx2 = await conn.fetch(
            "SELECT x2_chave, x2_modoemp, x2_modoun, x2_modo, x2_tamemp, x2_tamun, x2_tamfil "
            "FROM sx2020"
        )
        assert {r["x2_chave"].strip() for r in sx2} == set(ALIASES) - {"SX2"}
        assert {(r["x2_tamemp"], r["x2_tamun"], r["x2_tamfil"]) for r in sx2} == {(2, 2, 2)}
        modes = {
            r["x2_chave"].strip(): (r["x2_modoemp"], r["x2_modoun"], r["x2_modo"]) for r in sx2
        }
        assert modes["SB1"] == MODES["SB1"] == ("E", "E", "C")
        assert modes["SC2"] == ("E", "E", "E")
        widths = await conn.fetch(
            "SELECT DISTINCT character_maximum_length AS width FROM information_schema.columns "
            "WHERE table_name LIKE '%020' AND column_name LIKE '%\\_filial'"
        )
        assert [r["width"] for r in widths] == [FILIAL_WIDTH]
        assert {r[0] for r in await conn.fetch("SELECT DISTINCT b1_filial FROM sb1020")} == {
            "01SP    ",
            "01RJ    ",
        }
        assert {r[0] for r in await conn.fetch("SELECT DISTINCT a1_filial FROM sa1020")} == {
            "01      "
        }
        assert {r[0] for r in await conn.fetch("SELECT DISTINCT a2_filial FROM sa2020")} == {
            " " * FILIAL_WIDTH
        }
        assert {r[0] for r in await conn.fetch("SELECT DISTINCT c2_filial FROM sc2020")} == {
            "01SP01  ",
            "01SP02  ",
        }
    finally:
        await conn.close()

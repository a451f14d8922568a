"""The tiny demo holds every trap a missing filter would fall into, checked by SQL."""

from __future__ import annotations

import asyncpg
import pytest

from protheus_demo.generate import (
    BOM_SIZE_CAP,
    COMMON_SEARCH_TERM,
    CYCLE_PRODUCTS,
    DEEP_PRODUCTS,
    MAX_DEPTH,
    SELECTIVE_SEARCH_TERMS,
    SHARED_SUBASSEMBLY,
    WIDELY_USED_COMPONENT,
)
from protheus_demo.orders import ORDER_STATUSES
from protheus_demo.schema import ALIASES, SHARED_ALIASES, filial_column
from shared.protheus.naming import table_name
from shared.protheus.text import normalized_column_sql
from tests.support.demo import TODAY

REFERENCE = TODAY.strftime("%Y%m%d")


def t(alias: str) -> str:
    return table_name(alias, "01")


# Order status as TOTVS's production-order API derives it (PROTHEUS.md), with activity
# from live SH6 rows and live, non-reversed SD3 rows (DESIGN.md, pinned details).
ORDER_STATUS_SQL = f"""
WITH orders AS (
    SELECT c.*, c.c2_num || c.c2_item || c.c2_sequen || c.c2_itemgrd AS op,
        greatest(
            (SELECT max(h.h6_dtapont) FROM {t("SH6")} h
              WHERE h.h6_filial = c.c2_filial
                AND h.h6_op = c.c2_num || c.c2_item || c.c2_sequen || c.c2_itemgrd
                AND h.d_e_l_e_t_ = ' '),
            (SELECT max(d.d3_emissao) FROM {t("SD3")} d
              WHERE d.d3_filial = c.c2_filial
                AND d.d3_op = c.c2_num || c.c2_item || c.c2_sequen || c.c2_itemgrd
                AND d.d_e_l_e_t_ = ' ' AND d.d3_estorno <> 'S')
        ) AS activity
    FROM {t("SC2")} c
    WHERE c.d_e_l_e_t_ = ' '
)
SELECT c2_filial, c2_status, op,
    CASE
        WHEN c2_tpop = 'P' THEN 'planned'
        WHEN c2_datrf <> ' ' AND c2_quje < c2_quant THEN 'partially_closed'
        WHEN c2_datrf <> ' ' THEN 'closed'
        WHEN activity IS NULL THEN 'open'
        WHEN c2_diasoci > 0
             AND activity < to_char($1::date - c2_diasoci::int, 'YYYYMMDD') THEN 'idle'
        ELSE 'started'
    END AS status
FROM orders
"""

EXPLOSION_SIZES_SQL = f"""
WITH RECURSIVE tree AS (
    SELECT g.g1_filial AS branch, g.g1_cod AS root, g.g1_comp AS comp, 1 AS level,
           ARRAY[g.g1_cod::text, g.g1_comp::text] AS path
    FROM {t("SG1")} g
    WHERE g.d_e_l_e_t_ = ' '
    UNION ALL
    SELECT tree.branch, tree.root, g.g1_comp, tree.level + 1, tree.path || g.g1_comp::text
    FROM tree
    JOIN {t("SG1")} g
      ON g.g1_filial = tree.branch AND g.g1_cod = tree.comp AND g.d_e_l_e_t_ = ' '
    WHERE tree.level < 20
      AND NOT tree.comp::text = ANY(tree.path[1:array_length(tree.path, 1) - 1])
)
SELECT branch, root, count(*) AS size, max(level) AS depth FROM tree GROUP BY branch, root
"""


@pytest.mark.parametrize("alias", [a for a in ALIASES if a != "SX2"])
async def test_every_table_has_deleted_rows_marked_the_protheus_way(
    demo: asyncpg.Connection, alias: str
) -> None:
    row = await demo.fetchrow(
        f"SELECT count(*) FILTER (WHERE d_e_l_e_t_ = '*') AS deleted,"
        f" count(*) FILTER (WHERE d_e_l_e_t_ = '*' AND r_e_c_d_e_l_ <> r_e_c_n_o_) AS bad_recdel,"
        f" count(*) FILTER (WHERE d_e_l_e_t_ = ' ' AND r_e_c_d_e_l_ <> 0) AS live_recdel,"
        f" count(*) FILTER (WHERE d_e_l_e_t_ = ' ') AS live"
        f" FROM {t(alias)}"
    )
    assert row["deleted"] > 0
    assert row["live"] > row["deleted"]
    assert row["bad_recdel"] == 0
    assert row["live_recdel"] == 0


@pytest.mark.parametrize("alias", ALIASES)
async def test_recnos_run_from_one_without_gaps(demo: asyncpg.Connection, alias: str) -> None:
    row = await demo.fetchrow(
        f"SELECT min(r_e_c_n_o_) AS low, max(r_e_c_n_o_) AS high, count(*) AS n FROM {t(alias)}"
    )
    assert (row["low"], row["high"]) == (1, row["n"])


@pytest.mark.parametrize("alias", [a for a in ALIASES if a != "SX2"])
async def test_branch_column_is_blank_in_shared_tables_and_both_branches_in_exclusive_ones(
    demo: asyncpg.Connection, alias: str
) -> None:
    column = filial_column(alias)
    rows = await demo.fetch(
        f"SELECT {column} AS branch, count(*) AS n FROM {t(alias)}"
        f" WHERE d_e_l_e_t_ = ' ' GROUP BY 1 ORDER BY 1"
    )
    counts = {row["branch"]: row["n"] for row in rows}
    if alias in SHARED_ALIASES:
        assert set(counts) == {"  "}
    else:
        assert set(counts) == {"01", "02"}
        assert counts["01"] > counts["02"]


async def test_sx2_declares_the_sharing_mode_of_every_table(demo: asyncpg.Connection) -> None:
    rows = await demo.fetch(
        f"SELECT x2_chave, x2_arquivo, x2_modo, x2_modoun, x2_modoemp FROM {t('SX2')}"
    )
    modes = {row["x2_chave"]: row["x2_modo"] for row in rows}
    assert set(modes) == set(ALIASES) - {"SX2"}
    for row in rows:
        expected = "C" if row["x2_chave"] in SHARED_ALIASES else "E"
        assert row["x2_modo"] == row["x2_modoun"] == row["x2_modoemp"] == expected
        assert row["x2_arquivo"] == t(row["x2_chave"]).upper()


async def test_products_include_blocked_deleted_and_re_entered_codes(
    demo: asyncpg.Connection,
) -> None:
    row = await demo.fetchrow(
        f"""SELECT
            count(*) FILTER (WHERE b1_msblql = '1' AND d_e_l_e_t_ = ' ') AS blocked,
            count(*) FILTER (WHERE b1_msblql = '2' AND d_e_l_e_t_ = ' ') AS released,
            count(*) FILTER (WHERE b1_msblql = ' ' AND d_e_l_e_t_ = ' ') AS unset,
            count(DISTINCT b1_tipo) FILTER (WHERE d_e_l_e_t_ = ' ') AS types,
            count(*) FILTER (WHERE b1_tipo = 'MO' AND b1_cod LIKE 'MOD%' AND b1_um = 'HR')
                AS labour,
            count(*) FILTER (WHERE b1_qb = 100) AS base_100,
            count(*) FILTER (WHERE b1_qb = 0) AS base_0
        FROM {t("SB1")}"""
    )
    assert row["blocked"] > 0
    assert row["released"] > 0
    assert row["unset"] > 0
    assert row["types"] == 4
    assert row["labour"] > 0
    assert row["base_100"] > 0
    assert row["base_0"] > 0
    # Deleted then re-entered: the code has a live row and a deleted one.
    twice = await demo.fetchval(
        f"SELECT count(*) FROM (SELECT b1_cod FROM {t('SB1')} GROUP BY b1_cod"
        f" HAVING count(*) FILTER (WHERE d_e_l_e_t_ = '*') > 0"
        f" AND count(*) FILTER (WHERE d_e_l_e_t_ = ' ') > 0) s"
    )
    assert twice > 0
    codes = await demo.fetch(f"SELECT b1_cod, b1_grupo FROM {t('SB1')} WHERE b1_tipo <> 'MO'")
    for code in codes:
        assert code["b1_cod"].strip().isdigit()
        assert len(code["b1_cod"].strip()) == 8
        assert code["b1_cod"].startswith(code["b1_grupo"])


async def test_descriptions_carry_accents_punctuation_and_shared_words(
    demo: asyncpg.Connection,
) -> None:
    normalized = normalized_column_sql("b1_desc")
    row = await demo.fetchrow(
        f"""SELECT
            count(*) FILTER (WHERE {normalized} LIKE '%' || $1 || '%') AS common,
            count(*) FILTER (WHERE {normalized} LIKE ANY($2::text[])) AS selective,
            count(*) FILTER (WHERE b1_desc ~ '[ÃÉÓÇÔÊÍÚ]') AS accented,
            count(*) FILTER (WHERE b1_desc LIKE 'TERM.%') AS abbreviated,
            count(*) AS total
        FROM {t("SB1")} WHERE d_e_l_e_t_ = ' '""",
        COMMON_SEARCH_TERM,
        [f"%{term}%" for term in SELECTIVE_SEARCH_TERMS],
    )
    assert row["common"] >= 5
    assert 0 < row["selective"] < row["common"]
    assert row["accented"] > 0
    assert row["abbreviated"] > 0


async def test_trigram_indexes_cover_description_and_code(demo: asyncpg.Connection) -> None:
    indexes = await demo.fetch(
        "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = $1", t("SB1")
    )
    definitions = {row["indexname"]: row["indexdef"] for row in indexes}
    assert "gin_trgm_ops" in definitions[f"{t('SB1')}_desc_trgm"]
    assert "gin_trgm_ops" in definitions[f"{t('SB1')}_cod_trgm"]
    assert "UNIQUE" in definitions[f"{t('SB1')}_recno"]


async def test_bom_holds_expired_future_and_out_of_revision_lines(
    demo: asyncpg.Connection,
) -> None:
    row = await demo.fetchrow(
        f"""SELECT
            count(*) FILTER (WHERE g.g1_fim <> ' ' AND g.g1_fim < $1) AS expired,
            count(*) FILTER (WHERE g.g1_ini > $1) AS not_yet,
            count(*) FILTER (WHERE g.g1_revfim <> ' ' AND g.g1_revfim < b.b1_revatu) AS old_rev,
            count(*) FILTER (WHERE g.g1_revini > b.b1_revatu) AS next_rev,
            count(*) FILTER (WHERE g.g1_ini = ' ' AND g.g1_fim = ' ') AS unbounded,
            count(*) FILTER (WHERE g.g1_revini = ' ' AND g.g1_revfim = ' ') AS any_revision,
            count(*) FILTER (WHERE g.g1_perda < 0 OR g.g1_perda >= 100) AS invalid_loss,
            count(*) FILTER (WHERE g.g1_perda > 0 AND g.g1_perda < 100) AS loss,
            count(*) FILTER (WHERE g.g1_fixvar = 'F') AS fixed,
            count(*) FILTER (WHERE g.g1_comp LIKE 'MOD%') AS labour
        FROM {t("SG1")} g
        JOIN {t("SB1")} b ON b.b1_filial = '  ' AND b.b1_cod = g.g1_cod AND b.d_e_l_e_t_ = ' '
        WHERE g.g1_filial = '01' AND g.d_e_l_e_t_ = ' '""",
        REFERENCE,
    )
    for name, count in row.items():
        assert count > 0, name


async def test_bom_repeats_a_component_under_one_parent_with_two_trts(
    demo: asyncpg.Connection,
) -> None:
    rows = await demo.fetch(
        f"SELECT g1_cod, g1_comp, array_agg(g1_trt ORDER BY g1_trt) AS trts FROM {t('SG1')}"
        f" WHERE g1_filial = '01' AND d_e_l_e_t_ = ' ' GROUP BY 1, 2 HAVING count(*) > 1"
    )
    assert rows
    assert all(row["trts"] == ["001", "002"] for row in rows)


async def test_bom_contains_the_designed_cycles(demo: asyncpg.Connection) -> None:
    for cycle in CYCLE_PRODUCTS:
        for position, code in enumerate(cycle):
            component = cycle[(position + 1) % len(cycle)]
            found = await demo.fetchval(
                f"SELECT count(*) FROM {t('SG1')} WHERE g1_filial = '01' AND g1_cod = $1"
                f" AND g1_comp = $2 AND d_e_l_e_t_ = ' '",
                code,
                component,
            )
            assert found == 1, (code, component)


async def test_exploded_trees_stay_under_the_cap(demo: asyncpg.Connection) -> None:
    rows = await demo.fetch(EXPLOSION_SIZES_SQL)
    assert rows
    assert max(row["size"] for row in rows) <= BOM_SIZE_CAP
    assert max(row["depth"] for row in rows) <= 20
    depths = {row["root"].strip(): row["depth"] for row in rows if row["branch"] == "01"}
    for code in DEEP_PRODUCTS:
        assert depths[code] == MAX_DEPTH


async def test_shared_components_have_many_parents(demo: asyncpg.Connection) -> None:
    rows = await demo.fetch(
        f"SELECT g1_comp, count(DISTINCT g1_cod) AS parents FROM {t('SG1')}"
        f" WHERE g1_filial = '01' AND d_e_l_e_t_ = ' ' AND g1_comp = ANY($1::text[])"
        f" GROUP BY 1",
        [WIDELY_USED_COMPONENT, SHARED_SUBASSEMBLY],
    )
    parents = {row["g1_comp"].strip(): row["parents"] for row in rows}
    assert parents[WIDELY_USED_COMPONENT] >= 20
    assert parents[SHARED_SUBASSEMBLY] >= 10


async def test_some_products_have_two_routings_and_a_default(demo: asyncpg.Connection) -> None:
    rows = await demo.fetch(
        f"""SELECT b.b1_cod, b.b1_operpad, array_agg(DISTINCT g.g2_codigo) AS routings
        FROM {t("SG2")} g
        JOIN {t("SB1")} b ON b.b1_cod = g.g2_produto AND b.d_e_l_e_t_ = ' '
        WHERE g.g2_filial = '01' AND g.d_e_l_e_t_ = ' '
        GROUP BY 1, 2 HAVING count(DISTINCT g.g2_codigo) > 1"""
    )
    assert rows
    assert all(row["b1_operpad"] in ("01", "02") for row in rows)
    machines = await demo.fetchval(
        f"SELECT count(*) FROM {t('SG2')} g WHERE g.d_e_l_e_t_ = ' ' AND NOT EXISTS"
        f" (SELECT 1 FROM {t('SH1')} h WHERE h.h1_codigo = g.g2_recurso AND h.d_e_l_e_t_ = ' ')"
    )
    assert machines == 0


async def test_stock_has_allocations_blocked_and_several_warehouses(
    demo: asyncpg.Connection,
) -> None:
    row = await demo.fetchrow(
        f"""SELECT count(*) FILTER (WHERE b2_qemp > 0) AS allocated,
            count(*) FILTER (WHERE b2_reserva > 0) AS reserved,
            count(*) FILTER (WHERE b2_qaclass > 0) AS unclassified,
            count(*) FILTER (WHERE b2_salpedi > 0) AS expected,
            count(*) FILTER (WHERE b2_status = '2') AS blocked,
            count(DISTINCT b2_local) AS warehouses
        FROM {t("SB2")} WHERE d_e_l_e_t_ = ' '"""
    )
    for name, count in row.items():
        assert count > 0, name
    assert row["warehouses"] == 3


async def test_a_supplier_code_has_two_stores_with_different_names(
    demo: asyncpg.Connection,
) -> None:
    rows = await demo.fetch(
        f"SELECT a2_cod FROM {t('SA2')} WHERE d_e_l_e_t_ = ' ' GROUP BY a2_cod"
        f" HAVING count(DISTINCT a2_loja) > 1 AND count(DISTINCT a2_nome) > 1"
    )
    assert rows
    linked = await demo.fetchval(
        f"SELECT count(*) FROM {t('SA5')} a JOIN {t('SA2')} s"
        f" ON s.a2_cod = a.a5_fornece AND s.a2_loja = a.a5_loja AND s.d_e_l_e_t_ = ' '"
        f" WHERE a.d_e_l_e_t_ = ' '"
    )
    assert linked == await demo.fetchval(f"SELECT count(*) FROM {t('SA5')} WHERE d_e_l_e_t_ = ' '")


@pytest.mark.parametrize(
    ("items", "partner", "kinds", "other"),
    [("SD1", "D1_FORNECE", ("D", "B"), "SA1"), ("SD2", "D2_CLIENTE", ("D", "B"), "SA2")],
)
async def test_returns_and_processing_invoices_name_the_other_partner_table(
    demo: asyncpg.Connection, items: str, partner: str, kinds: tuple[str, ...], other: str
) -> None:
    prefix, code, loja = items[1:], other[1:], partner[:2]
    rows = await demo.fetch(
        f"SELECT {prefix}_tipo AS tipo, count(*) AS n,"
        f" count(p.{code}_cod) AS found"
        f" FROM {t(items)} i"
        f" LEFT JOIN {t(other)} p ON p.{code}_cod = i.{partner} AND p.{code}_loja = i.{loja}_loja"
        f" AND p.d_e_l_e_t_ = ' '"
        f" WHERE i.d_e_l_e_t_ = ' ' AND i.{prefix}_tipo = ANY($1::text[]) GROUP BY 1",
        list(kinds),
    )
    by_kind = {row["tipo"]: row for row in rows}
    assert set(by_kind) == set(kinds)
    assert all(row["found"] == row["n"] for row in rows)


@pytest.mark.parametrize(("headers", "partner"), [("SF1", "f1_fornece"), ("SF2", "f2_cliente")])
async def test_one_invoice_key_is_a_normal_document_and_a_return(
    demo: asyncpg.Connection, headers: str, partner: str
) -> None:
    """PROTHEUS.md section 4: the same number, series and partner code/store as a normal
    document (N) and as a return (D) from the other kind of partner; only the type differs."""
    p = headers[1:].lower()
    rows = await demo.fetch(
        f"SELECT string_agg({p}_tipo, '' ORDER BY {p}_tipo) AS kinds FROM {t(headers)}"
        f" WHERE d_e_l_e_t_ = ' ' GROUP BY {p}_filial, {p}_doc, {p}_serie, {partner}, {p}_loja"
        f" HAVING count(*) > 1"
    )
    assert [row["kinds"] for row in rows] == ["DN"]


async def test_invoice_totals_add_up_per_live_item(demo: asyncpg.Connection) -> None:
    wrong_items = await demo.fetchval(
        f"SELECT count(*) FROM {t('SD1')} WHERE abs(d1_total - d1_quant * d1_vunit) > 0.01"
    )
    assert wrong_items == 0
    wrong_headers = await demo.fetchval(
        f"""SELECT count(*) FROM {t("SF1")} f
        WHERE f.d_e_l_e_t_ = ' ' AND abs(f.f1_valbrut - (
            SELECT coalesce(sum(d.d1_total), 0) FROM {t("SD1")} d
            WHERE d.d1_filial = f.f1_filial AND d.d1_doc = f.f1_doc AND d.d1_serie = f.f1_serie
              AND d.d1_fornece = f.f1_fornece AND d.d1_loja = f.f1_loja AND d.d1_tipo = f.f1_tipo
              AND d.d_e_l_e_t_ = ' '
        )) > 0.05"""
    )
    assert wrong_headers == 0
    future = await demo.fetchval(
        f"SELECT count(*) FROM {t('SD1')} WHERE d1_emissao > $1 OR d1_dtdigit > $1", REFERENCE
    )
    assert future == 0


async def test_orders_cover_every_status_and_situation(demo: asyncpg.Connection) -> None:
    rows = await demo.fetch(ORDER_STATUS_SQL, TODAY)
    statuses = {row["status"] for row in rows if row["c2_filial"] == "01"}
    assert statuses == set(ORDER_STATUSES) - {"suspended", "sacramented"}
    situations = {row["c2_status"] for row in rows}
    assert {"U", "S", "N", " "} <= situations
    assert {row["status"] for row in rows if row["c2_filial"] == "02"} >= {"open", "closed"}


async def test_order_numbers_repeat_across_branches(demo: asyncpg.Connection) -> None:
    shared = await demo.fetchval(
        f"SELECT count(*) FROM (SELECT c2_num FROM {t('SC2')} WHERE d_e_l_e_t_ = ' '"
        f" GROUP BY c2_num HAVING count(DISTINCT c2_filial) > 1) s"
    )
    assert shared > 0


async def test_child_orders_and_routing_overrides_exist(demo: asyncpg.Connection) -> None:
    row = await demo.fetchrow(
        f"""SELECT count(*) FILTER (WHERE c2_sequen = '002') AS children,
            count(*) FILTER (WHERE c2_roteiro <> ' ') AS explicit_routing,
            count(*) FILTER (WHERE c2_itemgrd <> ' ') AS grid_items
        FROM {t("SC2")} WHERE d_e_l_e_t_ = ' '"""
    )
    assert row["children"] > 0
    assert row["explicit_routing"] > 0


async def test_order_progress_is_the_last_operations_live_appointments(
    demo: asyncpg.Connection,
) -> None:
    rows = await demo.fetch(
        f"""WITH o AS (
            SELECT c.*, c.c2_num || c.c2_item || c.c2_sequen || c.c2_itemgrd AS op,
                coalesce(nullif(c.c2_roteiro, ' '), nullif(b.b1_operpad, ' '), '01') AS routing
            FROM {t("SC2")} c
            JOIN {t("SB1")} b ON b.b1_cod = c.c2_produto AND b.d_e_l_e_t_ = ' '
            WHERE c.d_e_l_e_t_ = ' '
        ), last AS (
            SELECT o.*, (SELECT max(g.g2_operac) FROM {t("SG2")} g
                WHERE g.g2_filial = o.c2_filial AND g.g2_produto = o.c2_produto
                  AND g.g2_codigo = o.routing AND g.d_e_l_e_t_ = ' ') AS last_operation
            FROM o
        )
        SELECT l.c2_quje, l.c2_perda,
            (SELECT count(*) FROM {t("SH6")} h WHERE h.h6_filial = l.c2_filial
               AND h.h6_op = l.op AND h.d_e_l_e_t_ = ' ') AS appointments,
            (SELECT coalesce(sum(h.h6_qtdprod), 0) FROM {t("SH6")} h
              WHERE h.h6_filial = l.c2_filial AND h.h6_op = l.op
                AND h.h6_operac = l.last_operation AND h.d_e_l_e_t_ = ' ') AS good,
            (SELECT coalesce(sum(h.h6_qtdperd), 0) FROM {t("SH6")} h
              WHERE h.h6_filial = l.c2_filial AND h.h6_op = l.op
                AND h.h6_operac = l.last_operation AND h.d_e_l_e_t_ = ' ') AS scrap,
            (SELECT count(*) FROM {t("SH6")} h
              WHERE h.h6_filial = l.c2_filial AND h.h6_op = l.op AND h.d_e_l_e_t_ = ' '
                AND NOT EXISTS (SELECT 1 FROM {t("SG2")} g
                  WHERE g.g2_filial = l.c2_filial AND g.g2_produto = l.c2_produto
                    AND g.g2_codigo = l.routing AND g.g2_operac = h.h6_operac
                    AND g.g2_recurso = h.h6_recurso AND g.d_e_l_e_t_ = ' ')) AS off_routing
        FROM last l"""
    )
    with_appointments = [row for row in rows if row["appointments"] > 0]
    assert with_appointments
    for row in with_appointments:
        assert row["c2_quje"] == row["good"]
        assert row["c2_perda"] == row["scrap"]
        assert row["off_routing"] == 0


async def test_appointments_have_keys_idents_and_reversals(demo: asyncpg.Connection) -> None:
    row = await demo.fetchrow(
        f"""SELECT count(*) FILTER (WHERE octet_length(h6_op) <> 14) AS bad_keys,
            count(*) - count(DISTINCT h6_ident) AS repeated_idents,
            count(*) FILTER (WHERE h6_ident !~ '^[0-9]{{6}}$') AS bad_idents,
            count(*) FILTER (WHERE h6_tipo = 'I') AS stops,
            count(*) FILTER (WHERE h6_pt = 'T') AS totals,
            count(*) FILTER (WHERE h6_horafin < h6_horaini) AS backwards
        FROM {t("SH6")}"""
    )
    assert row["bad_keys"] == row["repeated_idents"] == row["bad_idents"] == 0
    assert row["backwards"] == 0
    assert row["stops"] > 0
    assert row["totals"] > 0
    # A reversed appointment: its SH6 row deleted, its SD3 move marked D3_ESTORNO = 'S'.
    reversed_pairs = await demo.fetchval(
        f"SELECT count(*) FROM {t('SH6')} h JOIN {t('SD3')} d"
        f" ON d.d3_filial = h.h6_filial AND d.d3_ident = h.h6_ident AND d.d3_estorno = 'S'"
        f" WHERE h.d_e_l_e_t_ = '*'"
    )
    assert reversed_pairs > 0


async def test_status_traps_change_the_answer_of_a_careless_query(
    demo: asyncpg.Connection,
) -> None:
    careless = ORDER_STATUS_SQL.replace("AND h.d_e_l_e_t_ = ' '", "").replace(
        "AND d.d_e_l_e_t_ = ' ' AND d.d3_estorno <> 'S'", ""
    )
    right = {
        (row["c2_filial"], row["op"]): row["status"]
        for row in await demo.fetch(ORDER_STATUS_SQL, TODAY)
    }
    wrong = {
        (row["c2_filial"], row["op"]): row["status"] for row in await demo.fetch(careless, TODAY)
    }
    changed = {right[key] for key in right if right[key] != wrong[key]}
    assert {"open", "idle"} <= changed


async def test_marker_records_the_load(demo: asyncpg.Connection) -> None:
    row = await demo.fetchrow("SELECT company, scale, seed, reference_date FROM mes_demo_marker")
    assert dict(row) == {
        "company": "01",
        "scale": "tiny",
        "seed": 20240101,
        "reference_date": TODAY,
    }

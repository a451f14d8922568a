"""The demo's stop data: reasons in CYN and SX5 '44', and the machines' past stops in SH6
(H6_TIPO 'I') as MATA682 leaves them."""

from __future__ import annotations

import asyncpg

from tests.support.demo import TODAY

SH6, CYN, SH1 = "sh6010", "cyn010", "sh1010"


async def test_machines_have_past_stops_with_reasons_of_their_branch(
    demo: asyncpg.Connection,
) -> None:
    row = await demo.fetchrow(
        f"""SELECT count(*) AS stops,
            count(DISTINCT h6_recurso) AS machines,
            count(DISTINCT h6_dataini) AS days,
            count(*) FILTER (WHERE h6_op = '') AS without_order,
            count(*) FILTER (WHERE NOT EXISTS (
                SELECT 1 FROM {CYN} c WHERE c.cyn_filial = h.h6_filial
                  AND c.cyn_cdsp = h.h6_motivo AND c.d_e_l_e_t_ = ' ')) AS unknown_reason,
            count(*) FILTER (WHERE NOT EXISTS (
                SELECT 1 FROM {SH1} m WHERE m.h1_codigo = h.h6_recurso
                  AND m.d_e_l_e_t_ = ' ')) AS unknown_machine,
            count(*) FILTER (WHERE h6_dataini >= $1 OR h6_datafin >= $1) AS today_or_later,
            count(*) FILTER (WHERE h6_datafin || h6_horafin <= h6_dataini || h6_horaini)
                AS not_after_start,
            count(*) FILTER (WHERE h6_horaini !~ '^[0-2][0-9]:[0-5][0-9]$'
                OR h6_horafin !~ '^[0-2][0-9]:[0-5][0-9]$') AS bad_times
        FROM {SH6} h WHERE h6_tipo = 'I' AND d_e_l_e_t_ = ' ' AND h6_op = ''""",
        TODAY.strftime("%Y%m%d"),
    )
    assert row["stops"] > 100
    assert row["machines"] > 10
    assert row["days"] >= 10
    assert row["unknown_reason"] == row["unknown_machine"] == 0
    assert row["today_or_later"] == 0  # the simulator's pushes of today never collide
    assert row["not_after_start"] == row["bad_times"] == 0
    reversed_stops = await demo.fetchval(
        f"SELECT count(*) FROM {SH6} WHERE h6_tipo = 'I' AND d_e_l_e_t_ = '*'"
    )
    assert reversed_stops > 0


async def test_live_stops_of_a_machine_never_overlap(demo: asyncpg.Connection) -> None:
    # Strict overlap, as MATA682 refuses it: touching stops are allowed.
    overlapping = await demo.fetchval(
        f"""SELECT count(*) FROM {SH6} a JOIN {SH6} b
              ON b.h6_filial = a.h6_filial AND b.h6_recurso = a.h6_recurso
             AND b.r_e_c_n_o_ > a.r_e_c_n_o_ AND b.h6_tipo = 'I' AND b.d_e_l_e_t_ = ' '
             AND b.h6_dataini || b.h6_horaini < a.h6_datafin || a.h6_horafin
             AND b.h6_datafin || b.h6_horafin > a.h6_dataini || a.h6_horaini
           WHERE a.h6_tipo = 'I' AND a.d_e_l_e_t_ = ' ' AND (a.h6_op = '' OR b.h6_op = '')"""
    )
    assert overlapping == 0


async def test_reasons_live_in_cyn_per_branch_and_in_sx5_table_44(
    demo: asyncpg.Connection,
) -> None:
    cyn = await demo.fetch(
        f"SELECT cyn_filial, count(*) AS n FROM {CYN} WHERE d_e_l_e_t_ = ' ' GROUP BY 1 ORDER BY 1"
    )
    assert [(r["cyn_filial"], r["n"]) for r in cyn] == [("01", 13), ("02", 10)]
    sx5 = await demo.fetch(
        "SELECT x5_chave, x5_descri FROM sx5010 WHERE x5_tabela = '44' AND d_e_l_e_t_ = ' '"
        " AND x5_filial = '' ORDER BY x5_chave"
    )
    assert [r["x5_chave"].strip() for r in sx5] == ["01", "02", "03", "04", "05", "06", "99"]

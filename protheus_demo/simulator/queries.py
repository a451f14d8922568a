"""SQL of the simulator: named templates (`{SC2}` = the company's physical table) and their calls.

Every query filters live rows (shared.protheus.sql.live) and the branch of each table resolved from SX2
(the caller passes `Dictionary.filial(alias, branch)`), except where a comment says
why not.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from protheus_demo.simulator.dictionary import Dictionary
from shared.protheus.keys import op_key_sql
from shared.protheus.sql import live, operpad_sql, routing_sql

ORDER_SELECT = f"""
SELECT c2.c2_filial, c2.c2_num, c2.c2_item, c2.c2_sequen, c2.c2_itemgrd, c2.c2_produto,
       c2.c2_local, c2.c2_um, c2.c2_quant, c2.c2_quje, c2.c2_perda, c2.c2_datpri,
       c2.c2_datprf, c2.c2_datrf, c2.c2_emissao, c2.c2_tpop, c2.c2_status, c2.c2_roteiro,
       c2.c2_diasoci, c2.c2_prior,
       {routing_sql(operpad_sql("b1"), "c2")} AS routing,
       greatest(h6.last_day, d3.last_day) AS last_activity
FROM {{SC2}} c2
LEFT JOIN {{SB1}} b1
       ON b1.b1_filial = $2 AND b1.b1_cod = c2.c2_produto AND {live("b1")}
-- The order key of SH6/SD3 is NUM+ITEM+SEQUEN+ITEMGRD, each part padded to its width.
-- `||` on CHAR drops each part's trailing blanks; concat() keeps them. Cast to CHAR,
-- whose comparison ignores trailing blanks.
LEFT JOIN LATERAL (
    SELECT max(nullif(h6_dtapont, '')) AS last_day FROM {{SH6}}
    WHERE h6_filial = $3 AND {live()}
      AND h6_op = {op_key_sql("c2", "postgresql")}
) h6 ON TRUE
LEFT JOIN LATERAL (
    -- A reversed move (D3_ESTORNO = 'S') is no activity.
    SELECT max(nullif(d3_emissao, '')) AS last_day FROM {{SD3}}
    WHERE d3_filial = $4 AND d3_estorno <> 'S' AND {live()}
      AND d3_op = {op_key_sql("c2", "postgresql")}
) d3 ON TRUE
WHERE c2.c2_filial = $1 AND {live("c2")}
"""
"""Production orders (SC2) with their routing (C2_ROTEIRO, else SB1 B1_OPERPAD, else 01)
and latest activity (live SH6 appointments, non-reversed SD3 moves). $1..$4: the
filial of SC2, SB1, SH6, SD3."""

LIST_ORDERS = (
    ORDER_SELECT
    + """
ORDER BY c2.c2_num, c2.c2_item, c2.c2_sequen, c2.c2_itemgrd, c2.r_e_c_n_o_
LIMIT $5 OFFSET $6
"""
)
"""One page of a branch's orders in key order; $5 limit, $6 offset."""

ONE_ORDER = (
    ORDER_SELECT
    + """
  AND c2.c2_num = $5 AND c2.c2_item = $6 AND c2.c2_sequen = $7 AND c2.c2_itemgrd = $8
ORDER BY c2.r_e_c_n_o_
LIMIT 1
"""
)
"""One order by its key parts (each column bound, so the SC2 index serves it)."""

LOCK_ORDER = f"""
SELECT r_e_c_n_o_, c2_produto, c2_local, c2_tpop, c2_status, c2_datrf, c2_roteiro
FROM {{SC2}}
WHERE c2_filial = $1 AND c2_num = $2 AND c2_item = $3 AND c2_sequen = $4 AND c2_itemgrd = $5
  AND {live()}
ORDER BY r_e_c_n_o_
LIMIT 1
FOR UPDATE
"""
"""The order an appointment moves (SC2), locked until commit: concurrent appointments
on one order add to C2_QUJE one after the other."""

PRODUCT_ROUTING = f"""
SELECT b1_operpad FROM {{SB1}}
WHERE b1_filial = $1 AND b1_cod = $2 AND {live()}
ORDER BY r_e_c_n_o_
LIMIT 1
"""
"""A product's default routing (SB1 B1_OPERPAD)."""

ROUTING_OPERATIONS = f"""
SELECT DISTINCT g2_operac FROM {{SG2}}
WHERE g2_filial = $1 AND g2_produto = $2 AND g2_codigo = $3 AND {live()}
ORDER BY g2_operac
"""
"""The operations of one routing of a product (SG2, joined on G2_CODIGO too)."""

MACHINE_EXISTS = f"""
SELECT EXISTS (
    SELECT 1 FROM {{SH1}} WHERE h1_filial = $1 AND h1_codigo = $2 AND {live()}
)
"""
"""Whether a resource (SH1) is registered."""

OPERATION_RESOURCE = f"""
SELECT EXISTS (
    SELECT 1 FROM {{SG2}}
    WHERE g2_filial = $1 AND g2_produto = $2 AND g2_codigo = $3 AND g2_operac = $4
      AND g2_recurso = $5 AND {live()}
)
"""
"""Whether a resource is the operation's own (SG2 G2_RECURSO)."""

ALTERNATIVE_RESOURCE = f"""
SELECT EXISTS (
    SELECT 1 FROM {{SH3}}
    WHERE h3_filial = $1 AND h3_produto = $2 AND h3_codigo = $3 AND h3_operac = $4
      AND h3_recalte = $5 AND h3_tipo = 'A' AND {live()}
)
"""
"""Whether a resource is an alternative of the operation's (SH3, H3_TIPO 'A'); a secondary
resource ('S') works beside the main one and cannot be appointed in its place."""

IDENT_LOCK = "SELECT pg_advisory_xact_lock(hashtext($1))"
"""Serialises H6_IDENT numbering of one branch until commit (orders lock only their row)."""

NEXT_IDENT = """
SELECT coalesce(max(CASE WHEN h6_ident ~ '^[0-9]+$' THEN h6_ident::integer END), 0) + 1
FROM {SH6}
WHERE h6_filial = $1
"""
"""The next H6_IDENT of a branch. Deleted (reversed) rows count too, on purpose: an
identifier is never given twice, and integrations look for reversed rows as well."""

ADD_PROGRESS = """
UPDATE {SC2}
SET c2_quje = c2_quje + $2,
    c2_perda = c2_perda + $3,
    c2_datrf = CASE WHEN $4::boolean THEN $5::char(8) ELSE c2_datrf END
WHERE r_e_c_n_o_ = $1
"""
"""What the last operation's appointment does to its order (SC2): good quantity to
C2_QUJE, scrap to C2_PERDA, and a total (T) one closes it (C2_DATRF)."""


def order_key_parts(dictionary: Dictionary, key: str) -> tuple[str, str, str, str] | None:
    """NUM, ITEM, SEQUEN, ITEMGRD of an order key split by SC2's column widths (each part
    keeps its padding); None when the key has neither length (without or with the grid)."""
    return dictionary.order_key.split(key.strip())


def _order_params(dictionary: Dictionary, branch: str) -> list[Any]:
    return [
        dictionary.filial("SC2", branch),
        dictionary.filial("SB1", branch),
        dictionary.filial("SH6", branch),
        dictionary.filial("SD3", branch),
    ]


async def list_orders(
    conn: asyncpg.Connection, dictionary: Dictionary, *, branch: str, limit: int, offset: int
) -> list[asyncpg.Record]:
    return await conn.fetch(
        dictionary.sql(LIST_ORDERS), *_order_params(dictionary, branch), limit, offset
    )


async def one_order(
    conn: asyncpg.Connection,
    dictionary: Dictionary,
    *,
    branch: str,
    key: tuple[str, str, str, str],
) -> asyncpg.Record | None:
    return await conn.fetchrow(dictionary.sql(ONE_ORDER), *_order_params(dictionary, branch), *key)


async def lock_order(
    conn: asyncpg.Connection,
    dictionary: Dictionary,
    *,
    branch: str,
    key: tuple[str, str, str, str],
) -> asyncpg.Record | None:
    return await conn.fetchrow(dictionary.sql(LOCK_ORDER), dictionary.filial("SC2", branch), *key)


async def product_routing(
    conn: asyncpg.Connection, dictionary: Dictionary, *, branch: str, product: str
) -> str:
    """B1_OPERPAD trimmed ('' when blank or the product is unknown)."""
    value = await conn.fetchval(
        dictionary.sql(PRODUCT_ROUTING), dictionary.filial("SB1", branch), product
    )
    return (value or "").strip()


async def routing_operations(
    conn: asyncpg.Connection,
    dictionary: Dictionary,
    *,
    branch: str,
    product: str,
    routing: str,
) -> list[str]:
    rows = await conn.fetch(
        dictionary.sql(ROUTING_OPERATIONS), dictionary.filial("SG2", branch), product, routing
    )
    return [row["g2_operac"].strip() for row in rows]


async def machine_exists(
    conn: asyncpg.Connection, dictionary: Dictionary, *, branch: str, machine: str
) -> bool:
    found: bool = await conn.fetchval(
        dictionary.sql(MACHINE_EXISTS), dictionary.filial("SH1", branch), machine
    )
    return found


async def resource_allowed(
    conn: asyncpg.Connection,
    dictionary: Dictionary,
    *,
    branch: str,
    product: str,
    routing: str,
    operation: str,
    machine: str,
) -> bool:
    """The routing's resource of the operation, or (where the database has SH3) one of its
    alternatives: what MATA681 accepts as the appointment's machine."""
    args = (product, routing, operation, machine)
    if await conn.fetchval(
        dictionary.sql(OPERATION_RESOURCE), dictionary.filial("SG2", branch), *args
    ):
        return True
    if not dictionary.has_sh3:
        return False
    found: bool = await conn.fetchval(
        dictionary.sql(ALTERNATIVE_RESOURCE), dictionary.filial("SH3", branch), *args
    )
    return found


async def next_ident(conn: asyncpg.Connection, dictionary: Dictionary, *, branch: str) -> str:
    """Lock the branch's numbering (until commit) and answer its next H6_IDENT."""
    filial = dictionary.filial("SH6", branch)
    await conn.execute(IDENT_LOCK, f"{dictionary.table('SH6')} H6_IDENT {filial}")
    number: int = await conn.fetchval(dictionary.sql(NEXT_IDENT), filial)
    return f"{number:06d}"


async def add_progress(
    conn: asyncpg.Connection,
    dictionary: Dictionary,
    *,
    recno: int,
    good: float,
    scrap: float,
    closed_on: str | None,
) -> None:
    await conn.execute(
        dictionary.sql(ADD_PROGRESS),
        recno,
        float(good),
        float(scrap),
        closed_on is not None,
        closed_on or "",
    )


# --- stop reports (MATA682: SH6 rows with H6_TIPO 'I') ------------------------------------

STOP_COLUMNS = """
h6_filial, h6_ident, h6_recurso, h6_motivo, h6_dataini, h6_horaini, h6_datafin, h6_horafin,
h6_ferram, h6_operado, h6_dtapont, h6_observa, h6_tempo, r_e_c_n_o_
"""

CYN_REASON_EXISTS = f"""
SELECT EXISTS (
    SELECT 1 FROM {{CYN}} WHERE cyn_filial = $1 AND cyn_cdsp = $2 AND {live()}
)
"""
"""Whether a stop reason is registered in CYN (current releases)."""

SX5_REASON_EXISTS = f"""
SELECT EXISTS (
    SELECT 1 FROM {{SX5}} WHERE x5_filial = $1 AND x5_tabela = '44' AND x5_chave = $2 AND {live()}
)
"""
"""Whether a stop reason is registered in SX5 table '44' (releases without CYN)."""

MACHINE_LOCK = "SELECT pg_advisory_xact_lock(hashtext($1))"
"""Serialises stop reports of one machine until commit: the overlap check and the insert
must see each other (two stops of one machine sent at once cannot both pass)."""

OVERLAPPING_STOP = f"""
SELECT {STOP_COLUMNS} FROM {{SH6}}
WHERE h6_filial = $1 AND h6_recurso = $2 AND h6_tipo = 'I' AND {live()}
  -- Strict: a stop that ends when the new one starts (or starts when it ends) touches it.
  AND h6_dataini || h6_horaini < $4 AND h6_datafin || h6_horafin > $3
ORDER BY h6_dataini, h6_horaini, r_e_c_n_o_
LIMIT 1
"""
"""The first live stop of the machine overlapping [$3, $4) ('YYYYMMDDHH:MM' texts, whose
order is time order), if any."""

LIST_STOPS = f"""
SELECT {STOP_COLUMNS} FROM {{SH6}}
WHERE h6_filial = $1 AND h6_tipo = 'I' AND {live()} AND ($2::text IS NULL OR h6_recurso = $2)
ORDER BY r_e_c_n_o_
LIMIT $3 OFFSET $4
"""
"""One page of a branch's live stop reports in the order they were written; $2 a machine
or NULL for all."""

ONE_STOP = f"""
SELECT {STOP_COLUMNS} FROM {{SH6}}
WHERE h6_filial = $1 AND h6_ident = $2 AND h6_tipo = 'I' AND {live()}
ORDER BY r_e_c_n_o_
LIMIT 1
"""
"""A live stop report by its H6_IDENT (IntegrationReport)."""

LOCK_STOP = ONE_STOP + "FOR UPDATE\n"
"""The same, locked until commit (a reversal)."""

DELETE_STOP = """
UPDATE {SH6} SET d_e_l_e_t_ = '*', r_e_c_d_e_l_ = r_e_c_n_o_ WHERE r_e_c_n_o_ = $1
"""
"""Protheus's deletion: D_E_L_E_T_ '*' and R_E_C_D_E_L_ = R_E_C_N_O_ (the row stays)."""


async def reason_exists(
    conn: asyncpg.Connection, dictionary: Dictionary, *, branch: str, reason: str
) -> bool:
    """The reason is live in CYN (the branch's CYN filial), or in SX5 '44' without CYN; a
    database with neither table knows no reason."""
    if not dictionary.has_cyn and not dictionary.has_sx5:
        return False
    if dictionary.has_cyn:
        sql, filial = CYN_REASON_EXISTS, dictionary.filial("CYN", branch)
    else:
        sql, filial = SX5_REASON_EXISTS, dictionary.filial("SX5", branch)
    found: bool = await conn.fetchval(dictionary.sql(sql), filial, reason)
    return found


async def lock_machine_stops(
    conn: asyncpg.Connection, dictionary: Dictionary, *, branch: str, machine: str
) -> None:
    filial = dictionary.filial("SH6", branch)
    await conn.execute(MACHINE_LOCK, f"{dictionary.table('SH6')} stops {filial} {machine}")


async def overlapping_stop(
    conn: asyncpg.Connection,
    dictionary: Dictionary,
    *,
    branch: str,
    machine: str,
    start: str,
    end: str,
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        dictionary.sql(OVERLAPPING_STOP), dictionary.filial("SH6", branch), machine, start, end
    )


async def list_stops(
    conn: asyncpg.Connection,
    dictionary: Dictionary,
    *,
    branch: str,
    machine: str | None,
    limit: int,
    offset: int,
) -> list[asyncpg.Record]:
    return await conn.fetch(
        dictionary.sql(LIST_STOPS), dictionary.filial("SH6", branch), machine, limit, offset
    )


async def one_stop(
    conn: asyncpg.Connection, dictionary: Dictionary, *, branch: str, ident: str, lock: bool = False
) -> asyncpg.Record | None:
    sql = LOCK_STOP if lock else ONE_STOP
    return await conn.fetchrow(dictionary.sql(sql), dictionary.filial("SH6", branch), ident)


async def delete_stop(conn: asyncpg.Connection, dictionary: Dictionary, *, recno: int) -> None:
    await conn.execute(dictionary.sql(DELETE_STOP), recno)

"""SQL of production orders: one Protheus statement per request, written once and rendered per dialect.

Every statement filters live rows (`shared.protheus.sql.live`) on every table and join, and the FILIAL column
of every table (SC2, SB1, SG2, SH6, SD3) with the value the branch resolver gives for that
table (blank for shared tables). Table names come from the company code; every value is
bound. An order's status (PROTHEUS.md's table, shared/protheus/orders.py) is computed in SQL,
so the `status` filter, `total` and the page agree exactly.
"""

from __future__ import annotations

from functools import lru_cache

from shared.db.dialect import Dialect
from shared.protheus.keys import op_key_sql, order_key_sql
from shared.protheus.naming import Tables
from shared.protheus.orders import order_activity_sql, order_status_sql
from shared.protheus.sql import live, operpad_lookup_sql, routing_sql

STATUSES = ("planned", "open", "started", "idle", "partially_closed", "closed")
# Statuses that depend on the order's appointments and moves, not on SC2 alone.
ACTIVITY_STATUSES = frozenset({"open", "started", "idle"})

ORDER_COLUMNS = (
    "c2_filial",
    "c2_num",
    "c2_item",
    "c2_sequen",
    "c2_itemgrd",
    "c2_produto",
    "c2_local",
    "c2_um",
    "c2_quant",
    "c2_quje",
    "c2_perda",
    "c2_datpri",
    "c2_datprf",
    "c2_datrf",
    "c2_emissao",
    "c2_tpop",
    "c2_status",
    "c2_roteiro",
    "c2_prior",
    "c2_diasoci",
)
ORDER_SORT = "c2_num, c2_item, c2_sequen, c2_itemgrd, recno"


def _routing(tables: Tables, c2: str) -> str:
    """An order's routing; a product with no SB1 row falls back to '01'."""
    return routing_sql(operpad_lookup_sql(tables, f"{c2}.c2_produto"), c2)


def _order_select(dialect: Dialect, tables: Tables) -> str:
    """SC2 columns and the trimmed key; the caller appends its WHERE filters."""
    columns = ", ".join(f"c2.{column}" for column in ORDER_COLUMNS)
    return (
        f"SELECT {columns}, c2.r_e_c_n_o_ AS recno, {order_key_sql('c2', dialect.name)} AS order_key "
        f"FROM {tables.sc2} c2 WHERE c2.c2_filial = :sc2_filial AND {live('c2')}"
    )


def _status_prefilter(status: str) -> str:
    """SC2-only conditions equivalent to (planned, closed...) or implied by (open...) a status."""
    return {
        "planned": "c2.c2_tpop = 'P'",
        "partially_closed": "c2.c2_tpop <> 'P' AND c2.c2_datrf <> '' AND c2.c2_quje < c2.c2_quant",
        "closed": "c2.c2_tpop <> 'P' AND c2.c2_datrf <> '' AND c2.c2_quje >= c2.c2_quant",
    }.get(status, "c2.c2_tpop <> 'P' AND c2.c2_datrf = ''")


# --- list ---------------------------------------------------------------------------------


@lru_cache(maxsize=256)
def list_orders(
    dialect: Dialect,
    tables: Tables,
    status: str | None,
    by_product: bool,
    by_machine: bool,
    planned_from: bool,
    planned_to: bool,
) -> str:
    """A branch's orders (SC2, with SB1 for the routing) in key order: a header row (`total`) and
    the page, each row with `status`, `last_activity` and `routing`.

    Filters: `:status` (computed as in `order_status_sql`), `:product` (C2_PRODUTO), `:machine` (an
    SG2 operation of the order's routing, joined on G2_CODIGO, runs on that G2_RECURSO),
    `:planned_from` / `:planned_to` (C2_DATPRI, blank dates excluded). Appointments (SH6)
    and moves (SD3) are read for every candidate only when the status filter needs them,
    otherwise for the page's rows alone.
    """
    filters = []
    if status is not None:
        filters.append(_status_prefilter(status))
    if by_product:
        filters.append("c2.c2_produto = :product")
    if by_machine:
        filters.append(
            f"EXISTS (SELECT 1 FROM {tables.sg2} g2 WHERE g2.g2_filial = :sg2_filial "
            f"AND g2.g2_produto = c2.c2_produto AND g2.g2_codigo = {_routing(tables, 'c2')} "
            f"AND g2.g2_recurso = :machine AND {live('g2')})"
        )
    if planned_from or planned_to:
        filters.append("c2.c2_datpri <> ''")
    if planned_from:
        filters.append("c2.c2_datpri >= :planned_from")
    if planned_to:
        filters.append("c2.c2_datpri <= :planned_to")
    where = "".join(f" AND {condition}" for condition in filters)
    status_sql = order_status_sql(dialect)
    if status in ACTIVITY_STATUSES:
        matches = (
            "SELECT x.* FROM (SELECT b.*, a.last_activity, a.moves FROM base b "
            f"{order_activity_sql(dialect, tables, 'b', 'a')}) x WHERE {status_sql} = :status"
        )
        page_rows = "SELECT r.* FROM page_rows r"
    else:
        matches = "SELECT * FROM base"
        page_rows = (
            "SELECT r.*, a.last_activity, a.moves FROM page_rows r "
            f"{order_activity_sql(dialect, tables, 'r', 'a')}"
        )
    page = f"SELECT y.*, {status_sql} AS status, {_routing(tables, 'y')} AS routing FROM ({page_rows}) y"
    return f"""WITH base AS (
    {_order_select(dialect, tables)}{where}
), matches AS (
    {matches}
), page_rows AS (
    SELECT * FROM matches ORDER BY {ORDER_SORT} {dialect.page}
)
SELECT h.total, p.* FROM (SELECT count(*) AS total FROM matches) h
{dialect.outer_lateral(page, "p")}
ORDER BY {", ".join(f"p.{column}" for column in ORDER_SORT.split(", "))}
"""


# --- one order ------------------------------------------------------------------------------


@lru_cache(maxsize=8)
def order_detail(dialect: Dialect, tables: Tables) -> str:
    """One order (SC2 by `:num`, `:item`, `:sequen`, `:itemgrd`, the first live row) with its
    status, and one row per SG2 operation of its routing (C2_ROTEIRO, else B1_OPERPAD, else
    '01', joined on G2_CODIGO) carrying the sums of its live SH6 good (H6_QTDPROD) and scrap
    (H6_QTDPERD) quantities; an order without operations is one row with NULL operation
    columns, an unknown order no row. Operations in G2_OPERAC order.
    """
    the_order = dialect.limit_rows(
        f"c.*, {_routing(tables, 'c')} AS routing",
        f"FROM ({_order_select(dialect, tables)} AND c2.c2_num = :num AND c2.c2_item = :item "
        "AND c2.c2_sequen = :sequen AND c2.c2_itemgrd = :itemgrd) c ORDER BY recno",
        "1",
    )
    return f"""WITH the_order AS (
    {the_order}
), progress AS (
    SELECT h6.h6_operac, SUM(h6.h6_qtdprod) AS good_quantity, SUM(h6.h6_qtdperd) AS scrap_quantity
    FROM the_order o
    JOIN {tables.sh6} h6 ON h6.h6_filial = :sh6_filial AND h6.h6_op = {op_key_sql("o", dialect.name)}
         AND {live("h6")}
    GROUP BY h6.h6_operac
), operations AS (
    SELECT g2.g2_operac, g2.g2_recurso, g2.g2_descri, g2.g2_tempad, g2.g2_lotepad,
           g2.r_e_c_n_o_ AS g2_recno,
           COALESCE(pr.good_quantity, 0) AS good_quantity,
           COALESCE(pr.scrap_quantity, 0) AS scrap_quantity
    FROM the_order o
    JOIN {tables.sg2} g2 ON g2.g2_filial = :sg2_filial AND g2.g2_produto = o.c2_produto
         AND g2.g2_codigo = o.routing AND {live("g2")}
    LEFT JOIN progress pr ON pr.h6_operac = g2.g2_operac
)
SELECT y.*, {order_status_sql(dialect)} AS status, ops.*
FROM (SELECT o.*, a.last_activity, a.moves FROM the_order o {order_activity_sql(dialect, tables, "o", "a")}) y
LEFT JOIN operations ops ON 1 = 1
ORDER BY ops.g2_operac, ops.g2_recno
"""

"""Protheus SQL idioms, written once: the live-row filter, an order's routing, and the report
marker H6_OBSERVA must hold (DESIGN.md section 6, PROTHEUS.md)."""

from __future__ import annotations

from shared.db.dialect import Dialect
from shared.db.sources import ProtheusSource
from shared.protheus.naming import Tables

# Protheus deletes a row by marking D_E_L_E_T_ with '*'; live rows hold a blank.
DELETED = "d_e_l_e_t_"

# Every report sent to Protheus starts its Comments (H6_OBSERVA) with "MES:" + its UUID.
MARKER_PREFIX = "MES:"
MARKER_WIDTH = len(MARKER_PREFIX) + 36  # "MES:" + a UUID


def live(alias: str | None = None) -> str:
    """The live-row filter of a table (`alias.d_e_l_e_t_ = ' '`; unqualified without alias)."""
    column = f"{alias}.{DELETED}" if alias else DELETED
    return f"{column} = ' '"


def operpad_sql(b1: str) -> str:
    """A product's own routing from its SB1 row `b1`: B1_OPERPAD, NULL when blank."""
    return f"NULLIF({b1}.b1_operpad, '')"


def operpad_lookup_sql(tables: Tables, product: str) -> str:
    """A product's own routing looked up in SB1 (`:sb1_filial`) for the code `product`:
    B1_OPERPAD, NULL when blank or when the product has no live SB1 row. A correlated lookup
    rather than a join, so SB1 is read only for the rows that need the routing."""
    return (
        f"(SELECT MAX(NULLIF(b1.b1_operpad, '')) FROM {tables.sb1} b1 "
        f"WHERE b1.b1_filial = :sb1_filial AND b1.b1_cod = {product} AND {live('b1')})"
    )


def routing_sql(product_routing: str, order: str | None = None) -> str:
    """An order's routing: C2_ROTEIRO of the SC2 row `order`, else the product's B1_OPERPAD,
    else '01' (DESIGN.md section 6); without `order`, a product's (B1_OPERPAD, else '01').

    `product_routing` is `operpad_sql` or `operpad_lookup_sql` (NULL when the product has no
    routing of its own). The same text runs on PostgreSQL and SQL Server.
    """
    product = f"COALESCE({product_routing}, '01')"
    if order is None:
        return product
    return f"(CASE WHEN {order}.c2_roteiro <> '' THEN {order}.c2_roteiro ELSE {product} END)"


def observa_width_sql(dialect: Dialect, tables: Tables) -> str:
    """Declared width of SH6.H6_OBSERVA (the report marker must fit)."""
    if dialect.is_tsql:
        return f"SELECT COL_LENGTH('{tables.sh6}', 'h6_observa') AS width"
    return (
        "SELECT character_maximum_length AS width FROM information_schema.columns "
        f"WHERE table_name = '{tables.sh6}' AND column_name = 'h6_observa'"
    )


async def observa_too_narrow(source: ProtheusSource) -> int | None:
    """H6_OBSERVA's width when it cannot hold the report marker (exactly-once depends on it),
    None when it can or the width is not declared. Database errors propagate."""
    rows = await source.fetch(observa_width_sql(source.dialect, Tables(source.company)))
    width = rows[0]["width"] if rows else None
    if width is not None and int(width) < MARKER_WIDTH:
        return int(width)
    return None

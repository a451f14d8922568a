"""Protheus SQL idioms, written once: the live-row filter, an order's routing, and the marker
H6_OBSERVA must hold, with the two lookups of it (DESIGN.md section 6, PROTHEUS.md)."""

from __future__ import annotations

import uuid
from functools import lru_cache

from shared.db.dialect import Dialect
from shared.db.sources import ProtheusSource
from shared.protheus.naming import Tables

# Protheus deletes a row by marking D_E_L_E_T_ with '*'; live rows hold a blank.
DELETED = "d_e_l_e_t_"

# Every document sent to Protheus (a production report, a stop) starts its H6_OBSERVA with
# "MES:" + its UUID: Protheus has no idempotency key, the marker is how a lost answer is found.
MARKER_PREFIX = "MES:"
MARKER_WIDTH = len(MARKER_PREFIX) + 36  # "MES:" + a UUID

# Case-insensitive on both engines (PostgreSQL's LIKE is case-sensitive, SQL Server's follows
# the column's collation): earlier versions wrote the UUID in lower case, a screen may
# upper-case the field. UPPER on H6_OBSERVA costs no index: the rows are found by an index
# (branch and order, or branch and machine) and only those are compared.
MARKER_MATCH = "UPPER(h6_observa) LIKE UPPER(:marker)"


def marker(document_id: uuid.UUID | str) -> str:
    """`MES:<UUID>` in upper case: a user or a Protheus screen that upper-cases H6_OBSERVA (many
    AdvPL fields carry the `@!` picture) leaves it unchanged, and the lookup ignores case."""
    return f"{MARKER_PREFIX}{str(document_id).upper()}"


@lru_cache(maxsize=8)
def marker_in_sh6(dialect: Dialect, tables: Tables) -> str:
    """SH6 rows carrying a production report's marker (`:marker`, a LIKE prefix) in
    H6_OBSERVA, among the appointments of its order (`:sh6_filial`, `:order_key`), deleted
    ones too (a reversed appointment must be reported, never re-sent)."""
    return f"""
SELECT h6_ident, {DELETED} AS deleted
FROM {tables.sh6}
WHERE h6_filial = :sh6_filial AND h6_op = :order_key AND {MARKER_MATCH}
"""


@lru_cache(maxsize=8)
def stop_marker_in_sh6(dialect: Dialect, tables: Tables) -> str:
    """SH6 stop rows (H6_TIPO 'I', MATA682) carrying a stop's marker (`:marker`, a LIKE prefix)
    in H6_OBSERVA, among the stops of its machine (`:sh6_filial`, `:machine`: the
    H6_FILIAL+H6_RECURSO index), deleted ones too (a reversed stop is reported, not re-sent)."""
    return f"""
SELECT h6_ident, {DELETED} AS deleted
FROM {tables.sh6}
WHERE h6_filial = :sh6_filial AND h6_recurso = :machine AND h6_tipo = 'I' AND {MARKER_MATCH}
"""


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

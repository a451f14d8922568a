"""The Protheus idioms written once in shared/protheus: tables, live rows, routing, order keys,
the context's branch defaults."""

from __future__ import annotations

import pytest

from shared.db.dialect import POSTGRESQL
from shared.protheus.context import ProtheusContext
from shared.protheus.keys import (
    USUAL_ORDER_KEY,
    OrderKeyLayout,
    order_key_match_sql,
    order_key_pattern,
    order_number,
)
from shared.protheus.naming import Tables
from shared.protheus.sql import MARKER_WIDTH, live, operpad_sql, routing_sql


def test_tables_by_attribute_or_alias_and_hashable_by_value():
    tables = Tables("01")
    assert tables.sb1 == tables["SB1"] == "sb1010"
    assert hash(tables) == hash(Tables("01"))
    with pytest.raises(ValueError, match="company"):
        Tables("1")


def test_live_filter_qualified_or_not():
    assert live("g2") == "g2.d_e_l_e_t_ = ' '"
    assert live() == "d_e_l_e_t_ = ' '"


def test_routing_falls_back_to_the_product_then_01():
    assert routing_sql(operpad_sql("b")) == "COALESCE(NULLIF(b.b1_operpad, ''), '01')"
    assert routing_sql(operpad_sql("b1"), "c2").startswith(
        "(CASE WHEN c2.c2_roteiro <> '' THEN c2.c2_roteiro ELSE COALESCE("
    )


def test_marker_width_is_prefix_and_uuid():
    assert len("MES:") + 36 == MARKER_WIDTH


def test_order_key_helpers_follow_the_layout():
    wide = OrderKeyLayout(8, 2, 3, 0)
    assert order_key_pattern(USUAL_ORDER_KEY).match("00001201001")
    assert order_key_pattern(USUAL_ORDER_KEY).match("00001201001ABC")
    assert not order_key_pattern(wide).match("00001201001")
    assert order_key_pattern(wide).match("0000001201001")
    assert order_number(wide, "0000001201001") == "00000012"
    match = order_key_match_sql("c2", "h6.h6_op", wide)
    assert "SUBSTRING(h6.h6_op, 11, 3) AS CHAR(3)" in match
    assert "c2_itemgrd" not in match


class _Source:
    dialect = POSTGRESQL
    company = "01"


class _Branches:
    async def filial(self, alias: str, branch: str) -> str:
        return f"{alias}:{branch}"

    async def kept(self, alias: str) -> int:
        return 2


async def test_context_defaults_to_the_configured_branch():
    ctx = ProtheusContext(
        source=_Source(),  # type: ignore[arg-type]
        company="01",
        branches=_Branches(),  # type: ignore[arg-type]
        default_branch="0101",
        dictionary=None,  # type: ignore[arg-type]
    )
    assert ctx.dialect is POSTGRESQL
    assert ctx.tables.sc2 == "sc2010"
    assert await ctx.filial("SB1") == "SB1:0101"
    assert await ctx.filial("SB1", "02") == "SB1:02"
    assert await ctx.kept("SA1") == 2

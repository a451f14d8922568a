"""Order keys follow the dictionary's widths (C2_NUM 8 here), keep CHAR padding on every
engine, and the report's order lookup binds each SC2 key column (no trimmed column in a WHERE).
"""

from __future__ import annotations

import re
from typing import Any

import asyncpg
import pytest

from services.production.reports import queries as report_queries
from shared.db.dialect import POSTGRESQL, TSQL, render
from shared.protheus.naming import Tables
from shared.protheus.sql import marker_in_sh6
from tests.helpers import assert_envelope
from tests.support.orders import READ as ORDERS_READ
from tests.support.orders import days_ago
from tests.support.production import READ, WRITE, drain, final, markers, post, report, report_body
from tests.support.urls import url

# An installation that widened C2_NUM to 8 (and the C14 keys to C16 with it).
WIDEN = """
ALTER TABLE sc2010 ALTER COLUMN c2_num TYPE CHAR(8);
UPDATE sc2010 SET c2_num = lpad(rtrim(c2_num), 8, '0');
ALTER TABLE sh6010 ALTER COLUMN h6_op TYPE CHAR(16);
UPDATE sh6010 SET h6_op = '00' || h6_op WHERE h6_op <> '';
ALTER TABLE sd3010 ALTER COLUMN d3_op TYPE CHAR(16);
UPDATE sd3010 SET d3_op = '00' || d3_op WHERE d3_op <> '';
"""


@pytest.fixture
async def protheus_dsn(protheus_dsn: str) -> str:
    """The demo copy with C2_NUM widened to 8 characters before anything reads it."""
    conn = await asyncpg.connect(protheus_dsn)
    try:
        await conn.execute(WIDEN)
    finally:
        await conn.close()
    return protheus_dsn


@pytest.fixture
async def client(aiohttp_client, production_app, protheus_dsn, mes_dsn):
    return await aiohttp_client(production_app(protheus_dsn=protheus_dsn, mes_dsn=mes_dsn))


async def test_orders_list_and_detail_use_the_widened_key(client, orders, protheus_dsn):
    assert len(orders.open_order) == 13  # 8 + 2 + 3
    listed = await assert_envelope(
        await client.get(
            url(client, "production_orders_list"), params={"page_size": "500"}, headers=READ
        ),
        200,
    )
    assert listed["data"]
    for item in listed["data"]:
        assert len(item["C2_NUM"]) == 8
        assert len(item["order"]) in (13, 16), item["order"]
        assert item["order"].startswith(item["C2_NUM"] + item["C2_ITEM"] + item["C2_SEQUEN"])
    detail = await assert_envelope(
        await client.get(url(client, "production_order", order=orders.open_order), headers=READ),
        200,
    )
    assert detail["order"] == orders.open_order
    conn = await asyncpg.connect(protheus_dsn)
    try:  # progress read through H6_OP = the 16-character key
        expected = {
            r["op"].strip(): r["good"]
            for r in await conn.fetch(
                "SELECT h6_operac AS op, sum(h6_qtdprod) AS good FROM sh6010 WHERE h6_filial = '01'"
                " AND h6_op = $1 AND d_e_l_e_t_ = ' ' GROUP BY h6_operac",
                orders.open_order,
            )
        }
    finally:
        await conn.close()
    got = {op["operation"]: op["goodQuantity"] for op in detail["operations"]}
    assert {op: got[op] for op in expected} == expected
    # The old 11-character form no longer names an order: the widths are the database's.
    short = orders.open_order[2:]
    error = await assert_envelope(
        await client.get(url(client, "production_order", order=short), headers=READ), 400
    )
    assert error["error"]["details"][0]["field"] == "order"
    assert "C2_NUM (8)" in error["message"]


async def test_report_post_looks_the_widened_order_up(client, orders, mes_dsn):
    data = await assert_envelope(
        await client.post(
            url(client, "production_reports_create"), json=report_body(orders), headers=WRITE
        ),
        202,
    )
    conn = await asyncpg.connect(mes_dsn)
    try:
        row = await conn.fetchrow(
            "SELECT order_key, item_code FROM production_reports WHERE id = $1::uuid", data["id"]
        )
    finally:
        await conn.close()
    assert row["order_key"] == orders.open_order
    assert row["item_code"]  # the order was found by its columns
    for order, status, rule in (
        (orders.open_order[2:], 400, "length"),  # 11 characters: the standard widths
        ("99999999" + orders.open_order[8:], 422, None),  # well formed, not in SC2
    ):
        error = await assert_envelope(
            await client.post(
                url(client, "production_reports_create"),
                json=report_body(orders, order=order),
                headers=WRITE,
            ),
            status,
        )
        if rule:
            assert {"field": "order", "rule": rule} in [
                {"field": d["field"], "rule": d["rule"]} for d in error["error"]["details"]
            ]


async def test_a_widened_order_reaches_the_simulator(
    setup_line,
    orders,
    protheus_dsn,
    mes_dsn,
):
    line, pusher = await setup_line()
    report_id = await post(line, report_body(orders))
    await drain([pusher()], final(mes_dsn, 1))
    got = await report(line, report_id)
    assert got["status"] == "delivered", got
    assert (await markers(protheus_dsn))[report_id] == [(got["idAppointment"], " ")]
    conn = await asyncpg.connect(protheus_dsn)
    try:
        h6_op = await conn.fetchval(
            "SELECT h6_op FROM sh6010 WHERE h6_filial = '01' AND h6_ident = $1",
            got["idAppointment"],
        )
    finally:
        await conn.close()
    assert h6_op == orders.open_order.ljust(16)


# --- padding kept inside the key (crafted rows, standard widths) -----------------------------


async def test_a_short_number_keeps_its_padding_in_the_key(orders_client, protheus_rows):
    db = protheus_rows
    await db.product("P1")
    await db.operation("P1", "01", "10", "M1")
    await db.order("AB12")  # C2_NUM 'AB12  ' (CHAR 6): the key is 'AB12  01001'
    await db.appointment("AB12  01001", "10", day=days_ago(1), good=4.0)
    client = await orders_client(db.dsn)
    listed = await assert_envelope(
        await client.get(url(client, "production_orders_list"), headers=ORDERS_READ), 200
    )
    assert [item["order"] for item in listed["data"]] == ["AB12  01001"]
    assert listed["data"][0]["status"] == "started"  # SH6 matched through the padded key
    # The blanks travel percent-encoded (url_for quotes them), as a client sends them.
    detail = await assert_envelope(
        await client.get(url(client, "production_order", order="AB12  01001"), headers=ORDERS_READ),
        200,
    )
    assert detail["operations"][0]["goodQuantity"] == 4.0


# --- SQL text ---------------------------------------------------------------------------------


@pytest.mark.parametrize("dialect", [POSTGRESQL, TSQL])
def test_report_order_lookup_binds_each_key_column_untrimmed(dialect: Any):
    sql = report_queries.order_for_report(dialect, Tables("01"))
    where = sql[sql.rindex("WHERE") :]
    assert not re.search(r"(?i)\b[LR]?TRIM\s*\(", where), where
    for column, param in (
        ("c2_num", "num"),
        ("c2_item", "item"),
        ("c2_sequen", "sequen"),
        ("c2_itemgrd", "itemgrd"),
    ):
        assert f"c2.{column} = :{param}" in where
    assert ":order_key" not in sql


async def test_report_order_lookup_uses_the_sc2_key_index(protheus_dsn, orders):
    """With sequential scans priced out, SC2 is read through its FILIAL+NUM+ITEM+SEQUEN+ITEMGRD
    index: a trimmed column in the WHERE could not use it."""
    sql, args = render(
        report_queries.order_for_report(POSTGRESQL, Tables("01"), True),
        {
            "sc2_filial": "01",
            "sb1_filial": " ",
            "sg2_filial": "01",
            "sh3_filial": "01",
            "num": orders.open_order[:8],
            "item": orders.open_order[8:10],
            "sequen": orders.open_order[10:13],
            "itemgrd": "",
            "operation": orders.operation,
            "machine": orders.machine,
        },
        style="dollar",
        dialect=POSTGRESQL,
    )
    conn = await asyncpg.connect(protheus_dsn)
    try:
        await conn.execute("SET enable_seqscan = off")
        plan = "\n".join(r[0] for r in await conn.fetch(f"EXPLAIN {sql}", *args))
    finally:
        await conn.close()
    assert re.search(
        r"Index (Only )?Scan using sc20101 on sc2010|Bitmap Index Scan on sc20101", plan
    ), plan


def test_tsql_keeps_padding_and_compares_the_marker_case_insensitively():
    from services.production.orders import queries as order_queries

    listing = order_queries.list_orders(TSQL, Tables("01"), "started", False, False, False, False)
    detail = order_queries.order_detail(TSQL, Tables("01"))
    for sql in (listing, detail):
        # `+` keeps each CHAR part's padding on SQL Server; no part is trimmed.
        assert "c2.c2_num + c2.c2_item + c2.c2_sequen + c2.c2_itemgrd" in sql
        assert not re.search(r"(?i)\bR?TRIM\s*\(\s*\w+\.c2_", sql)
    postgres = order_queries.order_detail(POSTGRESQL, Tables("01"))
    assert "concat(o.c2_num, o.c2_item, o.c2_sequen, o.c2_itemgrd)" in postgres
    assert "c2_num ||" not in postgres
    marker = marker_in_sh6(TSQL, Tables("01"))
    assert "UPPER(h6_observa) LIKE UPPER(:marker)" in marker

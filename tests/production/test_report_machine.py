"""A report's machine must be the operation's G2_RECURSO or an SH3 alternative of it: 422 with
a `machine` detail before acceptance, as MATA681 would refuse it."""

from __future__ import annotations

import asyncpg
import pytest

from protheus_demo.rows import insert_row
from tests.helpers import assert_envelope
from tests.support.production import WRITE, Orders, report_body
from tests.support.urls import url

ROUTING = (
    "(CASE WHEN c2.c2_roteiro <> '' THEN c2.c2_roteiro WHEN b1.b1_operpad <> ''"
    " THEN b1.b1_operpad ELSE '01' END)"
)


@pytest.fixture
async def client(aiohttp_client, production_app, protheus_dsn, mes_dsn):
    return await aiohttp_client(production_app(protheus_dsn=protheus_dsn, mes_dsn=mes_dsn))


async def order_context(dsn: str, orders: Orders) -> tuple[str, str, str]:
    """The open order's product and routing, and a machine in SH1 its operation does not use."""
    conn = await asyncpg.connect(dsn)
    try:
        row = await conn.fetchrow(
            f"""SELECT rtrim(c2.c2_produto) AS product, rtrim({ROUTING}) AS routing
                FROM sc2010 c2 JOIN sb1010 b1 ON b1.b1_cod = c2.c2_produto AND b1.d_e_l_e_t_ = ' '
                WHERE c2.c2_filial = '01' AND c2.d_e_l_e_t_ = ' '
                  AND rtrim(c2.c2_num || c2.c2_item || c2.c2_sequen || c2.c2_itemgrd) = $1""",
            orders.open_order,
        )
        other = await conn.fetchval(
            "SELECT min(rtrim(h1_codigo)) FROM sh1010 WHERE d_e_l_e_t_ = ' ' AND h1_codigo <> $1"
            " AND h1_codigo NOT IN (SELECT h3_recalte FROM sh3010 WHERE h3_produto = $2)",
            orders.machine,
            row["product"],
        )
    finally:
        await conn.close()
    return row["product"], row["routing"], other


async def post(client, body):
    return await client.post(url(client, "production_reports_create"), json=body, headers=WRITE)


async def stored(mes_dsn: str) -> int:
    conn = await asyncpg.connect(mes_dsn)
    try:
        return await conn.fetchval("SELECT count(*) FROM production_reports")
    finally:
        await conn.close()


async def test_a_machine_outside_the_routing_is_422_before_acceptance(
    client, orders, protheus_dsn, mes_dsn
):
    _, _, other = await order_context(protheus_dsn, orders)
    error = await assert_envelope(await post(client, report_body(orders, machine=other)), 422)
    assert error["error"]["code"] == "unprocessable"
    assert [(d["field"], d["rule"]) for d in error["error"]["details"]] == [("machine", "routing")]
    assert other in error["message"]
    assert orders.machine in error["message"]  # the operation's own machine, to fix it
    assert await stored(mes_dsn) == 0
    # The operation's own machine is accepted.
    await assert_envelope(await post(client, report_body(orders)), 202)


@pytest.mark.parametrize(
    ("kind", "deleted", "status"),
    [("A", " ", 202), ("S", " ", 422), ("A", "*", 422)],
)
async def test_an_sh3_alternative_is_accepted_a_secondary_or_deleted_one_not(
    client, orders, protheus_dsn, kind, deleted, status
):
    product, routing, other = await order_context(protheus_dsn, orders)
    conn = await asyncpg.connect(protheus_dsn)
    try:
        await insert_row(
            conn,
            "SH3",
            H3_FILIAL="01",
            H3_PRODUTO=product,
            H3_CODIGO=routing,
            H3_OPERAC=orders.operation,
            H3_RECALTE=other,
            H3_TIPO=kind,
            D_E_L_E_T_=deleted,
        )
    finally:
        await conn.close()
    await assert_envelope(await post(client, report_body(orders, machine=other)), status)

"""OEE on a second company under Gestão de Empresas (demo company 02, layout EEUUFF).

Company 02 holds company 01's data under branch codes 01SP01/01SP02, with SH1 and SB1
shared per business unit and SC2, SG2, SH6 exclusive. The same telemetry must give the
same OEE on both companies: every Protheus table is filtered by its own filial.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from protheus_demo.company import UNIT_ORDER_KEY, UNIT_ORDER_TEMPAD, unit_order_machines
from tests.helpers import assert_envelope
from tests.support.telemetry_query import READ, TelemetryRows, local, query_app
from tests.support.urls import url

WINDOW = {"from": "2026-03-02T05:00:00-03:00", "to": "2026-03-02T15:00:00-03:00"}

# A firm order of branch 01 and an operation of its routing with a standard time, on a
# machine that runs no other operation of that routing.
PICK = """
SELECT rtrim(c2.c2_num) || rtrim(c2.c2_item) || rtrim(c2.c2_sequen) || rtrim(c2.c2_itemgrd)
       AS order_key, g2.g2_recurso AS machine
FROM sc2010 c2
JOIN sb1010 b1 ON b1.b1_cod = c2.c2_produto AND b1.d_e_l_e_t_ = ' '
JOIN sg2010 g2 ON g2.g2_filial = c2.c2_filial AND g2.g2_produto = c2.c2_produto
     AND g2.g2_codigo = COALESCE(NULLIF(c2.c2_roteiro, ''), NULLIF(b1.b1_operpad, ''), '01')
     AND g2.d_e_l_e_t_ = ' ' AND g2.g2_tempad > 0
WHERE c2.c2_filial = '01' AND c2.c2_tpop = 'F' AND c2.d_e_l_e_t_ = ' '
  AND NOT EXISTS (SELECT 1 FROM sg2010 x WHERE x.g2_filial = g2.g2_filial
      AND x.g2_produto = g2.g2_produto AND x.g2_codigo = g2.g2_codigo
      AND x.g2_recurso = g2.g2_recurso AND x.g2_operac <> g2.g2_operac AND x.d_e_l_e_t_ = ' ')
ORDER BY c2.c2_num, g2.g2_operac
LIMIT 1
"""


@pytest.fixture
async def telemetry(
    mes_rows, demo_two_companies_dsn
) -> AsyncIterator[tuple[TelemetryRows, str, str]]:
    """MES rows: one machine running all window long, one counter naming the picked order."""
    rows = mes_rows
    conn = await asyncpg.connect(demo_two_companies_dsn)
    try:
        picked = await conn.fetchrow(PICK)
    finally:
        await conn.close()
    machine, order = picked["machine"].strip(), picked["order_key"]
    await rows.machine(machine, line="linha1")
    await rows.states(machine, (local("2026-03-02T04:00"), "running", None))
    await rows.counters(machine, (local("2026-03-02T07:00"), 100, 5, order))
    yield rows, machine, order
    await rows.conn.close()


async def oee(client: Any, **query: Any) -> Any:
    resp = await client.get(url(client, "oee"), params={**WINDOW, **query}, headers=READ)
    return await assert_envelope(resp, 200)


async def test_oee_answers_on_the_second_company(aiohttp_client, telemetry, demo_two_companies_dsn):
    rows, machine, order = telemetry
    one = await aiohttp_client(query_app(demo_two_companies_dsn, rows.dsn))
    two = await aiohttp_client(
        query_app(demo_two_companies_dsn, rows.dsn, protheus_company="02", protheus_branch="01SP01")
    )
    expected = await oee(one, machine=machine)
    assert expected["performance"] is not None
    assert expected["idealTime"] > 0
    assert [o["order"] for o in expected["orders"]] == [order]
    assert await oee(two, machine=machine) == expected


async def test_oee_reads_the_orders_product_in_its_unit(
    aiohttp_client, mes_rows, demo_two_companies_dsn
):
    """The unit order's product (SB1 shared per unit) names routing 02: its operation on
    the second machine gives the ideal time (0.5 h a unit, PROTHEUS_TIME_FORMAT C)."""
    conn = await asyncpg.connect(demo_two_companies_dsn)
    try:
        machine = (await unit_order_machines(conn))[1]
    finally:
        await conn.close()
    rows = mes_rows
    try:
        await rows.machine(machine, line="linha1")
        await rows.states(machine, (local("2026-03-02T04:00"), "running", None))
        await rows.counters(machine, (local("2026-03-02T07:00"), 10, 0, UNIT_ORDER_KEY))
        client = await aiohttp_client(
            query_app(
                demo_two_companies_dsn, rows.dsn, protheus_company="02", protheus_branch="01SP01"
            )
        )
        data = await oee(client, machine=machine)
    finally:
        await rows.conn.close()
    [attributed] = data["orders"]
    assert (attributed["order"], attributed["operation"]) == (UNIT_ORDER_KEY, "10")
    assert attributed["idealCycleTime"] == UNIT_ORDER_TEMPAD * 3600
    assert data["idealTime"] == 10 * UNIT_ORDER_TEMPAD * 3600

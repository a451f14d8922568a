"""MATA681 refuses a machine the routing does not name for the operation: the operation's
G2_RECURSO, or an alternative resource of it (SH3 H3_TIPO 'A'), and nothing else."""

from __future__ import annotations

import asyncpg
import pytest

from protheus_demo.rows import insert_row
from tests.support.simulator import (
    BASIC,
    DemoOrder,
    appointment_body,
    assert_fault,
    find_order,
    sh6_count,
)

MATA681 = "/rest/ProductionAppointment/v1/mata681"


async def other_machine(dsn: str, order: DemoOrder, operation: str) -> str:
    """A machine registered in SH1 that the routing does not name for the operation."""
    conn = await asyncpg.connect(dsn)
    try:
        return (
            await conn.fetchval(
                "SELECT min(h1_codigo) FROM sh1010 WHERE d_e_l_e_t_ = ' ' AND h1_codigo <> $1"
                " AND h1_codigo NOT IN (SELECT h3_recalte FROM sh3010 WHERE h3_produto = $2"
                " AND h3_operac = $3)",
                order.machines[operation],
                order.product,
                operation,
            )
        ).strip()
    finally:
        await conn.close()


async def alternative(dsn: str, order: DemoOrder, operation: str, machine: str, **values) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await insert_row(
            conn,
            "SH3",
            H3_FILIAL=order.branch,
            H3_PRODUTO=order.product,
            H3_CODIGO=order.routing,
            H3_OPERAC=operation,
            H3_RECALTE=machine,
            **values,
        )
    finally:
        await conn.close()


async def test_a_machine_outside_the_routing_is_refused(demo_dsn, start_simulator):
    order = await find_order(demo_dsn, "accepting")
    operation = order.last_operation
    machine = await other_machine(demo_dsn, order, operation)
    client = await start_simulator(demo_dsn)
    before = await sh6_count(demo_dsn)
    resp = await client.post(
        MATA681, json=appointment_body(order, operation, MachineCode=machine), headers=BASIC
    )
    body = await assert_fault(resp, 400)
    assert body["detailedMessage"].startswith("A681RECOPER")
    assert machine in body["message"]
    assert await sh6_count(demo_dsn) == before


@pytest.mark.parametrize(
    ("kind", "deleted", "status"),
    [("A", " ", 201), ("S", " ", 400), ("A", "*", 400)],
)
async def test_an_alternative_resource_is_accepted_a_secondary_or_deleted_one_not(
    demo_dsn, start_simulator, kind, deleted, status
):
    order = await find_order(demo_dsn, "accepting")
    operation = order.last_operation
    machine = await other_machine(demo_dsn, order, operation)
    await alternative(demo_dsn, order, operation, machine, H3_TIPO=kind, D_E_L_E_T_=deleted)
    client = await start_simulator(demo_dsn)
    resp = await client.post(
        MATA681, json=appointment_body(order, operation, MachineCode=machine), headers=BASIC
    )
    assert resp.status == status, await resp.text()


async def test_the_demo_has_alternative_and_secondary_resources(module_demo_dsn):
    conn = await asyncpg.connect(module_demo_dsn)
    try:
        kinds = {
            r["h3_tipo"]: r["n"]
            for r in await conn.fetch(
                "SELECT h3_tipo, count(*) AS n FROM sh3010 WHERE d_e_l_e_t_ = ' ' GROUP BY 1"
            )
        }
        # Every alternative is another machine than the operation's own.
        clash = await conn.fetchval(
            "SELECT count(*) FROM sh3010 h3 JOIN sg2010 g2 ON g2.g2_filial = h3.h3_filial"
            " AND g2.g2_produto = h3.h3_produto AND g2.g2_codigo = h3.h3_codigo"
            " AND g2.g2_operac = h3.h3_operac AND g2.g2_recurso = h3.h3_recalte"
            " AND g2.d_e_l_e_t_ = ' '"
        )
    finally:
        await conn.close()
    assert kinds.get("A", 0) > 0
    assert kinds.get("S", 0) > 0
    assert clash == 0

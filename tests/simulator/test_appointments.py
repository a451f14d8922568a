"""MATA681 accepted: the SH6 row as the routine writes it, the order's progress, concurrency."""

from __future__ import annotations

import asyncio

import asyncpg

from protheus_demo.rows import insert_row
from tests.support.simulator import (
    BASIC,
    appointment_body,
    assert_fault,
    fetchval,
    find_order,
    order_progress,
    sh6_count,
    sh6_with_comments,
)

MATA681 = "/rest/ProductionAppointment/v1/mata681"
MAX_IDENT_SQL = "SELECT max(h6_ident) FROM sh6010 WHERE h6_filial = $1"


async def post(client, body, **headers):
    return await client.post(MATA681, json=body, headers={**BASIC, **headers})


async def test_success_writes_one_sh6_row_and_echoes_the_body(demo_dsn, start_simulator):
    order = await find_order(demo_dsn, "accepting", min_operations=2)
    client = await start_simulator(demo_dsn)
    body = appointment_body(order, order.operations[0], Comments="MES:abc  ruído; 'aspas'")
    before = await sh6_count(demo_dsn)
    previous = int(await fetchval(demo_dsn, MAX_IDENT_SQL, "01"))

    resp = await post(client, body)
    answer = await resp.json()
    assert resp.status == 201, answer
    assert answer == {**body, "idAppointment": f"{previous + 1:06d}"}
    assert await sh6_count(demo_dsn) == before + 1
    [row] = await sh6_with_comments(demo_dsn, body["Comments"])
    machine = order.machines[order.operations[0]]
    stored = {
        name: value.rstrip() if isinstance(value, str) else value for name, value in row.items()
    }
    expected = {
        "h6_filial": "01",
        "h6_op": order.key,
        "h6_produto": order.product,
        "h6_operac": order.operations[0],
        "h6_recurso": machine,
        "h6_dataini": "20260105",
        "h6_horaini": "08:00",
        "h6_datafin": "20260105",
        "h6_horafin": "10:30",
        "h6_tempo": 2.5,
        "h6_qtdprod": 10.0,
        "h6_qtdperd": 1.0,
        "h6_pt": "P",
        "h6_tipo": "P",
        "h6_dtapont": "20260105",
        "h6_local": order.warehouse,
        "h6_lotectl": "L0501",
        "h6_operado": "000123",
        "h6_observa": body["Comments"],
        "h6_ident": answer["idAppointment"],
        "d_e_l_e_t_": "",
    }
    assert {name: stored[name] for name in expected} == expected


async def test_other_operations_leave_the_order_quantities_alone(demo_dsn, start_simulator):
    order = await find_order(demo_dsn, "accepting", min_operations=2)
    client = await start_simulator(demo_dsn)
    before = await order_progress(demo_dsn, order)
    resp = await post(client, appointment_body(order, order.operations[0], Part_Total="T"))
    assert resp.status == 201
    assert await order_progress(demo_dsn, order) == before


async def test_last_operation_adds_to_c2_quje_and_c2_perda(demo_dsn, start_simulator):
    order = await find_order(demo_dsn, "accepting", min_operations=2)
    client = await start_simulator(demo_dsn)
    before = await order_progress(demo_dsn, order)
    for good, scrap in ((10, 1), (5.5, 0)):
        body = appointment_body(order, ApprovedQuantity=good, ScrapQuantity=scrap)
        assert (await post(client, body)).status == 201
    after = await order_progress(demo_dsn, order)
    assert after["c2_quje"] == before["c2_quje"] + 15.5
    assert after["c2_perda"] == before["c2_perda"] + 1
    assert after["c2_datrf"].strip() == ""


async def test_total_on_the_last_operation_closes_the_order(demo_dsn, start_simulator):
    order = await find_order(demo_dsn, "accepting")
    client = await start_simulator(demo_dsn)
    body = appointment_body(order, Part_Total="T", ReportDateTime="06/01/2026 07:15")
    assert (await post(client, body)).status == 201
    assert (await order_progress(demo_dsn, order))["c2_datrf"] == "20260106"
    [row] = await sh6_with_comments(demo_dsn, body["Comments"])
    assert row["h6_pt"] == "T"
    assert row["h6_dtapont"] == "20260106"
    # Closed now: the routine refuses further appointments.
    fault = await assert_fault(await post(client, appointment_body(order)), 400)
    assert fault["message"] == f"A ordem de produção {order.key} já foi encerrada em 06/01/2026."


async def test_hh_mm_time_format_and_a_shift_across_midnight(demo_dsn, start_simulator):
    order = await find_order(demo_dsn, "accepting")
    client = await start_simulator(demo_dsn, time_format="N")
    body = appointment_body(
        order, StartReportTime="22:40", EndReportDateTime="06/01/2026", EndReportTime="01:10"
    )
    assert (await post(client, body)).status == 201
    [row] = await sh6_with_comments(demo_dsn, body["Comments"])
    assert row["h6_tempo"] == 2.30  # 2 h 30 min as hh.mm
    assert row["h6_datafin"] == "20260106"


async def test_item_code_left_blank_is_the_orders_product(demo_dsn, start_simulator):
    order = await find_order(demo_dsn, "accepting")
    client = await start_simulator(demo_dsn)
    body = appointment_body(order, ItemCode="", WarehouseCode="")
    assert (await post(client, body)).status == 201
    [row] = await sh6_with_comments(demo_dsn, body["Comments"])
    assert row["h6_produto"].strip() == order.product
    assert row["h6_local"].strip() == order.warehouse


async def test_tenant_header_picks_the_branch_and_its_own_numbering(demo_dsn, start_simulator):
    order = await find_order(demo_dsn, "accepting", branch="02")
    client = await start_simulator(demo_dsn)
    previous = int(await fetchval(demo_dsn, MAX_IDENT_SQL, "02"))
    body = appointment_body(order)
    resp = await post(client, body, tenantId="01,02")
    assert resp.status == 201
    assert (await resp.json())["idAppointment"] == f"{previous + 1:06d}"
    [row] = await sh6_with_comments(demo_dsn, body["Comments"])
    assert row["h6_filial"] == "02"


async def test_fourteen_character_key_of_an_order_with_a_grid_item(demo_dsn, start_simulator):
    model = await find_order(demo_dsn, "accepting")
    conn = await asyncpg.connect(demo_dsn)
    try:
        await insert_row(
            conn, "SC2", C2_FILIAL="01", C2_NUM="999990", C2_ITEM="01", C2_SEQUEN="001",
            C2_ITEMGRD="002", C2_PRODUTO=model.product, C2_LOCAL=model.warehouse, C2_QUANT=50,
            C2_TPOP="F", C2_ROTEIRO=model.routing,
        )  # fmt: skip
    finally:
        await conn.close()
    client = await start_simulator(demo_dsn)
    body = appointment_body(model, ProductionOrderNumber="99999001001002")
    assert (await post(client, body)).status == 201
    [row] = await sh6_with_comments(demo_dsn, body["Comments"])
    assert row["h6_op"] == "99999001001002"
    await assert_fault(
        await post(client, appointment_body(model, ProductionOrderNumber="99999001001")), 400
    )


async def test_deleted_appointments_keep_their_identifier(demo_dsn, start_simulator):
    order = await find_order(demo_dsn, "accepting")
    conn = await asyncpg.connect(demo_dsn)
    try:
        # A reversed appointment (deleted SH6 row) with the highest identifier.
        await insert_row(
            conn, "SH6", H6_FILIAL="01", H6_OP=order.key, H6_IDENT="000900", D_E_L_E_T_="*"
        )
    finally:
        await conn.close()
    client = await start_simulator(demo_dsn)
    resp = await post(client, appointment_body(order))
    assert (await resp.json())["idAppointment"] == "000901"


async def test_concurrent_appointments_get_distinct_idents_and_exact_sums(
    demo_dsn, start_simulator
):
    order = await find_order(demo_dsn, "accepting")
    client = await start_simulator(demo_dsn)
    before = await order_progress(demo_dsn, order)
    bodies = [
        appointment_body(order, ApprovedQuantity=n, ScrapQuantity=n % 3) for n in range(1, 21)
    ]
    responses = await asyncio.gather(*(post(client, body) for body in bodies))
    assert [resp.status for resp in responses] == [201] * 20
    idents = [(await resp.json())["idAppointment"] for resp in responses]
    assert len(set(idents)) == 20
    after = await order_progress(demo_dsn, order)
    assert after["c2_quje"] == before["c2_quje"] + sum(range(1, 21))
    assert after["c2_perda"] == before["c2_perda"] + sum(n % 3 for n in range(1, 21))
    stored = await fetchval(
        demo_dsn,
        "SELECT count(DISTINCT h6_ident) FROM sh6010 WHERE h6_filial = '01' AND h6_ident = ANY($1)",
        idents,
    )
    assert stored == 20


async def test_an_unexpected_failure_is_a_500_in_the_fault_shape(demo_dsn, start_simulator):
    order = await find_order(demo_dsn, "accepting")
    client = await start_simulator(demo_dsn)
    conn = await asyncpg.connect(demo_dsn)
    try:
        await conn.execute("DROP TABLE sh6010")
    finally:
        await conn.close()
    fault = await assert_fault(await post(client, appointment_body(order)), 500)
    assert fault["message"] == "Erro interno no servidor de aplicação."
    assert "sh6010" not in fault["detailedMessage"]

"""MATA681 rejections: each rule answers 400 with the routine's message and writes no SH6 row."""

from __future__ import annotations

import asyncpg
import pytest

from protheus_demo.rows import insert_row
from tests.support.simulator import (
    BASIC,
    REMOVE,
    appointment_body,
    assert_fault,
    fetch,
    find_order,
    order_progress,
    sh6_count,
)

MATA681 = "/rest/ProductionAppointment/v1/mata681"


@pytest.fixture
async def reject(module_demo_dsn, start_simulator):
    """Post a body (dict, or raw text) and check: 400, fault shape, SH6 and SC2 untouched."""
    client = await start_simulator(module_demo_dsn)
    order = await find_order(module_demo_dsn, "accepting")

    async def post(body, *, headers=None) -> dict:
        before = await sh6_count(module_demo_dsn)
        progress = await order_progress(module_demo_dsn, order)
        kwargs = {"data": body} if isinstance(body, str) else {"json": body}
        resp = await client.post(MATA681, headers={**BASIC, **(headers or {})}, **kwargs)
        fault = await assert_fault(resp, 400)
        assert await sh6_count(module_demo_dsn) == before
        assert await order_progress(module_demo_dsn, order) == progress
        return fault

    return post


@pytest.fixture
async def order(module_demo_dsn):
    return await find_order(module_demo_dsn, "accepting", min_operations=2)


async def test_malformed_json(reject):
    fault = await reject('{"appointmentType": "3",')
    assert fault["message"] == "O corpo da requisição não é um JSON válido."


async def test_body_that_is_not_an_object(reject):
    fault = await reject("[1, 2]")
    assert fault["message"] == "O corpo da requisição deve ser um objeto JSON."


async def test_missing_field(reject, order):
    fault = await reject(appointment_body(order, ActivityCode=REMOVE))
    assert fault["message"] == "Campo obrigatório não informado: ActivityCode."
    assert fault["detailedMessage"].startswith("OBRIGAT")


async def test_blank_field_counts_as_missing(reject, order):
    fault = await reject(appointment_body(order, MachineCode="  ", ApprovedQuantity=REMOVE))
    assert fault["message"] == "Campos obrigatórios não informados: MachineCode, ApprovedQuantity."
    assert len(fault["details"]) == 2


async def test_appointment_type_other_than_3(reject, order):
    fault = await reject(appointment_body(order, appointmentType="1"))
    assert "appointmentType" in fault["message"]


async def test_text_field_sent_as_a_number(reject, order):
    fault = await reject(appointment_body(order, OperatorCode=123))
    assert fault["message"] == "O campo OperatorCode deve ser informado como texto."


async def test_comments_wider_than_h6_observa(reject, order):
    fault = await reject(appointment_body(order, Comments="x" * 255))
    assert fault["message"] == "O campo Comments excede o tamanho de H6_OBSERVA (254 caracteres)."


@pytest.mark.parametrize("value", ["2026-01-05", "5/1/2026", "31/02/2026"])
async def test_bad_date(reject, order, value):
    fault = await reject(appointment_body(order, StartReportDateTime=value))
    assert fault["message"] == (
        f"Data inválida em StartReportDateTime: '{value}'. Use o formato dd/mm/aaaa."
    )


@pytest.mark.parametrize("value", ["8:00", "25:00", "10:60", "10h30"])
async def test_bad_time(reject, order, value):
    fault = await reject(appointment_body(order, EndReportTime=value))
    assert fault["message"] == f"Hora inválida em EndReportTime: '{value}'. Use o formato HH:MM."


async def test_bad_report_date(reject, order):
    fault = await reject(appointment_body(order, ReportDateTime="05-01-2026"))
    assert fault["message"].startswith("Data inválida em ReportDateTime")


async def test_order_not_found(reject, order):
    fault = await reject(appointment_body(order, ProductionOrderNumber="99999901001"))
    assert fault["message"] == "Ordem de produção 99999901001 não encontrada."
    assert fault["detailedMessage"].startswith("OPNAOEXIST")


async def test_deleted_order_is_not_found(reject, order, module_demo_dsn):
    conn = await asyncpg.connect(module_demo_dsn)
    try:
        await insert_row(
            conn, "SC2", C2_FILIAL="01", C2_NUM="999998", C2_ITEM="01", C2_SEQUEN="001",
            C2_PRODUTO=order.product, C2_QUANT=10, C2_TPOP="F", C2_ROTEIRO=order.routing,
            D_E_L_E_T_="*",
        )  # fmt: skip
    finally:
        await conn.close()
    fault = await reject(appointment_body(order, ProductionOrderNumber="99999801001"))
    assert fault["message"] == "Ordem de produção 99999801001 não encontrada."


async def test_order_of_another_branch_is_not_found(reject, order, module_demo_dsn):
    keys = "SELECT trim(c2_num || c2_item || c2_sequen || c2_itemgrd) AS key FROM sc2010 WHERE c2_filial = $1"
    branch01 = {row["key"] for row in await fetch(module_demo_dsn, keys, "01")}
    branch02 = {row["key"] for row in await fetch(module_demo_dsn, keys, "02")}
    only01 = sorted(branch01 - branch02)[0]
    body = appointment_body(order, ProductionOrderNumber=only01)
    fault = await reject(body, headers={"tenantId": "01,02"})
    assert fault["message"] == f"Ordem de produção {only01} não encontrada."


async def test_planned_order_cannot_be_moved(reject, module_demo_dsn):
    planned = await find_order(module_demo_dsn, "planned")
    fault = await reject(appointment_body(planned))
    assert fault["message"] == (
        f"A ordem de produção {planned.key} é prevista e não pode ser movimentada; firme-a antes."
    )


async def test_closed_order(reject, module_demo_dsn):
    closed = await find_order(module_demo_dsn, "closed")
    fault = await reject(appointment_body(closed))
    assert fault["message"].startswith(f"A ordem de produção {closed.key} já foi encerrada em ")


async def test_suspended_order(reject, module_demo_dsn):
    suspended = await find_order(module_demo_dsn, "suspended")
    fault = await reject(appointment_body(suspended))
    assert fault["message"] == (
        f"A ordem de produção {suspended.key} está suspensa e não pode ser movimentada."
    )


async def test_definitively_closed_order(reject, module_demo_dsn):
    sacramented = await find_order(module_demo_dsn, "sacramented")
    fault = await reject(appointment_body(sacramented))
    assert fault["message"] == (
        f"A ordem de produção {sacramented.key} foi encerrada definitivamente e não pode "
        "ser movimentada."
    )


async def test_item_code_other_than_the_orders_product(reject, order):
    fault = await reject(appointment_body(order, ItemCode="OUTRO"))
    assert fault["message"] == (
        f"O produto OUTRO não corresponde ao produto da ordem de produção {order.key} "
        f"({order.product})."
    )


async def test_operation_not_in_the_routing(reject, order):
    fault = await reject(appointment_body(order, ActivityCode="99"))
    assert fault["message"] == (
        f"A operação 99 não existe no roteiro {order.routing} do produto {order.product}."
    )


async def test_operation_of_another_routing_or_deleted_is_not_in_the_routing(
    reject, order, module_demo_dsn
):
    conn = await asyncpg.connect(module_demo_dsn)
    try:
        for routing, operation, deleted in (("ZZ", "97", " "), (order.routing, "98", "*")):
            await insert_row(
                conn, "SG2", G2_FILIAL="01", G2_PRODUTO=order.product, G2_CODIGO=routing,
                G2_OPERAC=operation, G2_RECURSO=order.machines[order.last_operation],
                D_E_L_E_T_=deleted,
            )  # fmt: skip
    finally:
        await conn.close()
    for operation in ("97", "98"):
        fault = await reject(appointment_body(order, ActivityCode=operation))
        assert fault["message"].startswith(f"A operação {operation} não existe no roteiro")


async def test_machine_unknown_or_deleted(reject, order, module_demo_dsn):
    conn = await asyncpg.connect(module_demo_dsn)
    try:
        await insert_row(conn, "SH1", H1_FILIAL="", H1_CODIGO="GHOST1", D_E_L_E_T_="*")
    finally:
        await conn.close()
    for machine in ("NOPE99", "GHOST1"):
        fault = await reject(appointment_body(order, MachineCode=machine))
        assert fault["message"] == f"Recurso {machine} não cadastrado (SH1)."


@pytest.mark.parametrize("field", ["ApprovedQuantity", "ScrapQuantity"])
async def test_negative_quantity(reject, order, field):
    fault = await reject(appointment_body(order, **{field: -1}))
    assert fault["message"] == f"Quantidade negativa não permitida em {field}."


async def test_both_quantities_zero(reject, order):
    fault = await reject(appointment_body(order, ApprovedQuantity=0, ScrapQuantity=0))
    assert fault["message"] == (
        "Informe a quantidade produzida ou a quantidade perdida: ambas estão zeradas."
    )


@pytest.mark.parametrize("value", ["dez", True, [1]])
async def test_quantity_that_is_not_a_number(reject, order, value):
    fault = await reject(appointment_body(order, ApprovedQuantity=value))
    assert fault["message"] == "Quantidade inválida em ApprovedQuantity: informe um número."


async def test_part_total_other_than_p_or_t(reject, order):
    fault = await reject(appointment_body(order, Part_Total="X"))
    assert fault["message"] == (
        "Parcial/Total inválido: informe P (parcial) ou T (total) em Part_Total."
    )


@pytest.mark.parametrize(
    ("end_date", "end_time"),
    [("05/01/2026", "08:00"), ("05/01/2026", "07:59"), ("04/01/2026", "23:00")],
)
async def test_end_not_after_start(reject, order, end_date, end_time):
    fault = await reject(
        appointment_body(order, EndReportDateTime=end_date, EndReportTime=end_time)
    )
    assert fault["message"] == (
        f"A data/hora final ({end_date} {end_time}) deve ser posterior à data/hora inicial "
        "(05/01/2026 08:00)."
    )


async def test_tenant_of_another_company(reject, order):
    fault = await reject(appointment_body(order), headers={"tenantId": "99,01"})
    assert fault["message"] == "Empresa 99 não disponível neste servidor (tenantId)."

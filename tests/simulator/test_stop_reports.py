"""MATA682 stop reports: the SH6 row (H6_TIPO 'I') as the routine writes it, the record the
API answers, each rejection rule, the list, one report, the reversal."""

from __future__ import annotations

import asyncio
import datetime

import asyncpg
import pytest

from protheus_demo.simulator.stops import REPORT_DATE_MESSAGE, ROUTINE_MESSAGE
from tests.support.simulator import (
    BASIC,
    REMOVE,
    STOP_REPORTS,
    assert_fault,
    at,
    demo_machine,
    fetch,
    fetchval,
    plant_today,
    sh6_count,
    stop_body,
)

MAX_IDENT_SQL = "SELECT max(h6_ident) FROM sh6010 WHERE h6_filial = $1"
STOP_ROW_SQL = "SELECT * FROM sh6010 WHERE h6_observa = $1"


async def post(client, body, **headers):
    return await client.post(STOP_REPORTS, json=body, headers={**BASIC, **headers})


async def rejected(resp, help_code: str) -> str:
    """A MATA682 rejection: 400, the routine's message, its log (help code first) as the
    detail, one item per logged reason; returns the reason the log gives."""
    body = await assert_fault(resp, 400)
    assert body["message"] == ROUTINE_MESSAGE
    assert body["detailedMessage"].startswith(f"{help_code}: ")
    reason: str = body["detailedMessage"].removeprefix(f"{help_code}: ")
    if len(body["details"]) == 1:
        assert body["details"][0]["message"] == reason
    return reason


def today_at(hour_minute: str) -> str:
    return at(plant_today(), hour_minute)


async def test_success_writes_one_stop_row_and_answers_the_record(demo_dsn, start_simulator):
    machine = await demo_machine(demo_dsn)
    client = await start_simulator(demo_dsn)
    body = stop_body(
        machine,
        today_at("08:00"),
        today_at("09:30"),
        StopReasonCode="03",
        ToolCode="FER007",
        Observation="MES:ABC  setup; 'aspas' ",
    )
    before = await sh6_count(demo_dsn)
    previous = int(await fetchval(demo_dsn, MAX_IDENT_SQL, "01"))

    resp = await post(client, body)
    answer = await resp.json()
    assert resp.status == 201, answer
    today = plant_today()
    ident = f"{previous + 1:06d}"
    assert answer == {
        "BranchId": "01",
        "IntegrationReport": ident,
        "MachineCode": machine,
        "StopReasonCode": "03",
        "StartDateTime": today_at("08:00"),
        "EndDateTime": today_at("09:30"),
        "ToolCode": "FER007",
        "OperatorCode": "000123",
        "ReportDateTime": at(today, "00:00"),
        "Observation": "MES:ABC  setup; 'aspas'",
        "StopTime": 1.5,
    }
    assert await sh6_count(demo_dsn) == before + 1
    [row] = await fetch(demo_dsn, STOP_ROW_SQL, body["Observation"])
    stored = {
        name: value.rstrip() if isinstance(value, str) else value for name, value in row.items()
    }
    day = today.strftime("%Y%m%d")
    expected = {
        "h6_filial": "01",
        "h6_op": "",
        "h6_produto": "",
        "h6_operac": "",
        "h6_recurso": machine,
        "h6_ferram": "FER007",
        "h6_dataini": day,
        "h6_horaini": "08:00",
        "h6_datafin": day,
        "h6_horafin": "09:30",
        "h6_tempo": 1.5,
        "h6_qtdprod": 0.0,
        "h6_tipo": "I",
        "h6_motivo": "03",
        "h6_dtapont": day,
        "h6_operado": "000123",
        "h6_observa": body["Observation"].rstrip(),
        "h6_ident": ident,
        "d_e_l_e_t_": "",
        "r_e_c_d_e_l_": 0,
    }
    assert {name: stored[name] for name in expected} == expected

    # The same record from GET, by its IntegrationReport.
    resp = await client.get(f"{STOP_REPORTS}/{ident}", headers=BASIC)
    assert resp.status == 200
    assert await resp.json() == answer


async def test_seconds_are_dropped_and_the_report_date_defaults_to_today(demo_dsn, start_simulator):
    machine = await demo_machine(demo_dsn)
    client = await start_simulator(demo_dsn)
    body = stop_body(
        machine,
        today_at("10:00")[:-2] + "41",
        today_at("10:07")[:-2] + "59",
        ReportDateTime=REMOVE,
    )
    resp = await post(client, body)
    answer = await resp.json()
    assert resp.status == 201, answer
    assert (answer["StartDateTime"], answer["EndDateTime"]) == (
        today_at("10:00"),
        today_at("10:07"),
    )
    assert answer["ReportDateTime"] == at(plant_today(), "00:00")


async def test_a_stop_of_yesterday_reported_today_is_accepted(demo_dsn, start_simulator):
    machine = await demo_machine(demo_dsn, skip=3)
    yesterday = plant_today() - datetime.timedelta(days=1)
    client = await start_simulator(demo_dsn)
    # Late evening, after the demo's stops of that day (they end before midnight and start
    # by 22:00 at the latest, so 23:58 is free).
    resp = await post(client, stop_body(machine, at(yesterday, "23:58"), today_at("00:03")))
    answer = await resp.json()
    assert resp.status == 201, answer
    assert answer["StartDateTime"] == at(yesterday, "23:58")


# --- rejections ---------------------------------------------------------------------------------


async def test_an_unknown_machine_is_refused(module_demo_dsn, start_simulator):
    client = await start_simulator(module_demo_dsn)
    before = await sh6_count(module_demo_dsn)
    resp = await post(client, stop_body("XYZ99", today_at("08:00"), today_at("08:10")))
    assert await rejected(resp, "A682RECURSO") == "Recurso XYZ99 não cadastrado (SH1)."
    # A machine that exists only as a deleted SH1 row is unknown too.
    deleted = await fetchval(
        module_demo_dsn,
        "SELECT trim(h1_codigo) FROM sh1010 s WHERE d_e_l_e_t_ = '*' AND NOT EXISTS ("
        " SELECT 1 FROM sh1010 l WHERE l.h1_codigo = s.h1_codigo AND l.d_e_l_e_t_ = ' ')"
        " LIMIT 1",
    )
    resp = await post(client, stop_body(deleted, today_at("08:00"), today_at("08:10")))
    await rejected(resp, "A682RECURSO")
    assert await sh6_count(module_demo_dsn) == before


@pytest.mark.parametrize(
    ("reason", "branch"),
    [
        ("77", "01"),  # in no table
        ("13", "01"),  # a retired reason: its CYN row is deleted
        ("10", "02"),  # branch 01's reason: branch 02 has no CYN row for it
    ],
)
async def test_a_reason_not_live_in_cyn_for_the_branch_is_refused(
    module_demo_dsn, start_simulator, reason, branch
):
    machine = await demo_machine(module_demo_dsn)
    client = await start_simulator(module_demo_dsn)
    before = await sh6_count(module_demo_dsn)
    body = stop_body(machine, today_at("08:00"), today_at("08:10"), StopReasonCode=reason)
    resp = await post(client, body, tenantId=f"01,{branch}")
    assert await rejected(resp, "A682MOTIVO") == f"Motivo de parada {reason} não cadastrado (CYN)."
    assert await sh6_count(module_demo_dsn) == before


async def test_without_cyn_the_reason_must_be_in_sx5_table_44(demo_dsn, start_simulator):
    conn = await asyncpg.connect(demo_dsn)
    try:
        await conn.execute("DROP TABLE cyn010")
    finally:
        await conn.close()
    machine = await demo_machine(demo_dsn)
    client = await start_simulator(demo_dsn)
    # 07 is a CYN reason, but in SX5 '44' only as a deleted row.
    body = stop_body(machine, today_at("08:00"), today_at("08:10"), StopReasonCode="07")
    reason = await rejected(await post(client, body), "A682MOTIVO")
    assert reason == "Motivo de parada 07 não cadastrado (SX5 tabela 44)."
    body = stop_body(machine, today_at("08:00"), today_at("08:10"), StopReasonCode="06")
    resp = await post(client, body)
    assert resp.status == 201, await resp.json()


@pytest.mark.parametrize("end", ["08:00", "07:59"])
async def test_the_end_must_come_after_the_start(module_demo_dsn, start_simulator, end):
    machine = await demo_machine(module_demo_dsn)
    client = await start_simulator(module_demo_dsn)
    today = plant_today().strftime("%d/%m/%Y")
    resp = await post(client, stop_body(machine, today_at("08:00"), today_at(end)))
    assert await rejected(resp, "A682DATAHORA") == (
        f"A data/hora final ({today} {end}) deve ser posterior à data/hora inicial ({today} 08:00)."
    )


async def test_a_report_date_before_the_system_date_is_refused(module_demo_dsn, start_simulator):
    machine = await demo_machine(module_demo_dsn)
    client = await start_simulator(module_demo_dsn)
    before = await sh6_count(module_demo_dsn)
    yesterday = plant_today() - datetime.timedelta(days=1)
    body = stop_body(
        machine, today_at("08:00"), today_at("08:10"), ReportDateTime=at(yesterday, "23:59")
    )
    assert await rejected(await post(client, body), "A682DTREP") == REPORT_DATE_MESSAGE
    # The date alone is accepted as well.
    body["ReportDateTime"] = yesterday.isoformat()
    assert await rejected(await post(client, body), "A682DTREP") == REPORT_DATE_MESSAGE
    assert await sh6_count(module_demo_dsn) == before


@pytest.mark.parametrize(
    ("fields", "help_code", "reason"),
    [
        (
            {"MachineCode": REMOVE, "StopReasonCode": " "},
            "OBRIGAT",
            "Campos obrigatórios não informados: MachineCode, StopReasonCode.",
        ),
        ({"EndDateTime": None}, "OBRIGAT", "Campo obrigatório não informado: EndDateTime."),
        (
            {"StartDateTime": "29/11/2026 08:00"},
            "DATAINVALIDA",
            "Data/hora inválida em StartDateTime: '29/11/2026 08:00'. "
            "Use o formato AAAA-MM-DDTHH:MM:SS.",
        ),
        (
            {"EndDateTime": "2026-02-30T08:00:00"},
            "DATAINVALIDA",
            "Data/hora inválida em EndDateTime: '2026-02-30T08:00:00'. "
            "Use o formato AAAA-MM-DDTHH:MM:SS.",
        ),
        (
            {"ReportDateTime": "amanhã"},
            "DATAINVALIDA",
            "Data inválida em ReportDateTime: 'amanhã'. Use o formato AAAA-MM-DDTHH:MM:SS.",
        ),
        (
            {"StopReasonCode": 1},
            "TIPOCAMPO",
            "O campo StopReasonCode deve ser informado como texto.",
        ),
        (
            {"StopReasonCode": "001"},
            "TAMCAMPO",
            "O campo StopReasonCode excede o tamanho de H6_MOTIVO (2 caracteres).",
        ),
        (
            {"Observation": "x" * 255},
            "TAMCAMPO",
            "O campo Observation excede o tamanho de H6_OBSERVA (254 caracteres).",
        ),
    ],
)
async def test_malformed_bodies_are_refused_before_any_read(
    module_demo_dsn, start_simulator, fields, help_code, reason
):
    client = await start_simulator(module_demo_dsn)
    body = stop_body("CORTE1", today_at("08:00"), today_at("08:10"), **fields)
    assert await rejected(await post(client, body), help_code) == reason


async def test_a_body_that_is_not_a_json_object_is_refused(module_demo_dsn, start_simulator):
    client = await start_simulator(module_demo_dsn)
    resp = await client.post(STOP_REPORTS, data=b"[1, 2", headers=BASIC)
    assert await rejected(resp, "JSONINVALIDO") == "O corpo da requisição não é um JSON válido."
    resp = await client.post(STOP_REPORTS, json=[1, 2], headers=BASIC)
    assert await rejected(resp, "JSONINVALIDO") == "O corpo da requisição deve ser um objeto JSON."


async def test_stop_reports_need_credentials(module_demo_dsn, start_simulator):
    client = await start_simulator(module_demo_dsn)
    resp = await client.post(
        STOP_REPORTS, json=stop_body("CORTE1", today_at("08:00"), today_at("08:10"))
    )
    await assert_fault(resp, 401)
    await assert_fault(await client.get(STOP_REPORTS), 401)


# --- overlap ------------------------------------------------------------------------------------


async def test_overlapping_a_live_stop_of_the_machine_is_refused_touching_is_not(
    demo_dsn, start_simulator
):
    machine, other_machine = await demo_machine(demo_dsn), await demo_machine(demo_dsn, skip=1)
    client = await start_simulator(demo_dsn)
    resp = await post(client, stop_body(machine, today_at("08:00"), today_at("09:00")))
    first = await resp.json()
    assert resp.status == 201, first
    before = await sh6_count(demo_dsn)
    today = plant_today().strftime("%d/%m/%Y")
    for start, end in (
        ("08:30", "09:30"),
        ("07:30", "08:01"),
        ("07:00", "10:00"),
        ("08:10", "08:20"),
    ):
        resp = await post(client, stop_body(machine, today_at(start), today_at(end)))
        assert await rejected(resp, "A682JAEXIST") == (
            f"Já existe apontamento de parada para o recurso {machine} entre {today} 08:00 "
            f"e {today} 09:00 (apontamento {first['IntegrationReport']})."
        )
    assert await sh6_count(demo_dsn) == before
    # Touching on either side, another machine, or the same machine in another branch: fine.
    accepted = [
        (machine, "09:00", "09:10", "01"),
        (machine, "07:50", "08:00", "01"),
        (other_machine, "08:00", "09:00", "01"),
        (machine, "08:00", "09:00", "02"),
    ]
    for code, start, end, branch in accepted:
        resp = await post(
            client, stop_body(code, today_at(start), today_at(end)), tenantId=f"01,{branch}"
        )
        assert resp.status == 201, (code, start, end, branch, await resp.json())


async def test_demo_stops_count_for_the_overlap_deleted_ones_do_not(demo_dsn, start_simulator):
    # A live demo stop of some past day, and a deleted one whose interval no live stop of its
    # machine touches.
    [live] = await fetch(
        demo_dsn,
        "SELECT trim(h6_recurso) AS machine, h6_dataini AS day, h6_horaini AS start,"
        " h6_horafin AS end_ FROM sh6010 WHERE h6_tipo = 'I' AND h6_op = '' AND h6_filial = '01'"
        " AND d_e_l_e_t_ = ' ' ORDER BY r_e_c_n_o_ LIMIT 1",
    )
    [deleted] = await fetch(
        demo_dsn,
        "SELECT trim(h6_recurso) AS machine, h6_dataini AS day, h6_horaini AS start,"
        " h6_horafin AS end_ FROM sh6010 d WHERE h6_tipo = 'I' AND h6_filial = '01'"
        " AND d_e_l_e_t_ = '*' AND NOT EXISTS (SELECT 1 FROM sh6010 l"
        "  WHERE l.h6_filial = d.h6_filial AND l.h6_recurso = d.h6_recurso"
        "  AND l.h6_tipo = 'I' AND l.d_e_l_e_t_ = ' '"
        "  AND l.h6_dataini || l.h6_horaini < d.h6_datafin || d.h6_horafin"
        "  AND l.h6_datafin || l.h6_horafin > d.h6_dataini || d.h6_horaini)"
        " ORDER BY r_e_c_n_o_ LIMIT 1",
    )
    client = await start_simulator(demo_dsn)

    def interval(row) -> tuple[str, str]:
        day = datetime.date(int(row["day"][:4]), int(row["day"][4:6]), int(row["day"][6:]))
        return at(day, row["start"]), at(day, row["end_"])

    resp = await post(client, stop_body(live["machine"], *interval(live)))
    await rejected(resp, "A682JAEXIST")
    resp = await post(client, stop_body(deleted["machine"], *interval(deleted)))
    assert resp.status == 201, await resp.json()


async def test_concurrent_overlapping_stops_of_one_machine_let_exactly_one_in(
    demo_dsn, start_simulator
):
    machine = await demo_machine(demo_dsn)
    client = await start_simulator(demo_dsn)
    bodies = [
        stop_body(machine, today_at(f"11:{minute:02d}"), today_at(f"11:{minute + 30:02d}"))
        for minute in range(0, 20, 2)
    ]
    answers = await asyncio.gather(*(post(client, body) for body in bodies))
    statuses = sorted(resp.status for resp in answers)
    assert statuses == [201] + [400] * (len(bodies) - 1)
    stored = await fetchval(
        demo_dsn,
        "SELECT count(*) FROM sh6010 WHERE h6_recurso = $1 AND h6_tipo = 'I'"
        " AND h6_dataini = $2 AND d_e_l_e_t_ = ' '",
        machine,
        plant_today().strftime("%Y%m%d"),
    )
    assert stored == 1


# --- list, one, reversal ------------------------------------------------------------------------


async def test_the_list_pages_live_stop_reports_of_the_branch(demo_dsn, start_simulator):
    client = await start_simulator(demo_dsn)
    expected = await fetchval(
        demo_dsn,
        "SELECT count(*) FROM sh6010 WHERE h6_tipo = 'I' AND d_e_l_e_t_ = ' ' AND h6_filial = '02'",
    )
    seen: list[dict] = []
    page = 1
    while True:
        resp = await client.get(
            STOP_REPORTS, params={"page": page, "pageSize": 50, "branchId": "02"}, headers=BASIC
        )
        body = await resp.json()
        assert resp.status == 200, body
        assert (body["page"], body["pageSize"]) == (page, 50)
        seen += body["items"]
        if not body["hasNext"]:
            break
        page += 1
    assert len(seen) == expected > 50
    assert {item["BranchId"] for item in seen} == {"02"}
    assert len({item["IntegrationReport"] for item in seen}) == expected
    # A machine's only.
    machine = seen[0]["MachineCode"]
    resp = await client.get(
        STOP_REPORTS,
        params={"MachineCode": machine, "pageSize": 500},
        headers={**BASIC, "tenantId": "01,02"},
    )
    items = (await resp.json())["items"]
    assert items
    assert items == [item for item in seen if item["MachineCode"] == machine]


async def test_one_report_is_404_unless_a_live_stop_of_the_branch(demo_dsn, start_simulator):
    production = await fetchval(
        demo_dsn,
        "SELECT h6_ident FROM sh6010 WHERE h6_tipo = 'P' AND h6_filial = '01'"
        " AND d_e_l_e_t_ = ' ' LIMIT 1",
    )
    deleted = await fetchval(
        demo_dsn,
        "SELECT h6_ident FROM sh6010 WHERE h6_tipo = 'I' AND h6_filial = '01'"
        " AND d_e_l_e_t_ = '*' LIMIT 1",
    )
    of_branch_02 = await fetchval(
        demo_dsn,
        "SELECT h6_ident FROM sh6010 WHERE h6_tipo = 'I' AND h6_filial = '02'"
        " AND d_e_l_e_t_ = ' ' LIMIT 1",
    )
    client = await start_simulator(demo_dsn)
    for ident in (production, deleted, of_branch_02, "999999"):
        resp = await client.get(f"{STOP_REPORTS}/{ident}", headers=BASIC)
        body = await assert_fault(resp, 404)
        assert body["message"] == f"Apontamento de parada {ident} não encontrado."
    resp = await client.get(
        f"{STOP_REPORTS}/{of_branch_02}", headers={**BASIC, "tenantId": "01,02"}
    )
    assert resp.status == 200
    assert (await resp.json())["IntegrationReport"] == of_branch_02


async def test_reversal_deletes_the_row_the_protheus_way(demo_dsn, start_simulator):
    machine = await demo_machine(demo_dsn)
    client = await start_simulator(demo_dsn)
    body = stop_body(machine, today_at("13:00"), today_at("13:20"))
    created = await (await post(client, body)).json()
    ident = created["IntegrationReport"]

    resp = await client.delete(f"{STOP_REPORTS}/{ident}/reversal", headers=BASIC)
    assert resp.status == 200
    assert await resp.json() == created
    [row] = await fetch(demo_dsn, STOP_ROW_SQL, body["Observation"])
    assert row["d_e_l_e_t_"] == "*"
    assert row["r_e_c_d_e_l_"] == row["r_e_c_n_o_"]
    # Gone for GET and for a second reversal; its interval is free again.
    await assert_fault(await client.get(f"{STOP_REPORTS}/{ident}", headers=BASIC), 404)
    resp = await client.delete(f"{STOP_REPORTS}/{ident}/reversal", headers=BASIC)
    body404 = await assert_fault(resp, 404)
    assert body404["message"] == f"Apontamento de parada {ident} não encontrado."
    again = await post(client, stop_body(machine, today_at("13:00"), today_at("13:20")))
    assert again.status == 201
    assert (await again.json())["IntegrationReport"] != ident  # identifiers are never reused


async def test_a_demo_database_without_reason_tables_refuses_every_reason(
    demo_dsn, start_simulator
):
    # A demo loaded before the stop reasons existed: neither CYN nor SX5.
    conn = await asyncpg.connect(demo_dsn)
    try:
        await conn.execute("DROP TABLE cyn010; DROP TABLE sx5010")
    finally:
        await conn.close()
    machine = await demo_machine(demo_dsn)
    client = await start_simulator(demo_dsn)
    resp = await post(client, stop_body(machine, today_at("08:00"), today_at("08:10")))
    await rejected(resp, "A682MOTIVO")

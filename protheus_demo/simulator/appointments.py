"""MATA681 production appointments: validate as the standard routine does, then write SH6 (and SC2)."""

from __future__ import annotations

import datetime
import logging
import math
import re
from dataclasses import dataclass
from typing import Any

import asyncpg
from aiohttp import web

from protheus_demo.rows import insert_row
from protheus_demo.simulator import queries
from protheus_demo.simulator.dictionary import Dictionary
from protheus_demo.simulator.errors import FaultDetail, RestFault, json_response, routine_error
from protheus_demo.simulator.faults import close_without_answer
from protheus_demo.simulator.keys import get_config, get_dictionary, get_faults, get_pool
from protheus_demo.simulator.tenant import request_branch
from shared.json import loads

log = logging.getLogger(__name__)

REQUIRED_FIELDS = (
    "appointmentType",
    "ProductionOrderNumber",
    "ActivityCode",
    "MachineCode",
    "StartReportDateTime",
    "StartReportTime",
    "EndReportDateTime",
    "EndReportTime",
    "ApprovedQuantity",
)
# Text fields and the SH6 column each one lands in (its width bounds the value).
TEXT_COLUMNS = {
    "ProductionOrderNumber": "H6_OP",
    "ActivityCode": "H6_OPERAC",
    "ItemCode": "H6_PRODUTO",
    "MachineCode": "H6_RECURSO",
    "OperatorCode": "H6_OPERADO",
    "WarehouseCode": "H6_LOCAL",
    "LotCode": "H6_LOTECTL",
    "Comments": "H6_OBSERVA",
    "StartReportDateTime": None,
    "StartReportTime": None,
    "EndReportDateTime": None,
    "EndReportTime": None,
    "ReportDateTime": None,
    "Part_Total": None,
}
_DATE = re.compile(r"^(\d{2})/(\d{2})/(\d{4})$")
# ReportDateTime may carry a time after the date, as its name suggests; only the date counts.
_DATE_TIME = re.compile(r"^(\d{2})/(\d{2})/(\d{4})(?:[ T]\d{2}:\d{2}(?::\d{2})?)?$")
_TIME = re.compile(r"^(\d{2}):(\d{2})$")


@dataclass(frozen=True)
class Appointment:
    """A validated MATA681 request (appointmentType 3: production per operation)."""

    order: str
    key: tuple[str, str, str, str]
    operation: str
    item_code: str
    machine: str
    start: datetime.datetime
    end: datetime.datetime
    good: float
    scrap: float
    part_total: str
    operator: str
    warehouse: str
    lot: str
    comments: str
    report_date: datetime.date


def _br(moment: datetime.datetime) -> str:
    return moment.strftime("%d/%m/%Y %H:%M")


def _text(body: dict[str, Any], name: str, widths: dict[str, int]) -> str:
    value = body.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise routine_error("TIPOCAMPO", f"O campo {name} deve ser informado como texto.")
    # Comments go to H6_OBSERVA exactly as sent (integrations search it for their marker).
    text = value if name == "Comments" else value.strip()
    column = TEXT_COLUMNS.get(name)
    width = widths.get(column) if column else None
    if width is not None and len(text) > width:
        raise routine_error(
            "TAMCAMPO",
            f"O campo {name} excede o tamanho de {column} ({width} caracteres).",
        )
    return text


def _date(name: str, text: str, pattern: re.Pattern[str] = _DATE) -> datetime.date:
    match = pattern.match(text)
    try:
        if match is None:
            raise ValueError(text)
        day, month, year = (int(part) for part in match.groups())
        return datetime.date(year, month, day)
    except ValueError:
        raise routine_error(
            "DATAINVALIDA", f"Data inválida em {name}: {text!r}. Use o formato dd/mm/aaaa."
        ) from None


def _time(name: str, text: str) -> datetime.time:
    match = _TIME.match(text)
    try:
        if match is None:
            raise ValueError(text)
        return datetime.time(int(match.group(1)), int(match.group(2)))
    except ValueError:
        raise routine_error(
            "HORAINVALIDA", f"Hora inválida em {name}: {text!r}. Use o formato HH:MM."
        ) from None


def _quantity(body: dict[str, Any], name: str) -> float:
    value = body.get(name)
    if value is None or value == "":
        return 0.0
    number: float | None = None
    # bool is an int in Python; `true` is not a quantity.
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip().replace(",", "."))
        except ValueError:
            number = None
    if number is None or not math.isfinite(number):
        raise routine_error("QTDINVALIDA", f"Quantidade inválida em {name}: informe um número.")
    if number < 0:
        raise routine_error("A681QTDNEG", f"Quantidade negativa não permitida em {name}.")
    return number


def parse_appointment(raw: bytes, dictionary: Dictionary) -> tuple[Appointment, dict[str, Any]]:
    """The request body as an Appointment (and the body itself, echoed on success); sizes and
    the order key's parts follow the dictionary's widths.

    Raises RestFault 400 with the routine's message for each rule that needs no data.
    """
    try:
        body = loads(raw)
    except ValueError:
        raise routine_error("JSONINVALIDO", "O corpo da requisição não é um JSON válido.") from None
    if not isinstance(body, dict):
        raise routine_error("JSONINVALIDO", "O corpo da requisição deve ser um objeto JSON.")

    missing = [
        name
        for name in REQUIRED_FIELDS
        if body.get(name) is None or (isinstance(body[name], str) and not body[name].strip())
    ]
    if missing:
        noun = (
            "Campo obrigatório não informado"
            if len(missing) == 1
            else "Campos obrigatórios não informados"
        )
        message = f"{noun}: {', '.join(missing)}."
        raise routine_error(
            "OBRIGAT",
            message,
            more=[
                FaultDetail(
                    f"Campo obrigatório não informado: {name}.",
                    f"OBRIGAT: o campo {name} é obrigatório na rotina MATA681.",
                )
                for name in missing
            ],
        )
    kind = str(body["appointmentType"]).strip()
    if kind != "3":
        raise routine_error(
            "A681TIPO",
            f"Tipo de apontamento {kind} inválido para a rotina MATA681: "
            'use appointmentType "3" (produção por operação).',
        )
    texts = {name: _text(body, name, dictionary.widths) for name in TEXT_COLUMNS}

    order = texts["ProductionOrderNumber"]
    key = queries.order_key_parts(dictionary, order)
    if key is None:
        # Neither length (without or with the grid part): no SC2 key can match it.
        raise _order_not_found(order)

    start = datetime.datetime.combine(
        _date("StartReportDateTime", texts["StartReportDateTime"]),
        _time("StartReportTime", texts["StartReportTime"]),
    )
    end = datetime.datetime.combine(
        _date("EndReportDateTime", texts["EndReportDateTime"]),
        _time("EndReportTime", texts["EndReportTime"]),
    )
    report_date = (
        _date("ReportDateTime", texts["ReportDateTime"], _DATE_TIME)
        if texts["ReportDateTime"]
        else end.date()
    )

    good = _quantity(body, "ApprovedQuantity")
    scrap = _quantity(body, "ScrapQuantity")
    if good == 0 and scrap == 0:
        raise routine_error(
            "A681QTDZERO",
            "Informe a quantidade produzida ou a quantidade perdida: ambas estão zeradas.",
        )
    part_total = (texts["Part_Total"] or "P").upper()
    if part_total not in ("P", "T"):
        raise routine_error(
            "A681PARCTOT", "Parcial/Total inválido: informe P (parcial) ou T (total) em Part_Total."
        )
    if end <= start:
        raise routine_error(
            "A681DATAHORA",
            f"A data/hora final ({_br(end)}) deve ser posterior à data/hora inicial ({_br(start)}).",
        )
    appointment = Appointment(
        order=order,
        key=key,
        operation=texts["ActivityCode"],
        item_code=texts["ItemCode"],
        machine=texts["MachineCode"],
        start=start,
        end=end,
        good=good,
        scrap=scrap,
        part_total=part_total,
        operator=texts["OperatorCode"],
        warehouse=texts["WarehouseCode"],
        lot=texts["LotCode"],
        comments=texts["Comments"],
        report_date=report_date,
    )
    return appointment, body


def _order_not_found(order: str) -> RestFault:
    return routine_error("OPNAOEXIST", f"Ordem de produção {order} não encontrada.")


def check_order(order: asyncpg.Record | None, appointment: Appointment) -> asyncpg.Record:
    """The order's own rules: it exists, is firm, not closed, suspended or sacramented, and
    makes the product the appointment names. Returns the order when it passes."""
    number = appointment.order
    if order is None:
        raise _order_not_found(number)
    if order["c2_tpop"].strip() == "P":
        raise routine_error(
            "A681OPPREV",
            f"A ordem de produção {number} é prevista e não pode ser movimentada; firme-a antes.",
        )
    situation = order["c2_status"].strip()
    if situation == "S":
        raise routine_error(
            "A681OPSACR",
            f"A ordem de produção {number} foi encerrada definitivamente e não pode ser movimentada.",
        )
    if situation == "U":
        raise routine_error(
            "A681OPSUSP", f"A ordem de produção {number} está suspensa e não pode ser movimentada."
        )
    closed_on = order["c2_datrf"].strip()
    if closed_on:
        shown = f"{closed_on[6:8]}/{closed_on[4:6]}/{closed_on[:4]}"
        raise routine_error(
            "A681OPENC", f"A ordem de produção {number} já foi encerrada em {shown}."
        )
    product = order["c2_produto"].strip()
    # The routine fills the product from the order; one that was sent must be the order's.
    if appointment.item_code and appointment.item_code != product:
        raise routine_error(
            "A681PRODOP",
            f"O produto {appointment.item_code} não corresponde ao produto da ordem de "
            f"produção {number} ({product}).",
        )
    return order


def elapsed_time(start: datetime.datetime, end: datetime.datetime, time_format: str) -> float:
    """H6_TEMPO: decimal hours (MV_TPHR 'C') or hours.minutes (MV_TPHR 'N', 2h30 -> 2.30)."""
    minutes = round((end - start).total_seconds() / 60)
    if time_format == "N":
        hours, rest = divmod(minutes, 60)
        return round(hours + rest / 100, 2)
    return round(minutes / 60, 2)


async def record_appointment(
    conn: asyncpg.Connection,
    dictionary: Dictionary,
    *,
    branch: str,
    appointment: Appointment,
    time_format: str,
) -> str:
    """Validate against the data and write, in one transaction; returns the new H6_IDENT.

    Any rejection (RestFault) rolls the transaction back: nothing is written.
    """
    async with conn.transaction():
        order = check_order(
            await queries.lock_order(conn, dictionary, branch=branch, key=appointment.key),
            appointment,
        )
        product = order["c2_produto"].strip()
        routing = (
            order["c2_roteiro"].strip()
            or await queries.product_routing(conn, dictionary, branch=branch, product=product)
            or "01"
        )
        operations = await queries.routing_operations(
            conn, dictionary, branch=branch, product=product, routing=routing
        )
        if appointment.operation not in operations:
            raise routine_error(
                "A681OPERAC",
                f"A operação {appointment.operation} não existe no roteiro {routing} "
                f"do produto {product}.",
            )
        if not await queries.machine_exists(
            conn, dictionary, branch=branch, machine=appointment.machine
        ):
            raise routine_error(
                "A681RECURSO", f"Recurso {appointment.machine} não cadastrado (SH1)."
            )
        if not await queries.resource_allowed(
            conn,
            dictionary,
            branch=branch,
            product=product,
            routing=routing,
            operation=appointment.operation,
            machine=appointment.machine,
        ):
            raise routine_error(
                "A681RECOPER",
                f"O recurso {appointment.machine} não é o recurso da operação "
                f"{appointment.operation} no roteiro {routing} do produto {product} "
                "nem um recurso alternativo dela (SH3).",
            )

        ident = await queries.next_ident(conn, dictionary, branch=branch)
        await insert_row(
            conn,
            "SH6",
            company=dictionary.company,
            H6_FILIAL=dictionary.filial("SH6", branch),
            H6_OP="".join(appointment.key),
            H6_PRODUTO=product,
            H6_OPERAC=appointment.operation,
            H6_RECURSO=appointment.machine,
            H6_DATAINI=appointment.start.date(),
            H6_HORAINI=appointment.start.strftime("%H:%M"),
            H6_DATAFIN=appointment.end.date(),
            H6_HORAFIN=appointment.end.strftime("%H:%M"),
            H6_TEMPO=elapsed_time(appointment.start, appointment.end, time_format),
            H6_QTDPROD=appointment.good,
            H6_QTDPERD=appointment.scrap,
            H6_PT=appointment.part_total,
            H6_TIPO="P",
            H6_DTAPONT=appointment.report_date,
            H6_LOCAL=appointment.warehouse or order["c2_local"].strip(),
            H6_LOTECTL=appointment.lot,
            H6_OPERADO=appointment.operator,
            H6_OBSERVA=appointment.comments,
            H6_IDENT=ident,
        )
        # Only the last operation moves goods into stock: it alone advances the order.
        if appointment.operation == operations[-1]:
            closed_on = (
                appointment.report_date.strftime("%Y%m%d")
                if appointment.part_total == "T"
                else None
            )
            await queries.add_progress(
                conn,
                dictionary,
                recno=order["r_e_c_n_o_"],
                good=appointment.good,
                scrap=appointment.scrap,
                closed_on=closed_on,
            )
    return ident


async def post_appointment(request: web.Request) -> web.StreamResponse:
    """POST /rest/ProductionAppointment/v1/mata681: 201 echoing the body plus idAppointment."""
    raw = await request.read()  # read whole, so a dropped connection is a clean close
    faults = get_faults(request.app)
    if faults.drop_before():
        log.info("dropping an appointment request before processing it (drop_before_rate)")
        return close_without_answer(request)
    branch = request_branch(request)
    appointment, body = parse_appointment(raw, get_dictionary(request.app))
    async with get_pool(request.app).acquire() as conn:
        ident = await record_appointment(
            conn,
            get_dictionary(request.app),
            branch=branch,
            appointment=appointment,
            time_format=get_config(request.app).time_format,
        )
    faults.counters["appointments"] += 1
    log.info(
        "appointment %s written: branch %s order %s operation %s",
        ident,
        branch,
        appointment.order,
        appointment.operation,
    )
    if faults.drop_after():
        # The lost response: the row is committed, the client never hears of it.
        log.info("dropping the answer of committed appointment %s (drop_after_rate)", ident)
        return close_without_answer(request)
    return json_response({**body, "idAppointment": ident}, status=201)

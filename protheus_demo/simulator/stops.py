"""MATA682 stop reports (unproductive hours) at /rest/api/pcp/v1/stopReports: validate as the
standard routine does, then write SH6 with H6_TIPO 'I'; list, read and reverse them.

Every rejection of the routine is a 400 in SetRestFault's shape whose `message` is the
routine's own "Erro durante Inclusão/Estorno do Apontamento de Parada!." and whose
`detailedMessage` is its log: a help code, then the reason (`A682DTREP: Data do reporte
menor que a database do sistema.`); `details[0].message` is the reason alone.
"""

from __future__ import annotations

import datetime
import logging
import re
from dataclasses import dataclass
from typing import Any

import asyncpg
from aiohttp import web

from protheus_demo.rows import insert_row
from protheus_demo.simulator import queries
from protheus_demo.simulator.appointments import elapsed_time
from protheus_demo.simulator.dictionary import Dictionary
from protheus_demo.simulator.errors import FaultDetail, RestFault, json_response
from protheus_demo.simulator.faults import close_without_answer
from protheus_demo.simulator.keys import get_config, get_dictionary, get_faults, get_pool
from protheus_demo.simulator.orders import MAX_PAGE_SIZE, page_parameter
from protheus_demo.simulator.tenant import request_branch
from shared.json import loads
from shared.settings import BRANCH_PATTERN

log = logging.getLogger(__name__)

ROUTINE_MESSAGE = "Erro durante Inclusão/Estorno do Apontamento de Parada!."
REPORT_DATE_MESSAGE = "Data do reporte menor que a database do sistema."

REQUIRED_FIELDS = ("MachineCode", "StopReasonCode", "StartDateTime", "EndDateTime")
# Text fields and the SH6 column each one lands in (its width bounds the value).
TEXT_COLUMNS: dict[str, str | None] = {
    "MachineCode": "H6_RECURSO",
    "StopReasonCode": "H6_MOTIVO",
    "ToolCode": "H6_FERRAM",
    "OperatorCode": "H6_OPERADO",
    "Observation": "H6_OBSERVA",
    "StartDateTime": None,
    "EndDateTime": None,
    "ReportDateTime": None,
}
# `YYYY-MM-DDTHH:MM:SS` (the API's form; seconds optional). Protheus keeps minutes: seconds
# are dropped, as the routine does when it fills H6_HORAINI/H6_HORAFIN (HH:MM).
_DATE_TIME = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?$")
# ReportDateTime: only the date counts (H6_DTAPONT); the time may be left out.
_REPORT_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:T\d{2}:\d{2}(?::\d{2})?)?$")


@dataclass(frozen=True)
class StopReport:
    """A validated MATA682 request."""

    machine: str
    reason: str
    start: datetime.datetime  # whole minutes
    end: datetime.datetime
    tool: str
    operator: str
    report_date: datetime.date
    observation: str


def stop_error(help_code: str, message: str, *, more: list[FaultDetail] | None = None) -> RestFault:
    """A 400 as MATA682API answers a rejection: the routine's fixed message, its log (help
    code first) as the detail, each logged reason in `details`."""
    detailed = f"{help_code}: {message}"
    return RestFault(400, ROUTINE_MESSAGE, detailed, more or [FaultDetail(message, detailed)])


def _br(moment: datetime.datetime) -> str:
    return moment.strftime("%d/%m/%Y %H:%M")


def protheus_moment(moment: datetime.datetime) -> str:
    """'YYYYMMDDHH:MM': H6_DATAINI || H6_HORAINI, whose text order is time order."""
    return moment.strftime("%Y%m%d%H:%M")


def _text(body: dict[str, Any], name: str, widths: dict[str, int]) -> str:
    value = body.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise stop_error("TIPOCAMPO", f"O campo {name} deve ser informado como texto.")
    # Observation goes to H6_OBSERVA exactly as sent (integrations search it for their marker).
    text = value if name == "Observation" else value.strip()
    column = TEXT_COLUMNS.get(name)
    width = widths.get(column) if column else None
    if width is not None and len(text) > width:
        raise stop_error(
            "TAMCAMPO", f"O campo {name} excede o tamanho de {column} ({width} caracteres)."
        )
    return text


def _moment(name: str, text: str) -> datetime.datetime:
    match = _DATE_TIME.match(text)
    try:
        if match is None:
            raise ValueError(text)
        year, month, day, hour, minute = (int(part) for part in match.groups()[:5])
        seconds = int(match.group(6) or 0)
        if seconds > 59:
            raise ValueError(text)
        # Plant-local wall time, as Protheus stores it (no zone).
        return datetime.datetime.combine(
            datetime.date(year, month, day), datetime.time(hour, minute)
        )
    except ValueError:
        raise stop_error(
            "DATAINVALIDA",
            f"Data/hora inválida em {name}: {text!r}. Use o formato AAAA-MM-DDTHH:MM:SS.",
        ) from None


def _report_date(text: str) -> datetime.date:
    match = _REPORT_DATE.match(text)
    try:
        if match is None:
            raise ValueError(text)
        year, month, day = (int(part) for part in match.groups())
        return datetime.date(year, month, day)
    except ValueError:
        raise stop_error(
            "DATAINVALIDA",
            f"Data inválida em ReportDateTime: {text!r}. Use o formato AAAA-MM-DDTHH:MM:SS.",
        ) from None


def parse_stop_report(raw: bytes, dictionary: Dictionary, *, today: datetime.date) -> StopReport:
    """The request body as a StopReport; `today` is the system date (dDataBase: today in
    plant time). Raises RestFault 400 for each rule that needs no data."""
    try:
        body = loads(raw)
    except ValueError:
        raise stop_error("JSONINVALIDO", "O corpo da requisição não é um JSON válido.") from None
    if not isinstance(body, dict):
        raise stop_error("JSONINVALIDO", "O corpo da requisição deve ser um objeto JSON.")
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
        raise stop_error(
            "OBRIGAT",
            f"{noun}: {', '.join(missing)}.",
            more=[
                FaultDetail(
                    f"Campo obrigatório não informado: {name}.",
                    f"OBRIGAT: o campo {name} é obrigatório na rotina MATA682.",
                )
                for name in missing
            ],
        )
    texts = {name: _text(body, name, dictionary.widths) for name in TEXT_COLUMNS}
    start = _moment("StartDateTime", texts["StartDateTime"])
    end = _moment("EndDateTime", texts["EndDateTime"])
    if end <= start:
        raise stop_error(
            "A682DATAHORA",
            f"A data/hora final ({_br(end)}) deve ser posterior à data/hora inicial ({_br(start)}).",
        )
    report_date = _report_date(texts["ReportDateTime"]) if texts["ReportDateTime"] else today
    if report_date < today:
        raise stop_error("A682DTREP", REPORT_DATE_MESSAGE)
    return StopReport(
        machine=texts["MachineCode"],
        reason=texts["StopReasonCode"],
        start=start,
        end=end,
        tool=texts["ToolCode"],
        operator=texts["OperatorCode"],
        report_date=report_date,
        observation=texts["Observation"],
    )


async def record_stop(
    conn: asyncpg.Connection,
    dictionary: Dictionary,
    *,
    branch: str,
    report: StopReport,
    time_format: str,
) -> asyncpg.Record:
    """Validate against the data and write, in one transaction; returns the new SH6 row.

    Any rejection (RestFault) rolls the transaction back: nothing is written.
    """
    async with conn.transaction():
        if not await queries.machine_exists(
            conn, dictionary, branch=branch, machine=report.machine
        ):
            raise stop_error("A682RECURSO", f"Recurso {report.machine} não cadastrado (SH1).")
        if not await queries.reason_exists(conn, dictionary, branch=branch, reason=report.reason):
            table = "CYN" if dictionary.has_cyn else "SX5 tabela 44"
            raise stop_error(
                "A682MOTIVO", f"Motivo de parada {report.reason} não cadastrado ({table})."
            )
        await queries.lock_machine_stops(conn, dictionary, branch=branch, machine=report.machine)
        other = await queries.overlapping_stop(
            conn,
            dictionary,
            branch=branch,
            machine=report.machine,
            start=protheus_moment(report.start),
            end=protheus_moment(report.end),
        )
        if other is not None:
            raise stop_error(
                "A682JAEXIST",
                f"Já existe apontamento de parada para o recurso {report.machine} "
                f"entre {_stored_br(other, 'ini')} e {_stored_br(other, 'fin')} "
                f"(apontamento {other['h6_ident'].strip()}).",
            )
        ident = await queries.next_ident(conn, dictionary, branch=branch)
        recno = await insert_row(
            conn,
            "SH6",
            company=dictionary.company,
            H6_FILIAL=dictionary.filial("SH6", branch),
            H6_RECURSO=report.machine,
            H6_FERRAM=report.tool,
            H6_DATAINI=report.start.date(),
            H6_HORAINI=report.start.strftime("%H:%M"),
            H6_DATAFIN=report.end.date(),
            H6_HORAFIN=report.end.strftime("%H:%M"),
            H6_TEMPO=elapsed_time(report.start, report.end, time_format),
            H6_TIPO="I",
            H6_MOTIVO=report.reason,
            H6_DTAPONT=report.report_date,
            H6_OPERADO=report.operator,
            H6_OBSERVA=report.observation,
            H6_IDENT=ident,
        )
        row = await queries.one_stop(conn, dictionary, branch=branch, ident=ident)
        if row is None or row["r_e_c_n_o_"] != recno:  # written in this very transaction
            raise RuntimeError(f"stop report {ident} (R_E_C_N_O_ {recno}) not read back")
    return row


def _stored_br(row: asyncpg.Record, edge: str) -> str:
    day, time = row[f"h6_data{edge}"].strip(), row[f"h6_hora{edge}"].strip()
    return f"{day[6:8]}/{day[4:6]}/{day[:4]} {time}"


def _iso_moment(day: str, time: str) -> str:
    day, time = day.strip(), time.strip()
    if len(day) != 8:
        return ""
    return f"{day[:4]}-{day[4:6]}-{day[6:]}T{time or '00:00'}:00"


def stop_item(row: asyncpg.Record) -> dict[str, Any]:
    """A stored stop report as MATA682API shows it (the POST's answer and every GET)."""
    return {
        "BranchId": row["h6_filial"].strip(),
        "IntegrationReport": row["h6_ident"].strip(),
        "MachineCode": row["h6_recurso"].strip(),
        "StopReasonCode": row["h6_motivo"].strip(),
        "StartDateTime": _iso_moment(row["h6_dataini"], row["h6_horaini"]),
        "EndDateTime": _iso_moment(row["h6_datafin"], row["h6_horafin"]),
        "ToolCode": row["h6_ferram"].strip(),
        "OperatorCode": row["h6_operado"].strip(),
        "ReportDateTime": _iso_moment(row["h6_dtapont"], ""),
        "Observation": row["h6_observa"].rstrip(),
        "StopTime": row["h6_tempo"],
    }


def system_date(request: web.Request) -> datetime.date:
    """dDataBase, the routine's system date: today in the plant's zone."""
    return datetime.datetime.now(get_config(request.app).tz).date()


async def post_stop_report(request: web.Request) -> web.StreamResponse:
    """POST /rest/api/pcp/v1/stopReports: 201 with the created record (IntegrationReport =
    H6_IDENT)."""
    raw = await request.read()  # read whole, so a dropped connection is a clean close
    faults = get_faults(request.app)
    if faults.drop_before():
        log.info("dropping a stop report request before processing it (drop_before_rate)")
        return close_without_answer(request)
    branch = request_branch(request)
    dictionary = get_dictionary(request.app)
    report = parse_stop_report(raw, dictionary, today=system_date(request))
    async with get_pool(request.app).acquire() as conn:
        row = await record_stop(
            conn,
            dictionary,
            branch=branch,
            report=report,
            time_format=get_config(request.app).time_format,
        )
    faults.counters["stop_reports"] += 1
    ident = row["h6_ident"].strip()
    log.info("stop report %s written: branch %s machine %s", ident, branch, report.machine)
    if faults.drop_after():
        # The lost response: the row is committed, the client never hears of it.
        log.info("dropping the answer of committed stop report %s (drop_after_rate)", ident)
        return close_without_answer(request)
    return json_response(stop_item(row), status=201)


async def list_stop_reports(request: web.Request) -> web.Response:
    """GET .../stopReports?page=&pageSize=&branchId=&MachineCode=: live stop reports
    (H6_TIPO 'I') of the branch, one page in the TOTVS API envelope."""
    page = page_parameter(request, "page", 1, 10**9)
    page_size = page_parameter(request, "pageSize", 20, MAX_PAGE_SIZE)
    branch = request.query.get("branchId", "").strip() or request_branch(request)
    if not BRANCH_PATTERN.match(branch):
        raise RestFault(400, f"Filial {branch!r} inválida.", "QUERYPARAM: branchId")
    machine = request.query.get("MachineCode", "").strip() or None
    async with get_pool(request.app).acquire() as conn:
        # One row more than asked tells whether another page exists.
        rows = await queries.list_stops(
            conn,
            get_dictionary(request.app),
            branch=branch,
            machine=machine,
            limit=page_size + 1,
            offset=(page - 1) * page_size,
        )
    return json_response(
        {
            "items": [stop_item(row) for row in rows[:page_size]],
            "hasNext": len(rows) > page_size,
            "page": page,
            "pageSize": page_size,
        }
    )


def _not_found(ident: str, branch: str) -> RestFault:
    return RestFault(
        404,
        f"Apontamento de parada {ident} não encontrado.",
        f"A682NAOEXIST: apontamento {ident} inexistente na filial {branch} (SH6, H6_TIPO I)",
    )


async def get_stop_report(request: web.Request) -> web.Response:
    """GET .../stopReports/{IntegrationReport}: one live stop report of the branch, else 404."""
    ident = request.match_info["IntegrationReport"].strip()
    branch = request_branch(request)
    async with get_pool(request.app).acquire() as conn:
        row = await queries.one_stop(conn, get_dictionary(request.app), branch=branch, ident=ident)
    if row is None:
        raise _not_found(ident, branch)
    return json_response(stop_item(row))


async def reverse_stop_report(request: web.Request) -> web.StreamResponse:
    """DELETE .../stopReports/{IntegrationReport}/reversal: the row deleted the Protheus way
    (D_E_L_E_T_ '*'); 200 with the record as it was, 404 when no live one has that id."""
    ident = request.match_info["IntegrationReport"].strip()
    faults = get_faults(request.app)
    if faults.drop_before():
        log.info("dropping a stop reversal request before processing it (drop_before_rate)")
        return close_without_answer(request)
    branch = request_branch(request)
    dictionary = get_dictionary(request.app)
    async with get_pool(request.app).acquire() as conn, conn.transaction():
        row = await queries.one_stop(conn, dictionary, branch=branch, ident=ident, lock=True)
        if row is None:
            raise _not_found(ident, branch)
        await queries.delete_stop(conn, dictionary, recno=row["r_e_c_n_o_"])
    faults.counters["stop_reversals"] += 1
    log.info("stop report %s reversed: branch %s", ident, branch)
    if faults.drop_after():
        log.info("dropping the answer of committed stop reversal %s (drop_after_rate)", ident)
        return close_without_answer(request)
    return json_response(stop_item(row))

"""What each telemetry query route does: check its limits, run its statement(s), shape the answer."""

from __future__ import annotations

import datetime as dt
import math
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from services.telemetry.query import oee, queries
from services.telemetry.query.schemas import (
    MAX_BUCKETS,
    MAX_OEE_DAYS,
    MAX_PAYLOAD_BYTES,
    MAX_POINTS,
    MAX_RAW_HOURS,
    MAX_STATE_INTERVALS,
    split_line,
)
from services.telemetry.query.shifts import ShiftCalendar
from shared.db.dialect import POSTGRESQL, render
from shared.db.pools import mes_connection
from shared.db.sources import ProtheusSource, Row
from shared.errors import DependencyUnavailable, NotFound, invalid_parameter
from shared.pagination import Page, split_page
from shared.protheus.branches import BranchResolver
from shared.protheus.naming import Tables
from shared.settings import Settings

BUCKET_SECONDS = {"1m": 60, "15m": 900, "1h": 3600, "1d": 86400}
# NUM (6) + ITEM (2) + SEQUEN (3), plus ITEMGRD (3) for grid orders.
ORDER_KEY = re.compile(r"^[0-9A-Za-z]{11}(?:[0-9A-Za-z]{3})?$")


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class TelemetryQueries:
    """The query routes' view of the MES (telemetry tables), Protheus (SH1, routings) and settings."""

    mes_pool: asyncpg.Pool
    source: ProtheusSource
    branches: BranchResolver
    settings: Settings
    calendar: ShiftCalendar
    clock: Callable[[], dt.datetime] = field(default=utc_now)

    # --- plumbing ----------------------------------------------------------------------------

    async def mes(self, sql: str, params: Mapping[str, Any]) -> list[asyncpg.Record]:
        """Run one MES statement written with named parameters."""
        text, args = render(sql, params, style="dollar", dialect=POSTGRESQL)
        async with mes_connection(self.mes_pool) as conn:
            return await conn.fetch(text, *args)

    def instant(self, value: dt.datetime | None) -> str | None:
        """An instant as the API shows it: ISO-8601 in the plant's zone, with its offset."""
        return value.astimezone(self.settings.tz).isoformat() if value is not None else None

    async def filial(self, alias: str) -> str:
        return await self.branches.filial(alias, self.settings.protheus_branch)

    async def require_known(self, machine: str, *, in_mes: bool) -> None:
        """404 unless the machine has sent data (MES) or is a live SH1 resource (Protheus)."""
        if in_mes:
            return
        try:
            sql = queries.sh1_machines(
                self.source.dialect, Tables(self.settings.protheus_company), one=True
            )
            rows = await self.source.fetch(
                sql, {"sh1_filial": await self.filial("SH1"), "machine": machine}
            )
        except DependencyUnavailable as exc:
            raise DependencyUnavailable(
                f"A máquina {machine} nunca enviou dados ao MES e o banco do Protheus está "
                "indisponível para confirmar se ela existe no SH1; tente novamente em instantes."
            ) from exc
        if not rows:
            raise NotFound(
                f"Máquina {machine} desconhecida: não está no cadastro de recursos do Protheus "
                "(SH1) nem enviou dados por MQTT. Consulte /api/v1/machines para os códigos válidos."
            )


def check_bucket_count(start: dt.datetime, end: dt.datetime, bucket: str) -> None:
    """400 when the window holds more than MAX_BUCKETS buckets of this size."""
    buckets = math.ceil((end - start).total_seconds() / BUCKET_SECONDS[bucket])
    if bucket == "1d":
        buckets += 1  # a window between two plant midnights touches one more day
    if buckets > MAX_BUCKETS:
        raise invalid_parameter(
            "bucket",
            "limit",
            f"a janela tem {buckets} baldes de {bucket} (máximo {MAX_BUCKETS}); use um balde "
            "maior ou uma janela menor.",
        )


# --- machines ------------------------------------------------------------------------------------


async def erp_machines(tq: TelemetryQueries) -> tuple[list[Row], str | None]:
    """Live SH1 resources, or none and a note when the Protheus database is unreachable."""
    try:
        sql = queries.sh1_machines(
            tq.source.dialect, Tables(tq.settings.protheus_company), one=False
        )
        return await tq.source.fetch(sql, {"sh1_filial": await tq.filial("SH1")}), None
    except DependencyUnavailable:
        return [], (
            "Protheus indisponível: a lista traz só as máquinas que já enviaram dados ao MES, "
            "sem as do cadastro SH1."
        )


def metric_values(
    tq: TelemetryQueries,
    names: Sequence[str] | None,
    values: Sequence[float] | None,
    times: Sequence[dt.datetime] | None,
) -> list[dict[str, Any]]:
    return [
        {"metric": name, "value": value, "ts": tq.instant(ts)}
        for name, value, ts in zip(names or (), values or (), times or (), strict=True)
    ]


async def list_machines(
    tq: TelemetryQueries, params: dict[str, Any]
) -> tuple[dict[str, Any], Page, str | None]:
    """Every known machine (SH1 and MES, one statement each), paged in the MES statement."""
    page = Page.from_params(params)
    erp, note = await erp_machines(tq)
    line, state, with_values = params["line"], params["state"], params["values"]
    args: dict[str, Any] = {
        "erp_codes": [row["machine"] for row in erp],
        "erp_descriptions": [row["description"] for row in erp],
        "limit": page.size,
        "offset": page.offset,
        "state": state,
    }
    if line is not None:
        args["site"], args["area"], args["line"] = split_line(line)
    sql = queries.list_machines(
        by_line=line is not None, by_state=state is not None, with_values=with_values
    )
    found = split_page(await tq.mes(sql, args), "machine")
    total = found.total
    items = []
    for row in found.rows:
        item: dict[str, Any] = {
            "machine": row["machine"],
            "site": row["site"],
            "area": row["area"],
            "line": row["line"],
            "description": row["description"],
            "inProtheus": row["in_erp"],
            "lastSeen": tq.instant(row["last_seen"]),
            "state": row["state"],
            "stateReason": row["state_reason"],
            "stateSince": tq.instant(row["state_since"]),
        }
        if with_values:
            item["metrics"] = metric_values(
                tq, row["metric_names"], row["metric_values"], row["metric_times"]
            )
        items.append(item)
    filters = {"line": line, "state": state, "values": with_values}
    return page.envelope(total, items, filters=filters), page, note


async def latest(tq: TelemetryQueries, machine: str) -> dict[str, Any]:
    rows = await tq.mes(queries.LATEST, {"machine": machine})
    head = rows[0]
    metrics = [
        {"metric": row["metric"], "value": row["value"], "ts": tq.instant(row["ts"])}
        for row in rows
        if row["metric"] is not None
    ]
    await tq.require_known(
        machine, in_mes=head["registered"] or bool(metrics) or head["state"] is not None
    )
    return {
        "machine": machine,
        "site": head["site"],
        "area": head["area"],
        "line": head["line"],
        "lastSeen": tq.instant(head["last_seen"]),
        "state": head["state"],
        "stateReason": head["state_reason"],
        "stateSince": tq.instant(head["state_since"]),
        "metrics": metrics,
    }


# --- series, states, counters ---------------------------------------------------------------------


async def series(tq: TelemetryQueries, machine: str, params: dict[str, Any]) -> dict[str, Any]:
    start, end, metric, bucket = params["from_"], params["to"], params["metric"], params["bucket"]
    window = {"machine": machine, "metric": metric, "from": start, "to": end}
    points: list[dict[str, Any]]
    if bucket is None:
        if end - start > dt.timedelta(hours=MAX_RAW_HOURS):
            raise invalid_parameter(
                "to",
                "range",
                f"sem bucket a janela pode ter no máximo {MAX_RAW_HOURS} h de pontos brutos; "
                "informe bucket (1m, 15m, 1h, 1d) ou encurte a janela.",
            )
        rows = await tq.mes(queries.RAW_SERIES, {**window, "max_points": MAX_POINTS})
        counted = int(rows[0]["points"])
        if counted > MAX_POINTS:
            raise invalid_parameter(
                "to",
                "limit",
                f"a janela tem {counted} pontos brutos (máximo {MAX_POINTS}); informe bucket "
                "(1m, 15m, 1h, 1d) ou encurte a janela.",
            )
        points = [
            {"ts": tq.instant(row["ts"]), "value": row["value"]}
            for row in rows
            if row["ts"] is not None
        ]
        aggregates: tuple[str, ...] = ()
    else:
        check_bucket_count(start, end, bucket)
        aggregates = params["agg"] or ("avg",)
        rows = await tq.mes(
            queries.bucketed_series(bucket, aggregates),
            {**window, "tz": tq.settings.plant_timezone},
        )
        points = [
            {
                "bucket": tq.instant(row["bucket"]),
                **{name: int(row[name]) if name == "count" else row[name] for name in aggregates},
            }
            for row in rows
            if row["bucket"] is not None
        ]
    await tq.require_known(machine, in_mes=rows[0]["registered"] or bool(points))
    return {
        "machine": machine,
        "metric": metric,
        "bucket": bucket,
        "agg": list(aggregates),
        "from": tq.instant(start),
        "to": tq.instant(end),
        "points": points,
    }


def effective_end(tq: TelemetryQueries, start: dt.datetime, end: dt.datetime) -> dt.datetime:
    """The window's end, never past now: what happens after now is not known yet."""
    return max(min(end, tq.clock()), start)


async def states(tq: TelemetryQueries, machine: str, params: dict[str, Any]) -> dict[str, Any]:
    start = params["from_"]
    end = effective_end(tq, start, params["to"])
    rows = await tq.mes(
        queries.STATES,
        {"machine": machine, "from": start, "end": end, "max_intervals": MAX_STATE_INTERVALS},
    )
    intervals = [
        {
            "state": row["state"],
            "reason": row["reason"],
            "start": tq.instant(row["span_start"]),
            "end": tq.instant(row["span_end"]),
        }
        for row in rows
        if row["state"] is not None
    ]
    if len(intervals) > MAX_STATE_INTERVALS:
        raise invalid_parameter(
            "to",
            "limit",
            f"a janela tem mais de {MAX_STATE_INTERVALS} intervalos de estado; encurte a janela.",
        )
    await tq.require_known(machine, in_mes=rows[0]["registered"] or bool(intervals))
    return {
        "machine": machine,
        "from": tq.instant(start),
        "to": tq.instant(end),
        "intervals": intervals,
    }


async def counters(tq: TelemetryQueries, machine: str, params: dict[str, Any]) -> dict[str, Any]:
    start, end, bucket = params["from_"], params["to"], params["bucket"]
    check_bucket_count(start, end, bucket)
    rows = await tq.mes(
        queries.counters(bucket),
        {"machine": machine, "from": start, "to": end, "tz": tq.settings.plant_timezone},
    )
    buckets = [
        {"bucket": tq.instant(row["bucket"]), "good": int(row["good"]), "scrap": int(row["scrap"])}
        for row in rows
        if row["bucket"] is not None
    ]
    await tq.require_known(machine, in_mes=rows[0]["registered"] or bool(buckets))
    return {
        "machine": machine,
        "bucket": bucket,
        "from": tq.instant(start),
        "to": tq.instant(end),
        "buckets": buckets,
    }


async def dead_letters(tq: TelemetryQueries, params: dict[str, Any]) -> tuple[dict[str, Any], Page]:
    page = Page.from_params(params)
    found = split_page(
        await tq.mes(
            queries.DEAD_LETTERS,
            {"limit": page.size, "offset": page.offset, "max_payload": MAX_PAYLOAD_BYTES},
        ),
        "id",
    )
    total = found.total
    items = [
        {
            "id": row["id"],
            "receivedAt": tq.instant(row["received_at"]),
            "topic": row["topic"],
            # Bytes that are not UTF-8 are what got the message here: show them, replaced.
            "payload": bytes(row["payload"]).decode("utf-8", errors="replace"),
            "payloadSize": row["payload_size"],
            "reason": row["reason"],
        }
        for row in found.rows
    ]
    return page.envelope(total, items, filters={}), page


# --- OEE ------------------------------------------------------------------------------------------
#
# Which order and operation a count belongs to, and its ideal time:
# - A counter message naming `order` belongs to that order. Its operation is the SH6
#   appointment's H6_OPERAC when the appointment that owns the message's time on that machine
#   (below) is of the same order; else the first SG2 operation of the order's routing on the
#   machine.
# - A counter message without `order` belongs to the order the machine was working on at the
#   message's time: the live SH6 production appointment on that machine whose [start, end)
#   covers it, else the last one that started before it inside the window
#   (oee.attribution_segments); whether that order is open now does not matter. The
#   operation is that appointment's H6_OPERAC.
# - Ideal time follows G2_TPOPER: `1`, blank and `4` per unit (G2_TEMPAD / G2_LOTEPAD, LOTEPAD
#   0 = 1, divided by H1_MAOOBRA when not 0) times the units counted (good + scrap); `2` and
#   `3` G2_TEMPAD once per run, a run being one (machine, order, operation) with counted
#   units inside the window, however many appointments and counter messages it spans (the
#   standard is for the whole operation). G2_TEMPAD 0 is unknown: performance and OEE null.

IDEAL_ALIASES = ("SC2", "SB1", "SG2", "SH6", "SH1")
PROTHEUS_DOWN = "Protheus indisponível"


@dataclass(frozen=True)
class Standard:
    """One routing operation's standard (SG2) on a machine, with the machine's crew (SH1)."""

    operation: str
    routing: str
    tempad: float
    lotepad: float
    tpoper: str
    crew: float

    @property
    def per_run(self) -> bool:
        return oee.is_per_run(self.tpoper)


@dataclass(frozen=True)
class Appointed:
    """One SH6 production appointment as OEE uses it."""

    ident: int
    machine: str
    order: str
    operation: str
    start: dt.datetime
    end: dt.datetime
    order_found: bool
    routing: str | None
    standard: Standard | None


@dataclass
class Routings:
    """The Protheus answer of `queries.ideal_times`, parsed."""

    appointments: dict[int, Appointed] = field(default_factory=dict)
    # order key -> its routing and SG2 operations on the machines counted
    orders: dict[str, list[Row]] = field(default_factory=lambda: defaultdict(list))

    def on(self, machine: str) -> list[oee.Appointment]:
        """The appointments on one machine, as intervals."""
        return [
            oee.Appointment(a.ident, a.start, a.end)
            for a in self.appointments.values()
            if a.machine == machine
        ]


@dataclass
class OrderRun:
    """Counts of one (machine, order, operation) in the window and how they were attributed."""

    machine: str
    order: str | None
    operation: str | None
    source: str
    standard: Standard | None = None
    issue: str | None = None
    good: int = 0
    scrap: int = 0

    def unit_seconds(self, time_format: str) -> float | None:
        if self.standard is None or self.standard.per_run:
            return None
        s = self.standard
        return oee.ideal_unit_seconds(s.tempad, s.lotepad, time_format, s.crew)

    def ideal(self, time_format: str) -> float | None:
        """Ideal seconds of these counts; None when unknown (no standard, or G2_TEMPAD 0)."""
        if self.issue is not None or self.standard is None:
            return None
        if self.standard.per_run:
            return oee.ideal_run_seconds(self.standard.tempad, time_format)
        unit = self.unit_seconds(time_format)
        return None if unit is None else unit * (self.good + self.scrap)


CountKey = tuple[str, str | None]  # (machine, the counter's order key or None)
Piece = tuple[str, str | None, int | None, int, int]  # machine, order key, appointment, good, scrap


def protheus_instant(
    day: str | None, hour: str | None, tz: dt.tzinfo, *, end: bool
) -> dt.datetime | None:
    """A Protheus date (YYYYMMDD) and time (HH:MM, plant-local) as an instant in UTC; a blank
    time is the day's start (`end` False) or its end (`end` True); None when unreadable."""
    day, hour = (day or "").strip(), (hour or "").strip()
    try:
        date = dt.datetime.strptime(day, "%Y%m%d").replace(tzinfo=tz)
        if not hour:
            hours, minutes = (24, 0) if end else (0, 0)
        else:
            hours, minutes = (int(part) for part in hour.split(":")[:2])
        if not (0 <= hours <= 24 and 0 <= minutes < 60) or (hours == 24 and minutes):
            return None
    except ValueError:
        return None
    # Arithmetic on an aware datetime is wall-clock; the offset is the zone's at the result.
    local = date + dt.timedelta(hours=hours, minutes=minutes)
    return local.astimezone(dt.UTC)


def _standard(row: Row) -> Standard | None:
    if row["g2_operac"] is None:
        return None
    return Standard(
        operation=row["g2_operac"],
        routing=row["routing"],
        tempad=float(row["g2_tempad"] or 0.0),
        lotepad=float(row["g2_lotepad"] or 0.0),
        tpoper=(row["g2_tpoper"] or "").strip(),
        crew=float(row["h1_maoobra"] or 0.0),
    )


def parse_routings(rows: Sequence[Row], tz: dt.tzinfo) -> Routings:
    """Group `queries.ideal_times` rows: appointments with readable times, and named orders."""
    routings = Routings()
    for row in rows:
        if row["source"] == "counter":
            routings.orders[row["order_key"]].append(row)
            continue
        ident = int(row["appointment"])
        if ident in routings.appointments:
            continue  # a duplicated SG2 operation: the first one
        stop = protheus_instant(row["end_day"], row["end_hour"], tz, end=True)
        if stop is None:
            continue
        begin = protheus_instant(row["start_day"], row["start_hour"], tz, end=False)
        routings.appointments[ident] = Appointed(
            ident=ident,
            machine=row["machine"],
            order=row["order_key"],
            operation=row["operation"],
            start=begin if begin is not None else stop,
            end=stop,
            order_found=bool(row["order_found"]),
            routing=row["routing"],
            standard=_standard(row),
        )
    return routings


def attribute(routings: Routings, piece: Piece) -> OrderRun:
    """The order, operation and standard of one piece of counts (see the section comment)."""
    machine, order, ident, _, _ = piece
    appointed = routings.appointments.get(ident) if ident is not None else None
    if order is None:
        if appointed is None:
            return OrderRun(
                machine,
                None,
                None,
                "appointment",
                issue=(
                    "nenhum apontamento de produção (SH6) nesta máquina cobre o horário do "
                    "contador nem começou antes dele na janela; envie `order` nas mensagens "
                    "de contador"
                ),
            )
        return _from_appointment(appointed, "appointment")
    if not ORDER_KEY.match(order):
        return OrderRun(
            machine, order, None, "counter", issue=f"chave de ordem inválida {order!r} no contador"
        )
    if appointed is not None and appointed.order == order:
        return _from_appointment(appointed, "counter")
    candidates = routings.orders.get(order, [])
    if not candidates:
        return OrderRun(
            machine, order, None, "counter", issue=f"ordem {order} não encontrada no SC2"
        )
    ops = [r for r in candidates if r["g2_operac"] is not None and r["g2_recurso"] == machine]
    if not ops:
        return OrderRun(
            machine,
            order,
            None,
            "counter",
            issue=(
                f"o roteiro {candidates[0]['routing']} da ordem {order} não tem operação "
                f"na máquina {machine} (SG2)"
            ),
        )
    standard = _standard(min(ops, key=lambda r: r["g2_operac"]))
    assert standard is not None
    return OrderRun(machine, order, standard.operation, "counter", standard)


def _from_appointment(appointed: Appointed, source: str) -> OrderRun:
    machine, order, operation = appointed.machine, appointed.order, appointed.operation
    if not appointed.order_found:
        return OrderRun(
            machine,
            order,
            operation,
            source,
            issue=f"ordem {order} do apontamento SH6 não encontrada no SC2",
        )
    if appointed.standard is None:
        return OrderRun(
            machine,
            order,
            operation,
            source,
            issue=(
                f"o roteiro {appointed.routing} da ordem {order} não tem a operação "
                f"{operation} do apontamento SH6 (SG2)"
            ),
        )
    return OrderRun(machine, order, operation, source, appointed.standard)


def order_runs(routings: Routings, pieces: Iterable[Piece], time_format: str) -> list[OrderRun]:
    """Pieces of counts summed per (machine, order, operation): one run each; `source` is
    `counter` when some of its counts named the order. A standard whose G2_TEMPAD is 0 is an
    issue (unknown ideal time), never an ideal time of 0."""
    runs: dict[tuple[str, str | None, str | None], OrderRun] = {}
    for piece in pieces:
        if piece[3] + piece[4] <= 0:
            continue
        found = attribute(routings, piece)
        key = (found.machine, found.order, found.operation)
        run = runs.setdefault(key, found)
        if found.source == "counter":
            run.source = "counter"
        run.good += piece[3]
        run.scrap += piece[4]
    for run in runs.values():
        s = run.standard
        if run.issue is None and s is not None and run.ideal(time_format) is None:
            run.issue = (
                f"G2_TEMPAD zerado na operação {s.operation} do roteiro {s.routing} da ordem "
                f"{run.order}: sem tempo padrão registrado"
            )
    return sorted(runs.values(), key=lambda r: (r.machine, r.order or "", r.operation or ""))


async def attribute_counts(
    tq: TelemetryQueries,
    counted: Mapping[CountKey, tuple[int, int]],
    start: dt.datetime,
    end: dt.datetime,
    planned: Sequence[tuple[dt.datetime, dt.datetime]],
) -> tuple[list[OrderRun], str | None]:
    """The runs of the counts in the window with their standards: one Protheus statement, and
    a second MES one (counts split by appointment) only when some machine counted has SH6
    appointments in the window. When Protheus is unreachable every ideal time is unknown
    and a note says why."""
    if not counted:
        return [], None
    machines = sorted({machine for machine, _ in counted})
    numbers = sorted({order[:6] for _, order in counted if order and ORDER_KEY.match(order)})
    tz = tq.settings.tz
    args: dict[str, Any] = {
        "first_day": start.astimezone(tz).strftime("%Y%m%d"),
        "last_day": end.astimezone(tz).strftime("%Y%m%d"),
    }
    args.update({f"num_{n}": value for n, value in enumerate(numbers)})
    args.update({f"machine_{n}": value for n, value in enumerate(machines)})
    time_format = tq.settings.protheus_time_format
    try:
        for alias in IDEAL_ALIASES:
            args[f"{alias.lower()}_filial"] = await tq.filial(alias)
        sql = queries.ideal_times(
            tq.source.dialect, Tables(tq.settings.protheus_company), len(numbers), len(machines)
        )
        rows = await tq.source.fetch(sql, args)
    except DependencyUnavailable:
        down = [
            OrderRun(
                m, o, None, "counter" if o else "appointment", issue=PROTHEUS_DOWN, good=g, scrap=s
            )
            for (m, o), (g, s) in counted.items()
        ]
        down.sort(key=lambda r: (r.machine, r.order or ""))
        return down, (
            "Performance e OEE nulos: o banco do Protheus está indisponível para ler os tempos "
            "padrão (SG2) das ordens; disponibilidade e qualidade não dependem dele."
        )
    routings = parse_routings(rows, tz)
    seg_machines: list[str] = []
    seg_starts: list[dt.datetime] = []
    seg_ends: list[dt.datetime] = []
    seg_ids: list[int] = []
    for machine in machines:
        for low, high, ident in oee.attribution_segments(start, end, routings.on(machine)):
            seg_machines.append(machine)
            seg_starts.append(low)
            seg_ends.append(high)
            seg_ids.append(ident)
    pieces: list[Piece]
    if seg_ids:
        split = await tq.mes(
            queries.SPLIT_COUNTS,
            {
                "seg_machines": seg_machines,
                "seg_starts": seg_starts,
                "seg_ends": seg_ends,
                "seg_ids": seg_ids,
                "machines": machines,
                "from": start,
                "end": end,
                "planned_starts": [s for s, _ in planned],
                "planned_ends": [e for _, e in planned],
            },
        )
        pieces = [
            (r["machine"], r["order_key"], r["seg_id"], int(r["good"]), int(r["scrap"]))
            for r in split
        ]
    else:
        pieces = [(m, o, None, g, s) for (m, o), (g, s) in counted.items()]
    runs = order_runs(routings, pieces, time_format)
    issues = sorted({f"máquina {run.machine}: {run.issue}" for run in runs if run.issue})
    note = None
    if issues:
        note = (
            "Performance e OEE nulos: sem tempo padrão para parte da contagem ("
            + "; ".join(issues)
            + ")."
        )
    return runs, note


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def oee_figures(totals: oee.OeeTotals) -> dict[str, Any]:
    ratios = {name: _round(value, 6) for name, value in oee.figures(totals).items()}
    return {
        **ratios,
        "plannedTime": round(totals.planned, 3),
        "runningTime": round(totals.running, 3),
        "goodCount": totals.good,
        "scrapCount": totals.scrap,
    }


async def overall_equipment_effectiveness(
    tq: TelemetryQueries, params: dict[str, Any]
) -> tuple[dict[str, Any], list[str]]:
    """OEE of a machine or a line over a window: one MES statement, at most one Protheus one,
    and a second MES one only to split counts by SH6 appointment (attribute_counts)."""
    start, requested_end = params["from_"], params["to"]
    if requested_end - start > dt.timedelta(days=MAX_OEE_DAYS):
        raise invalid_parameter(
            "to", "range", f"a janela do OEE pode ter no máximo {MAX_OEE_DAYS} dias."
        )
    end = effective_end(tq, start, requested_end)
    planned = tq.calendar.planned(start, end)
    machine, line = params["machine"], params["line"]
    site = area = line_name = None
    if line is not None:
        site, area, line_name = split_line(line)
    rows = await tq.mes(
        queries.OEE_FACTS,
        {
            "machine": machine,
            "site": site,
            "area": area,
            "line": line_name,
            "from": start,
            "end": end,
            "planned_starts": [s for s, _ in planned],
            "planned_ends": [e for _, e in planned],
        },
    )
    registered: dict[str, bool] = {}
    state_seconds: dict[str, list[tuple[str, str | None, float]]] = defaultdict(list)
    counts: dict[CountKey, tuple[int, int]] = {}
    for row in rows:
        if row["kind"] == "machine":
            registered[row["machine"]] = row["registered"]
        elif row["kind"] == "state":
            state_seconds[row["machine"]].append((row["state"], row["reason"], row["seconds"]))
        else:
            counts[(row["machine"], row["order_key"])] = (row["good"], row["scrap"])
    if machine is not None:
        has_data = (
            registered.get(machine, False)
            or machine in state_seconds
            or any(m == machine for m, _ in counts)
        )
        await tq.require_known(machine, in_mes=has_data)
    elif not registered:
        raise NotFound(
            f"Linha {line} desconhecida: nenhuma máquina enviou dados com site/area/line = "
            f"{site}/{area}/{line_name}. Consulte /api/v1/machines para as linhas existentes."
        )
    targets = sorted(registered)
    counted = {key: value for key, value in counts.items() if value[0] + value[1] > 0}
    runs, note = await attribute_counts(tq, counted, start, end, planned)

    time_format = tq.settings.protheus_time_format
    planned_seconds = sum((e - s).total_seconds() for s, e in planned)
    per_machine: dict[str, oee.OeeTotals] = {}
    for target in targets:
        good = sum(g for (m, _), (g, _s) in counts.items() if m == target)
        scrap = sum(s for (m, _), (_g, s) in counts.items() if m == target)
        ideal: float | None = 0.0
        for run in runs:
            if run.machine != target:
                continue
            seconds = run.ideal(time_format)
            ideal = None if seconds is None or ideal is None else ideal + seconds
        per_machine[target] = oee.machine_totals(
            planned_seconds, state_seconds.get(target, []), good, scrap, ideal
        )
    totals = oee.sum_totals(per_machine.values())
    data: dict[str, Any] = {
        "machine": machine,
        "line": line,
        "machines": targets,
        "from": tq.instant(start),
        "to": tq.instant(end),
        **oee_figures(totals),
        "idealTime": _round(totals.ideal, 3),
        "losses": oee.losses_list(totals),
        "orders": [
            {
                "machine": run.machine,
                "order": run.order,
                "source": run.source,
                "operation": run.operation,
                "operationType": run.standard.tpoper if run.standard else None,
                "crew": run.standard.crew if run.standard else None,
                "idealCycleTime": _round(run.unit_seconds(time_format), 6),
                "idealTime": _round(run.ideal(time_format), 3),
                "goodCount": run.good,
                "scrapCount": run.scrap,
                "issue": run.issue,
            }
            for run in runs
        ],
    }
    if line is not None:
        data["byMachine"] = [
            {"machine": target, **oee_figures(per_machine[target])} for target in targets
        ]
    notes = [note] if note else []
    if not planned:
        notes.append("Não há tempo planejado na janela (SHIFT_CALENDAR ou janela no futuro).")
    data["notes"] = notes
    return data, notes

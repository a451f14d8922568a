"""What each telemetry query route does: check its limits, run its statement(s), shape the answer."""

from __future__ import annotations

import datetime as dt
import math
import re
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
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
from shared.db import POSTGRESQL, BranchResolver, ProtheusSource, Row, mes_connection, render
from shared.errors import DependencyUnavailable, NotFound, invalid_parameter
from shared.pagination import Page
from shared.settings import Settings

BUCKET_SECONDS = {"1m": 60, "15m": 900, "1h": 3600, "1d": 86400}
# NUM (6) + ITEM (2) + SEQUEN (3), plus ITEMGRD (3) for grid orders.
ORDER_KEY = re.compile(r"^[0-9A-Za-z]{11}(?:[0-9A-Za-z]{3})?$")
IDEAL_ALIASES = ("SC2", "SB1", "SG2", "SH6")


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
                self.source.dialect, self.settings.protheus_company, one=True
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
        sql = queries.sh1_machines(tq.source.dialect, tq.settings.protheus_company, one=False)
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
    rows = await tq.mes(sql, args)
    total = int(rows[0]["total"]) if rows else 0
    items = []
    for row in rows:
        if row["machine"] is None:
            continue  # the header row rides alone when the page is empty
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
    rows = await tq.mes(
        queries.DEAD_LETTERS,
        {"limit": page.size, "offset": page.offset, "max_payload": MAX_PAYLOAD_BYTES},
    )
    total = int(rows[0]["total"]) if rows else 0
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
        for row in rows
        if row["id"] is not None
    ]
    return page.envelope(total, items, filters={}), page


# --- OEE ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OrderIdeal:
    """The ideal time resolved for one machine's counts of one order (or of no named order)."""

    order: str | None
    source: str
    operation: str | None = None
    unit_seconds: float | None = None
    issue: str | None = None


CountKey = tuple[str, str | None]  # (machine, the counter's order key or None)


def resolve_ideal_times(
    rows: Sequence[Row], wanted: Sequence[CountKey], time_format: str
) -> dict[CountKey, OrderIdeal]:
    """Match the Protheus rows of `queries.ideal_times` to each (machine, order) counted."""
    by_order: dict[str, list[Row]] = defaultdict(list)
    by_machine: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        if row["source"] == "counter":
            by_order[row["order_key"]].append(row)
        else:
            by_machine[row["inferred_for"]].append(row)

    def operation_on(candidates: list[Row], machine: str, preferred: str | None) -> Row | None:
        ops = [r for r in candidates if r["g2_operac"] is not None and r["g2_recurso"] == machine]
        if not ops:
            return None
        chosen = [r for r in ops if preferred and r["g2_operac"] == preferred]
        return min(chosen or ops, key=lambda r: r["g2_operac"])

    resolved: dict[CountKey, OrderIdeal] = {}
    for machine, order in wanted:
        if order is not None:
            source = "counter"
            candidates = by_order.get(order, [])
            preferred = None
            if not ORDER_KEY.match(order):
                resolved[(machine, order)] = OrderIdeal(
                    order, source, issue=f"chave de ordem inválida {order!r} no contador"
                )
                continue
            if not candidates:
                resolved[(machine, order)] = OrderIdeal(
                    order, source, issue=f"ordem {order} não encontrada no SC2"
                )
                continue
        else:
            source = "appointment"
            candidates = by_machine.get(machine, [])
            if not candidates:
                resolved[(machine, None)] = OrderIdeal(
                    None,
                    source,
                    issue=(
                        "nenhuma ordem iniciada tem seu último apontamento (SH6) nesta máquina; "
                        "envie `order` nas mensagens de contador"
                    ),
                )
                continue
            preferred = candidates[0]["appointment_operation"]
        key = candidates[0]["order_key"]
        chosen = operation_on(candidates, machine, preferred)
        if chosen is None:
            resolved[(machine, order)] = OrderIdeal(
                key,
                source,
                issue=(
                    f"o roteiro {candidates[0]['routing']} da ordem {key} não tem operação "
                    f"na máquina {machine} (SG2)"
                ),
            )
            continue
        resolved[(machine, order)] = OrderIdeal(
            key,
            source,
            operation=chosen["g2_operac"],
            unit_seconds=oee.ideal_unit_seconds(
                chosen["g2_tempad"], chosen["g2_lotepad"], time_format
            ),
        )
    return resolved


async def ideal_times(
    tq: TelemetryQueries, wanted: Sequence[CountKey]
) -> tuple[dict[CountKey, OrderIdeal], str | None]:
    """Ideal seconds per unit for each counted (machine, order), in one Protheus statement;
    when Protheus is unreachable every one is unknown and a note says why."""
    if not wanted:
        return {}, None
    inferred = sorted({machine for machine, order in wanted if order is None})
    numbers = sorted({order[:6] for _, order in wanted if order and ORDER_KEY.match(order)})
    machines = sorted({machine for machine, _ in wanted})
    args: dict[str, Any] = {}
    args.update({f"inferred_{n}": value for n, value in enumerate(inferred)})
    args.update({f"num_{n}": value for n, value in enumerate(numbers)})
    args.update({f"machine_{n}": value for n, value in enumerate(machines)})
    try:
        for alias in IDEAL_ALIASES:
            args[f"{alias.lower()}_filial"] = await tq.filial(alias)
        sql = queries.ideal_times(
            tq.source.dialect,
            tq.settings.protheus_company,
            len(inferred),
            len(numbers),
            len(machines),
        )
        rows = await tq.source.fetch(sql, args)
    except DependencyUnavailable:
        issue = "Protheus indisponível"
        unknown = {
            key: OrderIdeal(key[1], "counter" if key[1] else "appointment", issue=issue)
            for key in wanted
        }
        return unknown, (
            "Performance e OEE nulos: o banco do Protheus está indisponível para ler os tempos "
            "padrão (SG2) das ordens; disponibilidade e qualidade não dependem dele."
        )
    resolved = resolve_ideal_times(rows, wanted, tq.settings.protheus_time_format)
    issues = sorted(
        {f"máquina {m}: {item.issue}" for (m, _), item in resolved.items() if item.issue}
    )
    note = None
    if issues:
        note = (
            "Performance e OEE nulos: sem tempo padrão para parte da contagem ("
            + "; ".join(issues)
            + ")."
        )
    return resolved, note


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
    """OEE of a machine or a line over a window: one MES statement, at most one Protheus one."""
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
    wanted = sorted(
        (key for key, (good, scrap) in counts.items() if good + scrap > 0),
        key=lambda key: (key[0], key[1] or ""),
    )
    resolved, note = await ideal_times(tq, wanted)

    planned_seconds = sum((e - s).total_seconds() for s, e in planned)
    per_machine: dict[str, oee.OeeTotals] = {}
    for target in targets:
        good = sum(g for (m, _), (g, _s) in counts.items() if m == target)
        scrap = sum(s for (m, _), (_g, s) in counts.items() if m == target)
        ideal: float | None = 0.0
        for key in wanted:
            if key[0] != target:
                continue
            unit = resolved[key].unit_seconds
            if unit is None or ideal is None:
                ideal = None
            else:
                ideal += unit * sum(counts[key])
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
                "machine": key[0],
                "order": resolved[key].order,
                "source": resolved[key].source,
                "operation": resolved[key].operation,
                "idealCycleTime": _round(resolved[key].unit_seconds, 6),
                "goodCount": counts[key][0],
                "scrapCount": counts[key][1],
                "issue": resolved[key].issue,
            }
            for key in wanted
        ],
    }
    if line is not None:
        data["byMachine"] = [
            {"machine": target, **oee_figures(per_machine[target])} for target in targets
        ]
    notes = [note] if note else []
    if not planned:
        notes.append("Não há tempo planejado na janela (SHIFT_CALENDAR ou janela no futuro).")
    return data, notes

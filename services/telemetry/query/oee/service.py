"""The OEE route's function: check the window, then collect facts, ideal times, aggregate, present."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from services.telemetry.query.oee.aggregate import OeeTotals, per_machine_totals, sum_totals
from services.telemetry.query.oee.facts import OeeFacts, collect_facts
from services.telemetry.query.oee.ideal import ideal_times
from services.telemetry.query.oee.present import answer_notes, oee_answer
from services.telemetry.query.oee.standards import OrderRun
from services.telemetry.query.queries import Interval
from services.telemetry.query.schemas import MAX_OEE_DAYS
from services.telemetry.query.service import effective_end, instant, require_known
from services.telemetry.query.shifts import ShiftCalendar
from shared.db.pools import mes_connection
from shared.errors import NotFound, invalid_parameter
from shared.lines import split_line
from shared.protheus.context import ProtheusContext


async def window_totals(
    pool: asyncpg.Pool,
    protheus: ProtheusContext,
    facts: OeeFacts,
    *,
    start: dt.datetime,
    end: dt.datetime,
    planned: Sequence[Interval],
    tz: ZoneInfo,
    time_format: str,
) -> tuple[list[OrderRun], str | None, dict[str, OeeTotals]]:
    """Each target's totals over [start, end) (end already effective) from its facts: the runs
    of its counts with their ideal times, the note when some ideal time is unknown, and the
    totals per machine. The route and the hourly rollup (services/analytics/rollups) both
    call it: one formula."""
    runs, note = await ideal_times(
        pool,
        protheus,
        facts.counted,
        start=start,
        end=end,
        planned=planned,
        tz=tz,
        time_format=time_format,
    )
    planned_seconds = sum((e - s).total_seconds() for s, e in planned)
    return runs, note, per_machine_totals(facts, runs, planned_seconds, time_format)


async def overall_equipment_effectiveness(
    pool: asyncpg.Pool,
    protheus: ProtheusContext,
    *,
    calendar: ShiftCalendar,
    tz: ZoneInfo,
    time_format: str,
    start: dt.datetime,
    end: dt.datetime,
    machine: str | None,
    line: str | None,
) -> tuple[dict[str, Any], list[str]]:
    """OEE of a machine or a line over [start, end): one MES statement, at most one Protheus
    one, and a second MES one only to split counts by SH6 appointment (ideal.ideal_times).
    Returns `data` and the notes the message repeats."""
    if end - start > dt.timedelta(days=MAX_OEE_DAYS):
        raise invalid_parameter(
            "to", "range", f"a janela do OEE pode ter no máximo {MAX_OEE_DAYS} dias."
        )
    end = effective_end(start, end)
    planned = calendar.planned(start, end)
    parts = split_line(line) if line is not None else None
    async with mes_connection(pool) as conn:
        facts = await collect_facts(
            conn, machine=machine, line=parts, start=start, end=end, planned=planned
        )
    if machine is not None:
        await require_known(protheus, machine, in_mes=facts.has_data(machine))
    elif not facts.registered:
        site, area, line_name = parts or (None, None, None)
        raise NotFound(
            f"Linha {line} desconhecida: nenhuma máquina enviou dados com site/area/line = "
            f"{site}/{area}/{line_name}. Consulte /api/v1/machines para as linhas existentes."
        )
    runs, note, per_machine = await window_totals(
        pool, protheus, facts, start=start, end=end, planned=planned, tz=tz, time_format=time_format
    )
    notes = answer_notes(note, planned=bool(planned))
    data = oee_answer(
        machine=machine,
        line=line,
        start=instant(start, tz),
        end=instant(end, tz),
        totals=sum_totals(per_machine.values()),
        per_machine=per_machine,
        runs=runs,
        time_format=time_format,
        notes=notes,
    )
    return data, notes

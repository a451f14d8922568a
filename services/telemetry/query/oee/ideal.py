"""Ideal times: the order, operation and routing standard of the window's counts.

One Protheus statement (queries.ideal_times) reads the SH6 appointments on the machines
counted and the SC2 orders the counters name, with their SG2 standards; a second MES one
(queries.SPLIT_COUNTS) splits the counts by appointment, only when some machine counted has
appointments in the window. When Protheus is unreachable every ideal time is unknown and a
note says why.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from services.telemetry.query import queries
from services.telemetry.query.oee.attribution import (
    CountKey,
    Piece,
    Routings,
    attribution_segments,
    order_runs,
    parse_routings,
)
from services.telemetry.query.oee.standards import OrderRun
from shared.db.pools import mes_connection
from shared.db.sources import Row
from shared.errors import DependencyUnavailable
from shared.protheus.context import ProtheusContext
from shared.protheus.dates import dtos
from shared.protheus.keys import OrderKeyLayout, order_key_pattern, order_number

IDEAL_ALIASES = ("SC2", "SB1", "SG2", "SH6", "SH1")
PROTHEUS_DOWN = "Protheus indisponível"
PROTHEUS_DOWN_NOTE = (
    "Performance e OEE nulos: o banco do Protheus está indisponível para ler os tempos "
    "padrão (SG2) das ordens; disponibilidade e qualidade não dependem dele."
)


async def read_routings(
    protheus: ProtheusContext,
    *,
    layout: OrderKeyLayout,
    numbers: Sequence[str],
    machines: Sequence[str],
    start: dt.datetime,
    end: dt.datetime,
    tz: ZoneInfo,
) -> list[Row]:
    """queries.ideal_times for the orders numbered (C2_NUM) and the machines counted, over
    the plant dates the window touches (DependencyUnavailable when Protheus is down)."""
    args: dict[str, Any] = {
        "first_day": dtos(start.astimezone(tz)),
        "last_day": dtos(end.astimezone(tz)),
    }
    args.update({f"num_{n}": value for n, value in enumerate(numbers)})
    args.update({f"machine_{n}": value for n, value in enumerate(machines)})
    for alias in IDEAL_ALIASES:
        args[f"{alias.lower()}_filial"] = await protheus.filial(alias)
    sql = queries.ideal_times(
        protheus.dialect, protheus.tables, layout, len(numbers), len(machines)
    )
    return await protheus.source.fetch(sql, args)


async def split_by_appointment(
    pool: asyncpg.Pool,
    routings: Routings,
    counted: Mapping[CountKey, tuple[int, int]],
    *,
    machines: Sequence[str],
    start: dt.datetime,
    end: dt.datetime,
    planned: Sequence[queries.Interval],
) -> list[Piece]:
    """The counts as pieces owned by one appointment each (or none); the MES is asked again
    only when some machine counted has appointments in the window."""
    segments = [
        (machine, low, high, ident)
        for machine in machines
        for low, high, ident in attribution_segments(start, end, routings.on(machine))
    ]
    if not segments:
        return [Piece(m, o, None, g, s) for (m, o), (g, s) in counted.items()]
    async with mes_connection(pool) as conn:
        rows = await queries.split_counts(
            conn, segments=segments, machines=machines, start=start, end=end, planned=planned
        )
    return [
        Piece(r["machine"], r["order_key"], r["seg_id"], int(r["good"]), int(r["scrap"]))
        for r in rows
    ]


# Issues a message names before summing up the rest.
MAX_NAMED_ISSUES = 5


def unknown_runs(counted: Mapping[CountKey, tuple[int, int]]) -> list[OrderRun]:
    """Every count as a run without ideal time, Protheus being unreachable."""
    down = [
        OrderRun(
            m, o, None, "counter" if o else "appointment", issue=PROTHEUS_DOWN, good=g, scrap=s
        )
        for (m, o), (g, s) in counted.items()
    ]
    down.sort(key=lambda r: (r.machine, r.order or ""))
    return down


def issues_note(runs: Sequence[OrderRun]) -> str | None:
    """Why performance and OEE are null, naming each machine's issue; None without issues."""
    issues = sorted({f"máquina {run.machine}: {run.issue}" for run in runs if run.issue})
    if not issues:
        return None
    # A line or the plant summary may have hundreds: the message names the first few.
    named = issues[:MAX_NAMED_ISSUES]
    if len(issues) > len(named):
        named.append(f"e mais {len(issues) - len(named)}")
    return (
        "Performance e OEE nulos: sem tempo padrão para parte da contagem ("
        + "; ".join(named)
        + ")."
    )


async def ideal_times(
    pool: asyncpg.Pool,
    protheus: ProtheusContext,
    counted: Mapping[CountKey, tuple[int, int]],
    *,
    start: dt.datetime,
    end: dt.datetime,
    planned: Sequence[queries.Interval],
    tz: ZoneInfo,
    time_format: str,
) -> tuple[list[OrderRun], str | None]:
    """The runs of the counts in the window with their standards, and a note when some ideal
    time is unknown."""
    if not counted:
        return [], None
    machines = sorted({machine for machine, _ in counted})
    try:
        layout = await protheus.dictionary.order_key()
        valid = order_key_pattern(layout)
        numbers = sorted({order_number(layout, o) for _, o in counted if o and valid.match(o)})
        rows = await read_routings(
            protheus,
            layout=layout,
            numbers=numbers,
            machines=machines,
            start=start,
            end=end,
            tz=tz,
        )
    except DependencyUnavailable:
        return unknown_runs(counted), PROTHEUS_DOWN_NOTE
    routings = parse_routings(rows, tz)
    pieces = await split_by_appointment(
        pool, routings, counted, machines=machines, start=start, end=end, planned=planned
    )
    runs = order_runs(routings, pieces, time_format, layout)
    return runs, issues_note(runs)

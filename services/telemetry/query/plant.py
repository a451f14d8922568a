"""GET /api/v1/plant: every machine grouped by line with its state, current order and product,
and the current shift's OEE, for a plant screen.

A fixed number of statements whatever the plant's size: the MES's machines with state and
current order, then the OEE facts of all of them (one statement each, one connection); one
Protheus statement for the SH1 descriptions and the orders' products; and the OEE code's own
(ideal times: at most one Protheus and one MES statement) for all machines at once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from services.telemetry.query import queries
from services.telemetry.query.oee.facts import collect_facts
from services.telemetry.query.oee.present import answer_notes, oee_figures
from services.telemetry.query.oee.service import window_totals
from services.telemetry.query.service import effective_end, instant, utc_now
from services.telemetry.query.shifts import ShiftCalendar
from shared.db.pools import mes_connection
from shared.db.sources import Row
from shared.errors import DependencyUnavailable
from shared.protheus.context import ProtheusContext
from shared.protheus.keys import order_key_pattern, order_number

RATIOS = ("availability", "performance", "quality", "oee")
PROTHEUS_DOWN_NOTE = (
    "Protheus indisponível: sem descrição das máquinas (SH1) nem produto das ordens (SC2), e "
    "só as máquinas que já enviaram dados ao MES."
)
LineKey = tuple[str | None, str | None, str | None]


async def erp_names(
    protheus: ProtheusContext, orders: Sequence[str]
) -> tuple[dict[str, str | None], dict[str, str | None], str | None]:
    """SH1 descriptions by machine and SC2 products by order key, in one statement; empty and
    a note when Protheus is down."""
    try:
        layout = await protheus.dictionary.order_key()
        valid = order_key_pattern(layout)
        numbers = sorted({order_number(layout, key) for key in orders if valid.match(key)})
        args: dict[str, Any] = {
            "sh1_filial": await protheus.filial("SH1"),
            "sc2_filial": await protheus.filial("SC2"),
        }
        args.update({f"num_{n}": value for n, value in enumerate(numbers)})
        sql = queries.plant_erp(protheus.dialect, protheus.tables, len(numbers))
        rows: list[Row] = await protheus.source.fetch(sql, args)
    except DependencyUnavailable:
        return {}, {}, PROTHEUS_DOWN_NOTE
    machines = {r["code"]: r["description"] for r in rows if r["kind"] == "machine"}
    products = {r["code"]: r["product"] for r in rows if r["kind"] == "order"}
    return machines, products, None


def line_groups(
    mes: Sequence[Mapping[str, Any]],
    descriptions: Mapping[str, str | None],
    products: Mapping[str, str | None],
    ratios: Mapping[str, Mapping[str, float | None]],
    tz: ZoneInfo,
) -> list[dict[str, Any]]:
    """Machines by (site, area, line), lines and machines in code order; SH1 resources that
    never sent data come last, in a group without a line."""
    groups: dict[LineKey, list[dict[str, Any]]] = {}
    for row in mes:
        key = (row["site"], row["area"], row["line"])
        order = row["order_key"]
        groups.setdefault(key, []).append(
            {
                "machine": row["machine"],
                "description": descriptions.get(row["machine"]),
                "state": row["state"],
                "stateSince": instant(row["state_since"], tz),
                "lastSeen": instant(row["last_seen"], tz),
                "order": order,
                "product": products.get(order) if order else None,
                "oee": dict(ratios[row["machine"]]),
            }
        )
    known = {row["machine"] for row in mes}
    for code in sorted(set(descriptions) - known):
        groups.setdefault((None, None, None), []).append(
            {
                "machine": code,
                "description": descriptions[code],
                "state": None,
                "stateSince": None,
                "lastSeen": None,
                "order": None,
                "product": None,
                "oee": dict(ratios[code]),
            }
        )

    def order_of(key: LineKey) -> tuple[bool, str, str, str]:
        site, area, line = key
        return (site is None, site or "", area or "", line or "")

    return [
        {
            "site": key[0],
            "area": key[1],
            "line": key[2],
            "machines": sorted(groups[key], key=lambda m: m["machine"]),
        }
        for key in sorted(groups, key=order_of)
    ]


async def plant_summary(
    pool: asyncpg.Pool,
    protheus: ProtheusContext,
    *,
    calendar: ShiftCalendar,
    tz: ZoneInfo,
    time_format: str,
    now: dt.datetime | None = None,
) -> tuple[dict[str, Any], list[str]]:
    """`data` of the plant route and the notes its message repeats."""
    now = now or utc_now()
    shift_start, shift_end = calendar.current(now)
    start, end = shift_start, effective_end(shift_start, shift_end)
    planned = calendar.planned(start, end)
    async with mes_connection(pool) as conn:
        mes = [dict(row) for row in await queries.plant_machines(conn)]
    orders = sorted({row["order_key"] for row in mes if row["order_key"]})
    descriptions, products, erp_note = await erp_names(protheus, orders)
    codes = sorted({row["machine"] for row in mes} | set(descriptions))
    async with mes_connection(pool) as conn:
        facts = await collect_facts(
            conn, machine=None, line=None, start=start, end=end, planned=planned, machines=codes
        )
    _, ideal_note, per_machine = await window_totals(
        pool, protheus, facts, start=start, end=end, planned=planned, tz=tz, time_format=time_format
    )
    ratios = {
        code: {name: oee_figures(per_machine[code])[name] for name in RATIOS} for code in codes
    }
    notes = answer_notes(ideal_note, planned=bool(planned))
    if erp_note:
        notes.insert(0, erp_note)
    data = {
        "shift": {"start": instant(shift_start, tz), "end": instant(shift_end, tz)},
        "lines": line_groups(mes, descriptions, products, ratios, tz),
    }
    return data, notes

"""Which order and operation each count belongs to, as pure functions over Protheus rows.

- A counter message naming `order` belongs to that order. Its operation is the SH6
  appointment's H6_OPERAC when the appointment that owns the message's time on that machine
  (below) is of the same order; else the first SG2 operation of the order's routing on the
  machine.
- A counter message without `order` belongs to the order the machine was working on at the
  message's time: the live SH6 production appointment on that machine whose [start, end)
  covers it, else the last one that started before it inside the window
  (attribution_segments); whether that order is open now does not matter. The operation is
  that appointment's H6_OPERAC.
- Ideal time follows G2_TPOPER (standards.py): `1`, blank and `4` per unit (G2_TEMPAD /
  G2_LOTEPAD, LOTEPAD 0 = 1, divided by H1_MAOOBRA when not 0) times the units counted
  (good + scrap); `2` and `3` G2_TEMPAD once per run, a run being one (machine, order,
  operation) with counted units inside the window, however many appointments and counter
  messages it spans (the standard is for the whole operation). G2_TEMPAD 0 is unknown:
  performance and OEE null.
"""

from __future__ import annotations

import datetime as dt
import heapq
import itertools
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from services.telemetry.query.oee.standards import OrderRun, Standard
from shared.db.sources import Row
from shared.protheus.keys import OrderKeyLayout, order_key_pattern

CountKey = tuple[str, str | None]  # (machine, the counter's order key or None)


class Piece(NamedTuple):
    """Counts of one machine and counter order key, owned by one appointment (or none)."""

    machine: str
    order: str | None
    appointment: int | None
    good: int
    scrap: int


@dataclass(frozen=True)
class Appointment:
    """One SH6 production appointment on a machine, as an interval [start, end) in UTC."""

    ident: int  # R_E_C_N_O_: breaks ties between appointments that start together
    start: dt.datetime
    end: dt.datetime


Segment = tuple[dt.datetime, dt.datetime, int]  # [start, end) attributed to an appointment


def attribution_segments(
    window_start: dt.datetime, window_end: dt.datetime, appointments: Iterable[Appointment]
) -> list[Segment]:
    """Which appointment each instant of [window_start, window_end) on one machine belongs to.

    An instant t belongs to the appointment whose [start, end) covers it (the one that started
    last, then the highest R_E_C_N_O_, when several overlap); when none covers it, to the
    last one that started at or before t inside the window (start >= window_start); else to
    none (no segment). Ends are exclusive so that back-to-back appointments (one ends at
    10:00, the next starts at 10:00) never share an instant. Adjacent pieces of the same
    appointment are merged; the result is ordered and disjoint.
    """
    items = sorted(appointments, key=lambda a: (a.start, a.ident))
    cuts = {window_start, window_end}
    for item in items:
        for instant in (item.start, item.end):
            if window_start < instant < window_end:
                cuts.add(instant)
    points = sorted(cuts)
    segments: list[Segment] = []
    # A sweep over the cuts: every start and end inside the window is a cut, so each
    # appointment covers a whole piece [low, high) or none of it (it covers it when it started
    # at or before `low` and ends after `low`), and none starts strictly inside a piece.
    active: list[tuple[float, int, dt.datetime]] = []  # heap of (-start, -ident, end)
    latest_started: Appointment | None = None  # the last one started inside the window so far
    following = 0
    for low, high in itertools.pairwise(points):
        while following < len(items) and items[following].start <= low:
            item = items[following]
            heapq.heappush(active, (-item.start.timestamp(), -item.ident, item.end))
            if item.start >= window_start:
                latest_started = item
            following += 1
        while active and active[0][2] <= low:
            heapq.heappop(active)  # ended: it covers no later piece either
        if active:
            chosen = -active[0][1]
        elif latest_started is not None:
            chosen = latest_started.ident
        else:
            continue
        if segments and segments[-1][2] == chosen and segments[-1][1] == low:
            segments[-1] = (segments[-1][0], high, chosen)
        else:
            segments.append((low, high, chosen))
    return segments


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

    def on(self, machine: str) -> list[Appointment]:
        """The appointments on one machine, as intervals."""
        return [
            Appointment(a.ident, a.start, a.end)
            for a in self.appointments.values()
            if a.machine == machine
        ]


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


def attribute(routings: Routings, piece: Piece, layout: OrderKeyLayout) -> OrderRun:
    """The order, operation and standard of one piece of counts (see the module docstring)."""
    machine, order = piece.machine, piece.order
    appointed = (
        routings.appointments.get(piece.appointment) if piece.appointment is not None else None
    )
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
    if not order_key_pattern(layout).match(order):
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


def order_runs(
    routings: Routings, pieces: Iterable[Piece], time_format: str, layout: OrderKeyLayout
) -> list[OrderRun]:
    """Pieces of counts summed per (machine, order, operation): one run each; `source` is
    `counter` when some of its counts named the order. A standard whose G2_TEMPAD is 0 is an
    issue (unknown ideal time), never an ideal time of 0."""
    runs: dict[tuple[str, str | None, str | None], OrderRun] = {}
    for piece in pieces:
        if piece.good + piece.scrap <= 0:
            continue
        found = attribute(routings, piece, layout)
        key = (found.machine, found.order, found.operation)
        run = runs.setdefault(key, found)
        if found.source == "counter":
            run.source = "counter"
        run.good += piece.good
        run.scrap += piece.scrap
    for run in runs.values():
        s = run.standard
        if run.issue is None and s is not None and run.ideal(time_format) is None:
            run.issue = (
                f"G2_TEMPAD zerado na operação {s.operation} do roteiro {s.routing} da ordem "
                f"{run.order}: sem tempo padrão registrado"
            )
    return sorted(runs.values(), key=lambda r: (r.machine, r.order or "", r.operation or ""))

"""OEE arithmetic as pure functions: standard times, per-machine totals, sums and capped ratios."""

from __future__ import annotations

import datetime as dt
import heapq
import itertools
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

RUNNING = "running"
# Planned time no state message covers (before a machine's first message): a loss too,
# so that running time + losses always add up to the planned time.
UNKNOWN = "unknown"
# Sub-millisecond remainders are float noise, not a loss.
EPSILON_S = 1e-3

LossKey = tuple[str, str | None]


def standard_hours(value: float, time_format: str) -> float:
    """G2_TEMPAD in hours: `C` decimal hours as stored; `N` hh.mm (Protheus MV_TPHR), 1.30 = 1h30m."""
    if time_format.upper() != "N":
        return float(value)
    hours = math.floor(value)
    # Two decimals of minutes; rounding absorbs float noise (1.30 - 1 = 0.30000000000000004).
    minutes = round((value - hours) * 100, 6)
    return hours + minutes / 60


# G2_TPOPER values whose G2_TEMPAD is for the whole operation, whatever the quantity:
# `2` fixed and `3` unlimited. `1` normal, `4` and blank grow with the quantity.
PER_RUN_TYPES = frozenset({"2", "3"})


def is_per_run(tpoper: str | None) -> bool:
    """Whether G2_TPOPER makes G2_TEMPAD the time of the whole run (`2`, `3`)."""
    return (tpoper or "").strip() in PER_RUN_TYPES


def ideal_unit_seconds(
    tempad: float, lotepad: float, time_format: str, crew: float = 0.0
) -> float | None:
    """Ideal seconds per unit (G2_TPOPER `1`, blank, `4`): G2_TEMPAD hours for G2_LOTEPAD
    units (a 0 lot means 1), divided by the machine's crew H1_MAOOBRA when that is not 0.
    None when G2_TEMPAD is 0: no standard was recorded, the ideal time is unknown."""
    if not tempad or tempad <= 0:
        return None
    lot = lotepad if lotepad and lotepad > 0 else 1.0
    seconds = standard_hours(tempad, time_format) * 3600 / lot
    return seconds / crew if crew and crew > 0 else seconds


def ideal_run_seconds(tempad: float, time_format: str) -> float | None:
    """Ideal seconds of a whole run (G2_TPOPER `2`, `3`): G2_TEMPAD, whatever the count and
    crew; None when G2_TEMPAD is 0 (unknown)."""
    if not tempad or tempad <= 0:
        return None
    return standard_hours(tempad, time_format) * 3600


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


def fraction(numerator: float | None, denominator: float | None) -> float | None:
    """numerator / denominator capped at 1; None for a zero (or unknown) denominator or numerator."""
    if numerator is None or denominator is None or denominator <= 0:
        return None
    return min(max(numerator / denominator, 0.0), 1.0)


@dataclass(frozen=True)
class OeeTotals:
    """The sums OEE is taken from, for one machine or several summed before the ratios.

    `ideal` is ideal seconds x count summed per order; None when some count has no known
    ideal time (then performance cannot be computed honestly).
    """

    planned: float = 0.0
    running: float = 0.0
    good: int = 0
    scrap: int = 0
    ideal: float | None = 0.0
    losses: Mapping[LossKey, float] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return self.good + self.scrap

    def __add__(self, other: OeeTotals) -> OeeTotals:
        losses = dict(self.losses)
        for key, seconds in other.losses.items():
            losses[key] = losses.get(key, 0.0) + seconds
        ideal = None if self.ideal is None or other.ideal is None else self.ideal + other.ideal
        return OeeTotals(
            planned=self.planned + other.planned,
            running=self.running + other.running,
            good=self.good + other.good,
            scrap=self.scrap + other.scrap,
            ideal=ideal,
            losses=losses,
        )


def machine_totals(
    planned: float,
    state_seconds: Iterable[tuple[str, str | None, float]],
    good: int,
    scrap: int,
    ideal: float | None,
) -> OeeTotals:
    """One machine's totals from its state time inside planned time (state, reason, seconds).

    Running time is the `running` state's; every other state is a loss by (state, reason);
    planned time no state covers is an `unknown` loss.
    """
    running = 0.0
    covered = 0.0
    losses: dict[LossKey, float] = {}
    for state, reason, seconds in state_seconds:
        covered += seconds
        if state == RUNNING:
            running += seconds
        else:
            key = (state, reason or None)
            losses[key] = losses.get(key, 0.0) + seconds
    uncovered = planned - covered
    if uncovered > EPSILON_S:
        losses[(UNKNOWN, None)] = losses.get((UNKNOWN, None), 0.0) + uncovered
    return OeeTotals(planned, running, good, scrap, ideal, losses)


def sum_totals(totals: Iterable[OeeTotals]) -> OeeTotals:
    """A line's totals: every machine's summed (planned time too) before any ratio."""
    result = OeeTotals()
    for item in totals:
        result = result + item
    return result


def figures(totals: OeeTotals) -> dict[str, float | None]:
    """availability, performance, quality and oee, each in [0, 1] or None (zero denominator)."""
    availability = fraction(totals.running, totals.planned)
    performance = None if totals.ideal is None else fraction(totals.ideal, totals.running)
    quality = fraction(totals.good, totals.total)
    parts = (availability, performance, quality)
    oee = None if any(p is None for p in parts) else availability * performance * quality  # type: ignore[operator]
    return {
        "availability": availability,
        "performance": performance,
        "quality": quality,
        "oee": oee,
    }


def losses_list(totals: OeeTotals) -> list[dict[str, Any]]:
    """`losses` as the API gives it: `{state, reason, seconds}`, largest first."""
    items = [
        {"state": state, "reason": reason, "seconds": round(seconds, 3)}
        for (state, reason), seconds in totals.losses.items()
        if seconds > EPSILON_S
    ]
    return sorted(items, key=lambda item: (-item["seconds"], item["state"], item["reason"] or ""))

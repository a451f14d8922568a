"""Routing standards (SG2) and the ideal seconds they give, as pure functions and values."""

from __future__ import annotations

import math
from dataclasses import dataclass

# G2_TPOPER values whose G2_TEMPAD is for the whole operation, whatever the quantity:
# `2` fixed and `3` unlimited. `1` normal, `4` and blank grow with the quantity.
PER_RUN_TYPES = frozenset({"2", "3"})


def standard_hours(value: float, time_format: str) -> float:
    """G2_TEMPAD in hours: `C` decimal hours as stored; `N` hh.mm (Protheus MV_TPHR), 1.30 = 1h30m."""
    if time_format.upper() != "N":
        return float(value)
    hours = math.floor(value)
    # Two decimals of minutes; rounding absorbs float noise (1.30 - 1 = 0.30000000000000004).
    minutes = round((value - hours) * 100, 6)
    return hours + minutes / 60


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
        return is_per_run(self.tpoper)


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
        return ideal_unit_seconds(s.tempad, s.lotepad, time_format, s.crew)

    def ideal(self, time_format: str) -> float | None:
        """Ideal seconds of these counts; None when unknown (no standard, or G2_TEMPAD 0)."""
        if self.issue is not None or self.standard is None:
            return None
        if self.standard.per_run:
            return ideal_run_seconds(self.standard.tempad, time_format)
        unit = self.unit_seconds(time_format)
        return None if unit is None else unit * (self.good + self.scrap)

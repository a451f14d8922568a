"""Aggregate: per-machine totals from the facts and the runs, a line's sum, the capped ratios."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from services.telemetry.query.oee.facts import OeeFacts, StateTime
from services.telemetry.query.oee.standards import OrderRun

RUNNING = "running"
# Planned time no state message covers (before a machine's first message): a loss too,
# so that running time + losses always add up to the planned time.
UNKNOWN = "unknown"
# Sub-millisecond remainders are float noise, not a loss.
EPSILON_S = 1e-3

# A loss by state, PLC reason and the Protheus reason of the stop that covers it.
LossKey = tuple[str, str | None, str | None]


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
    state_seconds: Iterable[StateTime],
    good: int,
    scrap: int,
    ideal: float | None,
) -> OeeTotals:
    """One machine's totals from its state time inside planned time (state, reason, seconds,
    and the Protheus reason of the stop covering it, None when absent).

    Running time is the `running` state's; every other state is a loss by (state, reason,
    Protheus reason); planned time no state covers is an `unknown` loss.
    """
    running = 0.0
    covered = 0.0
    losses: dict[LossKey, float] = {}
    for state, reason, seconds, stop in state_seconds:
        covered += seconds
        if state == RUNNING:
            running += seconds
        else:
            key = (state, reason or None, stop)
            losses[key] = losses.get(key, 0.0) + seconds
    uncovered = planned - covered
    if uncovered > EPSILON_S:
        unknown = (UNKNOWN, None, None)
        losses[unknown] = losses.get(unknown, 0.0) + uncovered
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


def per_machine_totals(
    facts: OeeFacts, runs: Sequence[OrderRun], planned_seconds: float, time_format: str
) -> dict[str, OeeTotals]:
    """Each target's totals: its state time and counts from the facts, its ideal time the sum
    of its runs' (None as soon as one run's is unknown)."""
    totals: dict[str, OeeTotals] = {}
    for target in facts.targets:
        good, scrap = facts.counts_of(target)
        ideal: float | None = 0.0
        for run in runs:
            if run.machine != target:
                continue
            seconds = run.ideal(time_format)
            ideal = None if seconds is None or ideal is None else ideal + seconds
        totals[target] = machine_totals(
            planned_seconds, facts.state_seconds.get(target, []), good, scrap, ideal
        )
    return totals

"""Machine stops from a machine's state timeline: a pure function, no I/O.

A state lasts until the machine's next state (the last one is open: its end is unknown).

- A *run* is a maximal sequence of consecutive intervals whose state is in STOP_STATES;
  `offline` intervals form runs of their own (state `offline`). A closed run shorter than
  STOP_MIN_S is a micro-stop (a performance loss, not a stop) and yields nothing.
- Inside a run, *segments* are consecutive intervals with the same PLC reason (NULL is a
  reason of its own; a change of state with the same reason stays in one segment). Walking
  the segments, one starts a new stop only when it lasts >= STOP_MIN_S AND the stop built so
  far lasts >= STOP_MIN_S; otherwise it is merged into the stop built so far. So a reason
  change makes two stops only when both parts last STOP_MIN_S, and a short blip of another
  reason stays inside the stop around it.
- A stop's `plc_reason` is its longest segment's (ties: the earliest); its `state` is the
  state that lasted longest inside that segment (ties: the earliest).
- When the machine's last state is in a run, the run's last stop is open (end None) whatever
  its length so far. The open interval counts as 0 s (its length is unknown until the next
  state), so it never starts a stop of its own and a closed part is never split off wrongly:
  each later rebuild sees the same closed part.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence
from dataclasses import dataclass

OFFLINE = "offline"


@dataclass(frozen=True, slots=True)
class StateChange:
    """One row of machine_states: from `ts` the machine is in `state` (until its next row)."""

    ts: dt.datetime
    state: str
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class DetectedStop:
    """A stop as the timeline says it is; `end` None while it is open."""

    start: dt.datetime
    end: dt.datetime | None
    state: str
    plc_reason: str | None


@dataclass(frozen=True, slots=True)
class _Interval:
    start: dt.datetime
    end: dt.datetime | None
    state: str
    reason: str | None

    @property
    def seconds(self) -> float:
        """The open interval counts as 0 s."""
        return 0.0 if self.end is None else (self.end - self.start).total_seconds()


@dataclass(slots=True)
class _Segment:
    """Consecutive intervals of a run with the same PLC reason."""

    intervals: list[_Interval]

    @property
    def reason(self) -> str | None:
        return self.intervals[0].reason

    @property
    def seconds(self) -> float:
        return sum(i.seconds for i in self.intervals)

    @property
    def closed(self) -> bool:
        return self.intervals[-1].end is not None

    @property
    def state(self) -> str:
        """The state that lasted longest in the segment (ties: the earliest seen)."""
        totals: dict[str, float] = {}
        for interval in self.intervals:
            totals[interval.state] = totals.get(interval.state, 0.0) + interval.seconds
        return max(totals, key=lambda state: totals[state])  # max keeps the first of ties


def _kind(state: str, stop_states: Collection[str]) -> str | None:
    """Which run an interval belongs to: `offline`, a stop run, or none."""
    if state == OFFLINE:
        return OFFLINE
    return "stop" if state in stop_states else None


def _runs(states: Sequence[StateChange], stop_states: Collection[str]) -> list[list[_Interval]]:
    runs: list[list[_Interval]] = []
    previous: str | None = None
    for index, change in enumerate(states):
        end = states[index + 1].ts if index + 1 < len(states) else None
        kind = _kind(change.state, stop_states)
        if kind is None:
            previous = None
            continue
        interval = _Interval(change.ts, end, change.state, change.reason)
        if kind == previous:
            runs[-1].append(interval)
        else:
            runs.append([interval])
        previous = kind
    return runs


def _segments(run: list[_Interval]) -> list[_Segment]:
    segments: list[_Segment] = []
    for interval in run:
        if segments and segments[-1].reason == interval.reason:
            segments[-1].intervals.append(interval)
        else:
            segments.append(_Segment([interval]))
    return segments


def _stop(segments: list[_Segment]) -> DetectedStop:
    longest = max(segments, key=lambda s: s.seconds)  # max keeps the earliest of ties
    return DetectedStop(
        start=segments[0].intervals[0].start,
        end=segments[-1].intervals[-1].end,
        state=longest.state,
        plc_reason=longest.reason,
    )


def detect_stops(
    states: Sequence[StateChange], *, stop_states: Collection[str], min_s: float
) -> list[DetectedStop]:
    """The stops of one machine's states (ordered by `ts`, as machine_states keys them), in
    start order, by the rules of this module's docstring."""
    stops: list[DetectedStop] = []
    for run in _runs(states, stop_states):
        is_open = run[-1].end is None
        if not is_open and sum(i.seconds for i in run) < min_s:
            continue  # a micro-stop
        groups: list[list[_Segment]] = []
        built = 0.0  # seconds of the stop built so far
        for segment in _segments(run):
            if groups and not (segment.closed and segment.seconds >= min_s and built >= min_s):
                groups[-1].append(segment)
                built += segment.seconds
            else:
                groups.append([segment])
                built = segment.seconds
        stops.extend(_stop(group) for group in groups)
    return stops

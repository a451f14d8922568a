"""generate(): a seeded plant that misbehaves on purpose.

Per machine, in this order and each from its own random stream (string seeds, stable across
processes): the state timeline (shift pattern, running bouts, idle and setup between them,
faults drawn on running time), the drifts that precede most faults, the short events
(spikes, stuck sensors, out-of-range readings) and, on demand, the readings step by step:
each metric follows the state's load through a first-order lag, plus the drift's offset and
Gaussian noise, then the events override what they touch.
"""

from __future__ import annotations

import bisect
import datetime as dt
import math
import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from protheus_demo.plantgen.model import (
    LIMITS,
    LOAD,
    METRICS,
    PLANT_TIMEZONE,
    PROFILES,
    SHIFT_PATTERNS,
    SITE,
    Counter,
    KindProfile,
    PlantData,
    State,
    TruthEvent,
)
from protheus_demo.shape import SCALES
from protheus_demo.vocabulary import MACHINE_KINDS

HOUR = 3600.0
MINUTE = 60.0
# Faults: drawn on running time (a machine that does not run does not wear out), a mean of
# 26 running hours between them: about one every 1-3 calendar days with the shift patterns.
MEAN_RUN_TO_FAULT_S = 26 * HOUR
REPAIR_S = (20 * MINUTE, 3 * HOUR)
WARNED_SHARE = 0.9  # faults drawn with a drift before them (some lose it: too close to the last)
# Wear shows for longer than the risk horizon (RISK_HORIZON_H, 8 h) before most faults: with
# drifts of 2-10 h, half the hours with a fault ahead had no drift under way yet, and even a
# model that knew each drift's progress reached ROC AUC 0.75 (measured on this generator).
DRIFT_S = (8 * HOUR, 16 * HOUR)
MIN_DRIFT_S = 3 * HOUR
FAULT_CODES = ("E12", "E31", "E47", "E52", "E60")
# Short events drawn per machine and day. Spikes and stuck sensors are kept only where the
# machine runs throughout (a spike: from SETTLE_S before): drive transients come with the
# load, and a stopped machine may well read flat, so no truth is claimed there; about half
# the drawn ones remain (out-of-range readings are kept in any state).
RATES: dict[str, float] = {"spike": 5.0, "stuck": 2.5, "out_of_range": 1.5}
EVENT_GAP_S = 15 * MINUTE  # between two short events of a machine, and from a fault
SETTLE_S = 10 * MINUTE  # a spike comes this long after a state change at the earliest
STUCK_S = (3 * MINUTE, 20 * MINUTE)
SPIKE_Z = (12.0, 30.0)  # a spike's size in noise standard deviations
SCRAP_SHARE = 0.02
COUNTER_EVERY_S = 60.0
# Lagged metrics: off level, time constant (s), noise (a + b * level).
LAGGED: dict[str, tuple[float, float, float]] = {
    "temperature": (900.0, 0.35, 0.0),
    "vibration": (120.0, 0.02, 0.04),
    "motor_current": (120.0, 0.1, 0.02),
    "pressure": (120.0, 0.05, 0.0),
}
OFF_LEVEL: dict[str, float] = {"vibration": 0.3, "motor_current": 1.5, "pressure": 1.0}
AMBIENT = 24.0  # degrees, +-3 over the day
CYCLE_NOISE = 0.03  # share of the nominal cycle time
MARGIN = 0.002  # normal readings are clamped this share of the range inside the limits (never
# reached in practice: the nearest level is 9 noise deviations away)


def demo_machines(
    count: int | None = None, *, machines_per_kind: int | None = None
) -> list[tuple[str, str, str, str]]:
    """The demo plant's machine codes (protheus_demo.plant: <PREFIX><unit>, e.g. CORTE1) as
    (machine, site, area, line), one line per kind. `count` takes the first machines across
    kinds (CORTE1, CRIMP1, ..., EXTRU1, CORTE2, ...); otherwise the default demo scale's."""
    per_kind = machines_per_kind or SCALES["default"].machines_per_kind
    if count is not None:
        per_kind = max(per_kind, -(-count // len(MACHINE_KINDS)))
    machines = []
    for unit in range(1, per_kind + 1):
        for prefix, *_ in MACHINE_KINDS:
            profile = PROFILES[prefix]
            machines.append((f"{prefix}{unit}", SITE, profile.area, prefix.lower()))
    return machines[:count] if count is not None else machines


@dataclass
class Segment:
    start: float  # epoch seconds
    state: str
    reason: str | None


@dataclass
class Drift:
    start: float
    fault_at: float
    offsets: dict[str, float]  # metric -> offset reached at the fault (cycle_time: a share)


@dataclass
class Override:
    kind: str  # spike | stuck | out_of_range
    value: float  # spike: signed size in noise sd; out_of_range: the reading; stuck: unused


@dataclass
class MachineRun:
    """One machine's generated plan and its readings on demand."""

    machine: str
    seed: int
    profile: KindProfile
    scale: dict[str, float]  # this machine's running level per metric
    t0: float
    step_s: float
    steps: int
    stamps: list[dt.datetime] = field(repr=False)
    segments: list[Segment] = field(default_factory=list)
    drifts: list[Drift] = field(default_factory=list)
    overrides: dict[int, dict[str, Override]] = field(default_factory=dict)

    def state_at(self, t: float) -> Segment:
        index = bisect.bisect_right(self._starts, t) - 1
        return self.segments[max(index, 0)]

    def finish(self) -> None:
        self._starts = [s.start for s in self.segments]

    def running_through(self, t0: float, t1: float) -> bool:
        """Running over all of [t0, t1]."""
        first = bisect.bisect_right(self._starts, t0) - 1
        if first < 0:
            return False
        last = bisect.bisect_right(self._starts, t1) - 1
        return all(self.segments[i].state == "running" for i in range(first, last + 1))

    def drift_offsets(self, t: float) -> dict[str, float]:
        for drift in self.drifts:
            if drift.start <= t < drift.fault_at:
                share = (t - drift.start) / (drift.fault_at - drift.start)
                return {m: v * share for m, v in drift.offsets.items()}
        return {}

    def frames(self) -> Iterator[tuple[dt.datetime, dict[str, float]]]:
        rng = random.Random(f"{self.seed}/{self.machine}/noise")
        gauss = rng.gauss
        step = self.step_s
        lagged = [
            (m, 1 - math.exp(-step / tau), a, b, OFF_LEVEL.get(m, AMBIENT), self.scale[m],
             LIMITS[m][0] + MARGIN * (LIMITS[m][1] - LIMITS[m][0]),
             LIMITS[m][1] - MARGIN * (LIMITS[m][1] - LIMITS[m][0]))
            for m, (tau, a, b) in LAGGED.items()
        ]  # fmt: skip
        cycle = self.scale["cycle_time"]
        segments, n_segments = self.segments, len(self.segments)
        drifts, n_drifts = self.drifts, len(self.drifts)
        seg_i, drift_i = 0, 0
        first_load = LOAD[segments[0].state]
        process = {m: off + first_load * (run - off) for m, _, _, _, off, run, _, _ in lagged}
        last: dict[str, float] = {}
        overrides = self.overrides
        for k in range(self.steps):
            t = self.t0 + k * step
            while seg_i + 1 < n_segments and segments[seg_i + 1].start <= t:
                seg_i += 1
            state = segments[seg_i].state
            load = LOAD[state]
            while drift_i < n_drifts and drifts[drift_i].fault_at <= t:
                drift_i += 1
            offsets: dict[str, float] | None = None
            if drift_i < n_drifts and drifts[drift_i].start <= t:
                drift = drifts[drift_i]
                share = (t - drift.start) / (drift.fault_at - drift.start)
                offsets = {m: v * share for m, v in drift.offsets.items()}
            # Ambient temperature: +-3 degrees over the day (coolest at 03:00 UTC-3).
            ambient = AMBIENT - 3 * math.cos(2 * math.pi * ((t / HOUR - 6) % 24) / 24)
            readings: dict[str, float] = {}
            for metric, alpha, a, b, off, run, low, high in lagged:
                if metric == "temperature":
                    off = ambient
                target = off + load * (run - off)
                if offsets is not None and metric in offsets:
                    target += offsets[metric] * load
                level = process[metric] + (target - process[metric]) * alpha
                process[metric] = level
                value = level + gauss(0.0, a + b * level)
                readings[metric] = round(min(max(value, low), high), 3)
            if state == "running":
                nominal = cycle * (1 + (offsets or {}).get("cycle_time", 0.0))
                readings["cycle_time"] = round(nominal + gauss(0.0, CYCLE_NOISE * cycle), 3)
            touched = overrides.get(k)
            if touched is not None:
                for metric, override in touched.items():
                    if metric not in readings:
                        continue
                    if override.kind == "stuck":
                        readings[metric] = last[metric]
                    elif override.kind == "out_of_range":
                        readings[metric] = override.value
                    else:
                        readings[metric] = self.spiked(metric, readings, override.value)
            last.update(readings)
            yield self.stamps[k], readings

    def spiked(self, metric: str, readings: dict[str, float], size: float) -> float:
        """The reading moved by `size` noise standard deviations; a spike that would leave
        the limits' margin goes the other way (a spike is never out of range)."""
        low, high = LIMITS[metric]
        margin = MARGIN * (high - low)
        sd = self.noise_sd(metric, readings)
        value = readings[metric] + size * sd
        if not low + margin <= value <= high - margin:
            value = readings[metric] - size * sd
        return round(value, 3)

    def noise_sd(self, metric: str, readings: dict[str, float]) -> float:
        if metric == "cycle_time":
            return CYCLE_NOISE * self.scale["cycle_time"]
        _tau, a, b = LAGGED[metric]
        return a + b * readings[metric]


class _Builder:
    """Builds one machine's plan: timeline, faults, drifts, short events, counters."""

    def __init__(
        self,
        seed: int,
        machine: str,
        start: float,
        end: float,
        step_s: float,
        stamps: list[dt.datetime],
        shifts: str | None = None,
        order: str | None = None,
    ) -> None:
        self.order = order
        self.seed, self.machine, self.t0, self.t1, self.step_s = seed, machine, start, end, step_s
        kind = machine.rstrip("0123456789")
        self.profile = PROFILES[kind]
        self.shifts = shifts or self.profile.shifts
        rng = self.rng("profile")
        scale = {m: getattr(self.profile, m) * rng.uniform(0.93, 1.07) for m in METRICS}
        steps = max(0, math.ceil((end - start) / step_s))
        self.run = MachineRun(machine, seed, self.profile, scale, start, step_s, steps, stamps)
        self.faults: list[tuple[float, float]] = []
        self.events: list[TruthEvent] = []
        self.counters: list[Counter] = []

    def rng(self, name: str) -> random.Random:
        return random.Random(f"{self.seed}/{self.machine}/{name}")

    def stamp(self, t: float) -> dt.datetime:
        return dt.datetime.fromtimestamp(t, dt.UTC)

    # -- timeline ----------------------------------------------------------------------

    def planned_blocks(self) -> list[tuple[float, float]]:
        tz = ZoneInfo(PLANT_TIMEZONE)
        pattern = SHIFT_PATTERNS[self.shifts]
        first = dt.datetime.fromtimestamp(self.t0, tz).date() - dt.timedelta(days=1)
        last = dt.datetime.fromtimestamp(self.t1, tz).date() + dt.timedelta(days=1)
        blocks: list[tuple[float, float]] = []
        day = first
        while day <= last:
            hours = pattern.get(day.weekday())
            if hours is not None:
                midnight = dt.datetime.combine(day, dt.time(), tz)
                begin = midnight + dt.timedelta(hours=hours[0])
                finish = dt.datetime.combine(day + dt.timedelta(days=hours[1] // 24), dt.time(), tz)
                finish += dt.timedelta(hours=hours[1] % 24)
                b, f = begin.timestamp(), finish.timestamp()
                if blocks and blocks[-1][1] == b:
                    blocks[-1] = (blocks[-1][0], f)
                else:
                    blocks.append((b, f))
            day += dt.timedelta(days=1)
        return blocks

    def add(self, t: float, state: str, reason: str | None) -> None:
        segments = self.run.segments
        if segments and segments[-1].state == state and segments[-1].reason == reason:
            return
        if segments and segments[-1].start == t:
            segments[-1] = Segment(t, state, reason)
            return
        segments.append(Segment(t, state, reason))

    def timeline(self) -> None:
        rng = self.rng("schedule")
        blocks = self.planned_blocks()
        t, end = self.t0, self.t1
        last: str | None = None
        to_fault = rng.expovariate(1 / MEAN_RUN_TO_FAULT_S)
        index = 0
        while t < end:
            while index < len(blocks) and blocks[index][1] <= t:
                index += 1
            if index >= len(blocks) or blocks[index][0] > t:
                resume = blocks[index][0] if index < len(blocks) else end
                self.add(t, "stopped", "TURNO")
                t, last = min(resume, end), "stopped"
                continue
            block_end = blocks[index][1]
            if last == "running":
                if rng.random() < 0.3:
                    state, duration = "setup", rng.uniform(10, 40) * MINUTE
                else:
                    state, duration = "idle", rng.uniform(2, 12) * MINUTE
            elif last in ("stopped", "fault"):
                state, duration = "setup", rng.uniform(8, 20) * MINUTE
            else:
                state, duration = "running", rng.uniform(30, 150) * MINUTE
            finish = min(round(t + duration), block_end, end)
            if state == "running":
                if to_fault <= finish - t:
                    fault_at = float(round(t + to_fault))
                    if fault_at > t:
                        self.add(t, "running", None)
                    repair = float(round(rng.uniform(*REPAIR_S)))
                    self.add(fault_at, "fault", rng.choice(FAULT_CODES))
                    self.faults.append((fault_at, min(fault_at + repair, end)))
                    t, last = fault_at + repair, "fault"
                    to_fault = rng.expovariate(1 / MEAN_RUN_TO_FAULT_S)
                    continue
                to_fault -= finish - t
            self.add(t, state, None)
            t, last = finish, state
        self.run.finish()

    # -- drifts and faults -------------------------------------------------------------

    def drifts(self) -> None:
        rng = self.rng("drifts")
        previous_end = self.t0
        scale = self.run.scale
        for fault_at, fault_end in self.faults:
            self.events.append(
                TruthEvent(self.machine, "fault", (), self.stamp(fault_at), self.stamp(fault_end),
                           self.stamp(fault_at))
            )  # fmt: skip
            warned = rng.random() < WARNED_SHARE
            length = rng.uniform(*DRIFT_S)
            offsets = {"vibration": scale["vibration"] * rng.uniform(0.5, 1.0)}
            if rng.random() < 0.7:
                offsets["temperature"] = rng.uniform(8, 15)
            if rng.random() < 0.5:
                offsets["motor_current"] = scale["motor_current"] * rng.uniform(0.1, 0.2)
            if rng.random() < 0.3:
                offsets["cycle_time"] = rng.uniform(0.05, 0.15)
            begin = max(fault_at - length, previous_end + 30 * MINUTE)
            previous_end = fault_end
            if not warned or fault_at - begin < MIN_DRIFT_S:
                continue
            begin = float(round(begin))
            self.run.drifts.append(Drift(begin, fault_at, offsets))
            metrics = tuple(m for m in METRICS if m in offsets)
            self.events.append(
                TruthEvent(self.machine, "drift", metrics, self.stamp(begin),
                           self.stamp(fault_at), self.stamp(fault_at))
            )  # fmt: skip

    # -- short events ------------------------------------------------------------------

    def short_events(self) -> None:
        rng = self.rng("events")
        run, step = self.run, self.step_s
        taken: list[tuple[float, float]] = [
            (a - EVENT_GAP_S, b + EVENT_GAP_S) for a, b in self.faults
        ]
        days = (self.t1 - self.t0) / 86400
        planned: list[tuple[float, str]] = []
        for kind, rate in RATES.items():
            if rate <= 0 or days <= 0:
                continue
            t = self.t0 + rng.expovariate(rate / 86400)
            while t < self.t1:
                planned.append((t, kind))
                t += rng.expovariate(rate / 86400)
        planned.sort()
        for t, kind in planned:
            k0 = math.ceil((t - self.t0) / step)
            if k0 < max(3, math.ceil(10 * MINUTE / step)):
                continue  # the first minutes: no history to hold or compare against
            if kind == "spike":
                n = rng.choices((1, 2, 3), (60, 25, 15))[0]
            elif kind == "stuck":
                n = max(3, round(rng.uniform(*STUCK_S) / step))
            else:
                n = min(1 + int(rng.expovariate(1 / 3)), max(1, round(120 / step)))
            k1 = k0 + n - 1
            if k1 >= run.steps:
                continue
            a, b = run.t0 + k0 * step, run.t0 + k1 * step
            if any(a < hi and b > lo for lo, hi in taken):
                continue
            if kind == "spike" and not run.running_through(a - SETTLE_S, b + step):
                continue  # settled and running (on a load ramp it would not be clear)
            if kind == "stuck" and not run.running_through(a - step, b + step):
                continue
            metric = rng.choice(METRICS)
            if metric == "cycle_time" and not run.running_through(a - step, b):
                metric = rng.choice(METRICS[:4])
            if kind == "spike":
                value = rng.uniform(*SPIKE_Z) * (1 if rng.random() < 0.75 else -1)
            else:
                value = 0.0  # stuck: holds the last reading; out_of_range: drawn per sample
            for k in range(k0, k1 + 1):
                if kind == "out_of_range":
                    low, high = LIMITS[metric]
                    width = high - low
                    if rng.random() < 0.7 or metric == "cycle_time":
                        value = round(high + rng.uniform(0.05, 0.5) * width, 3)
                    else:
                        value = round(low - rng.uniform(0.05, 0.3) * width, 3)
                run.overrides.setdefault(k, {})[metric] = Override(kind, value)
            taken.append((a - EVENT_GAP_S, b + EVENT_GAP_S))
            self.events.append(
                TruthEvent(self.machine, kind, (metric,), self.stamp(a), self.stamp(b))
            )

    # -- counters and states -----------------------------------------------------------

    def make_counters(self) -> None:
        rng = self.rng("counters")
        run = self.run
        segments = run.segments
        carry = 0.0
        for i, segment in enumerate(segments):
            if segment.state != "running":
                continue
            finish = segments[i + 1].start if i + 1 < len(segments) else self.t1
            t = segment.start + COUNTER_EVERY_S
            while t <= finish:
                offsets = run.drift_offsets(t)
                cycle = run.scale["cycle_time"] * (1 + offsets.get("cycle_time", 0.0))
                carry += COUNTER_EVERY_S / cycle
                made = int(carry)
                carry -= made
                share = SCRAP_SHARE + 0.1 * (offsets.get("vibration", 0.0) / run.scale["vibration"])
                scrap = sum(1 for _ in range(made) if rng.random() < share)
                self.counters.append((self.machine, self.stamp(t), made - scrap, scrap, self.order))
                t += COUNTER_EVERY_S

    def states(self) -> list[State]:
        return [(self.machine, self.stamp(s.start), s.state, s.reason) for s in self.run.segments]


def generate(
    seed: int,
    *,
    machines: int | list[tuple[str, str, str, str]] | None = None,
    start: dt.datetime,
    days: float,
    step_s: float = 10,
    shifts: str | None = None,
    orders: Mapping[str, str] | None = None,
) -> PlantData:
    """A plant of `machines` demo machines (a count, or (machine, site, area, line) rows)
    over `days` from `start` (aware), a reading every `step_s` seconds; `shifts` (a key of
    SHIFT_PATTERNS) replaces each kind's own pattern; `orders` (machine -> SC2 order key)
    names the order each machine's counters carry (none for a machine it leaves out; it
    changes nothing else). Deterministic per seed and arguments."""
    if shifts is not None and shifts not in SHIFT_PATTERNS:
        raise ValueError(
            f"unknown shift pattern {shifts!r}; expected one of {sorted(SHIFT_PATTERNS)}"
        )
    if start.tzinfo is None:
        raise ValueError("start must be timezone-aware")
    if step_s <= 0 or days <= 0:
        raise ValueError("step_s and days must be positive")
    rows = machines if isinstance(machines, list) else demo_machines(machines)
    t0 = start.timestamp()
    t1 = t0 + days * 86400
    steps = max(0, math.ceil((t1 - t0) / step_s))
    stamps = [dt.datetime.fromtimestamp(t0 + k * step_s, dt.UTC) for k in range(steps)]
    runs: dict[str, MachineRun] = {}
    states: list[State] = []
    counters: list[Counter] = []
    events: list[TruthEvent] = []
    for machine, *_ in rows:
        order = (orders or {}).get(machine)
        builder = _Builder(seed, machine, t0, t1, step_s, stamps, shifts, order)
        builder.timeline()
        builder.drifts()
        builder.short_events()
        builder.make_counters()
        runs[machine] = builder.run
        states.extend(builder.states())
        counters.extend(builder.counters)
        events.extend(builder.events)
    events.sort(key=lambda e: (e.start, e.machine, e.kind))
    return PlantData(
        seed=seed, start=start.astimezone(dt.UTC), end=dt.datetime.fromtimestamp(t1, dt.UTC),
        step_s=step_s, machines=list(rows), runs=runs, states=states, counters=counters,
        events=events,
    )  # fmt: skip

"""What the plant generator makes: metrics and their physical limits, machine profiles, the
ground-truth events and the generated data's container."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from protheus_demo.plantgen.generate import MachineRun

METRICS: tuple[str, ...] = ("temperature", "vibration", "motor_current", "pressure", "cycle_time")

# Physical limits of each metric's sensor (min, max): a reading outside is an out-of-range
# event. The generator's normal readings (noise, load changes and drifts included) stay well
# inside them; its `out_of_range` events go beyond; its spikes stay inside. The anomaly
# detector's ANOMALY_LIMITS default reads this table.
LIMITS: dict[str, tuple[float, float]] = {
    "temperature": (-20.0, 120.0),  # degrees Celsius
    "vibration": (0.0, 25.0),  # mm/s RMS
    "motor_current": (0.0, 80.0),  # amperes
    "pressure": (0.0, 12.0),  # bar
    "cycle_time": (0.5, 300.0),  # seconds per cycle (sampled only while running)
}

KINDS: tuple[str, ...] = ("spike", "stuck", "out_of_range", "drift", "fault")
ANOMALY_KINDS: tuple[str, ...] = ("spike", "stuck", "out_of_range", "drift")

# Machine states of DESIGN.md section 4 the generator uses, and how loaded each leaves the
# machine (0 = off, 1 = producing): the metrics follow the load.
LOAD: dict[str, float] = {
    "running": 1.0,
    "setup": 0.3,
    "idle": 0.15,
    "fault": 0.15,
    "stopped": 0.0,
    "offline": 0.0,
}


@dataclass(frozen=True)
class KindProfile:
    """Running levels of one kind of machine (the demo plant's MACHINE_KINDS prefixes)."""

    area: str
    temperature: float
    vibration: float
    motor_current: float
    pressure: float
    cycle_time: float
    shifts: str  # key of SHIFT_PATTERNS


PROFILES: dict[str, KindProfile] = {
    "CORTE": KindProfile("preparacao", 48, 2.5, 12, 5.5, 8, "3x"),
    "CRIMP": KindProfile("preparacao", 45, 3.5, 9, 6.0, 4, "3x"),
    "PRENS": KindProfile("conformacao", 55, 4.5, 30, 7.5, 6, "2x"),
    "INJET": KindProfile("conformacao", 70, 2.0, 25, 8.0, 35, "3x"),
    "SOLDA": KindProfile("montagem", 65, 1.5, 20, 4.5, 20, "2x"),
    "MONT": KindProfile("montagem", 35, 1.2, 6, 5.0, 60, "2x"),
    "TESTE": KindProfile("montagem", 38, 0.8, 5, 4.0, 25, "2x"),
    "EMBAL": KindProfile("acabamento", 40, 2.2, 10, 5.0, 12, "3x"),
    "PINTU": KindProfile("acabamento", 60, 1.8, 15, 6.5, 90, "2x"),
    "EXTRU": KindProfile("conformacao", 68, 3.0, 35, 7.0, 15, "3x"),
}

# Planned production time per weekday (0 = Monday), local plant time: (start hour, end hour).
SHIFT_PATTERNS: dict[str, dict[int, tuple[int, int]]] = {
    # three shifts on weekdays (round the clock), one on Saturday
    "3x": {0: (0, 24), 1: (0, 24), 2: (0, 24), 3: (0, 24), 4: (0, 24), 5: (6, 14)},
    # two shifts on weekdays, a morning on Saturday
    "2x": {0: (6, 22), 1: (6, 22), 2: (6, 22), 3: (6, 22), 4: (6, 22), 5: (6, 12)},
    # every hour of every day (the live demo: something runs whenever `make run` starts)
    "24x7": {day: (0, 24) for day in range(7)},
}
PLANT_TIMEZONE = "America/Sao_Paulo"
SITE = "matriz"


@dataclass(frozen=True)
class TruthEvent:
    """One injected event, the ground truth the detectors are scored against.

    spike / stuck / out_of_range: `start` and `end` are the first and last affected
    sample's time (inclusive), one metric. drift: from its start to the fault it precedes
    (`end` == `fault_at`), the metrics that drift. fault: the fault state's start and end
    (`fault_at` == `start`); a fault with no drift ending at it came without warning.
    """

    machine: str
    kind: str
    metrics: tuple[str, ...]
    start: dt.datetime
    end: dt.datetime
    fault_at: dt.datetime | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "machine": self.machine,
            "kind": self.kind,
            "metrics": list(self.metrics),
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "faultAt": self.fault_at.isoformat() if self.fault_at else None,
        }

    @classmethod
    def from_json(cls, item: dict[str, object]) -> TruthEvent:
        fault_at = item.get("faultAt")
        return cls(
            machine=str(item["machine"]),
            kind=str(item["kind"]),
            metrics=tuple(str(m) for m in item["metrics"]),  # type: ignore[attr-defined]
            start=dt.datetime.fromisoformat(str(item["start"])),
            end=dt.datetime.fromisoformat(str(item["end"])),
            fault_at=dt.datetime.fromisoformat(str(fault_at)) if fault_at else None,
        )


Sample = tuple[str, str, dt.datetime, float]  # machine, metric, ts, value
State = tuple[str, dt.datetime, str, str | None]  # machine, ts, state, reason
Counter = tuple[str, dt.datetime, int, int, str | None]  # machine, ts, good, scrap, order


@dataclass
class PlantData:
    """A generated plant over a period. States, counters and events are lists built up
    front; samples are computed on demand (deterministically, in time order per machine),
    so a month of 10-second samples never sits in memory.
    """

    seed: int
    start: dt.datetime
    end: dt.datetime
    step_s: float
    machines: list[tuple[str, str, str, str]]  # machine, site, area, line
    runs: dict[str, MachineRun] = field(repr=False)
    states: list[State] = field(repr=False)
    counters: list[Counter] = field(repr=False)
    events: list[TruthEvent] = field(repr=False)

    def frames(self, machine: str) -> Iterator[tuple[dt.datetime, dict[str, float]]]:
        """One machine's readings step by step: (ts, {metric: value}), in time order."""
        return self.runs[machine].frames()

    def samples(self, machine: str | None = None) -> Iterator[Sample]:
        """(machine, metric, ts, value) rows, machine by machine (or one machine's)."""
        names = [machine] if machine is not None else [m[0] for m in self.machines]
        for name in names:
            for ts, values in self.frames(name):
                for metric, value in values.items():
                    yield name, metric, ts, value

    def truth(self, kind: str | None = None) -> list[TruthEvent]:
        return [e for e in self.events if kind is None or e.kind == kind]

"""A simulated machine behind an edge node: its metrics (names, aliases, datatypes) and
values that follow from a seed, so a test can predict every row."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from protheus_demo.edge.payload import (
    BOOLEAN,
    DOUBLE,
    FLOAT,
    INT8,
    INT16,
    INT32,
    INT64,
    STRING,
    UINT8,
    UINT16,
    UINT32,
    UINT64,
    Value,
)
from protheus_demo.vocabulary import STOP_REASONS

STATES = ("running", "idle", "setup", "stopped", "fault")
STATE, REASON, GOOD, SCRAP = "State", "Reason", "Count/Good", "Count/Scrap"
# The numeric metrics m0, m1, ... take these datatypes in turn: the first ten cover every
# width and sign, Int32 and Int64 go negative.
NUMERIC_TYPES = (FLOAT, DOUBLE, INT32, BOOLEAN, INT64, INT16, UINT32, INT8, UINT16, UINT64, UINT8)
REASONS = tuple(code for code, _ in STOP_REASONS)


@dataclass(frozen=True)
class MetricSpec:
    """A metric as the device's DBIRTH declares it."""

    name: str
    datatype: int
    alias: int


def numeric_value(rng: random.Random, datatype: int) -> Value:
    """A value of the datatype; Float and Double values are exact in binary (quarters and
    eighths), so a float32 round trip keeps them."""
    if datatype == FLOAT:
        return rng.randint(-4000, 4000) / 4
    if datatype == DOUBLE:
        return rng.randint(-800_000, 800_000) / 8
    if datatype == BOOLEAN:
        return rng.random() < 0.5
    ranges = {
        INT8: (-128, 127), INT16: (-32768, 32767), INT32: (-100_000, 100_000),
        INT64: (-(10**12), 10**12), UINT8: (0, 255), UINT16: (0, 65535),
        UINT32: (0, 4_000_000_000), UINT64: (0, 2**40),
    }  # fmt: skip
    low, high = ranges[datatype]
    return rng.randint(low, high)


@dataclass
class Device:
    """One device of the edge node. `step` counts the data steps taken; values[name] is the
    current value of every metric."""

    name: str
    seed: int
    metrics: list[MetricSpec]
    values: dict[str, Value] = field(default_factory=dict)
    step: int = 0
    online: bool = False
    _by_name: dict[str, MetricSpec] = field(default_factory=dict, repr=False)

    @classmethod
    def create(cls, name: str, *, seed: int, numeric: int, first_alias: int) -> Device:
        specs = [(STATE, STRING), (REASON, STRING), (GOOD, UINT64), (SCRAP, UINT64)]
        specs += [(f"m{j}", NUMERIC_TYPES[j % len(NUMERIC_TYPES)]) for j in range(numeric)]
        metrics = [
            MetricSpec(metric, datatype, first_alias + k)
            for k, (metric, datatype) in enumerate(specs)
        ]
        device = cls(name, seed, metrics)
        rng = device._rng()
        device.values = {STATE: "running", REASON: "", GOOD: 0, SCRAP: 0}
        for spec in metrics[4:]:
            device.values[spec.name] = numeric_value(rng, spec.datatype)
        return device

    def _rng(self) -> random.Random:
        return random.Random(f"{self.seed}/{self.name}/{self.step}")

    @property
    def numeric(self) -> list[MetricSpec]:
        return self.metrics[4:]

    def spec(self, name: str) -> MetricSpec:
        if len(self._by_name) != len(self.metrics):
            self._by_name = {spec.name: spec for spec in self.metrics}
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"device {self.name} has no metric {name!r}") from None

    def advance(self) -> list[str]:
        """One data step: the names of the metrics whose values it reports, values
        updated. Numeric metrics are sampled every step; counts are reported when they
        grow; State and Reason together when the state changes (report by exception)."""
        self.step += 1
        rng = self._rng()
        changed: list[str] = []
        state = str(self.values[STATE])
        if rng.random() < 0.15:
            state = rng.choice([s for s in STATES if s != state])
            reason = "" if state == "running" else rng.choice(REASONS)
            self.values[STATE], self.values[REASON] = state, reason
            changed += [STATE, REASON]
        if state == "running":
            self.values[GOOD] = int(self.values[GOOD] or 0) + rng.randint(1, 5)
            changed.append(GOOD)
            if rng.random() < 0.2:
                self.values[SCRAP] = int(self.values[SCRAP] or 0) + 1
                changed.append(SCRAP)
        for spec in self.numeric:
            self.values[spec.name] = numeric_value(rng, spec.datatype)
            changed.append(spec.name)
        return changed

    def sample(self) -> list[str]:
        """A step of the numeric metrics only (the benchmark's DDATA)."""
        self.step += 1
        rng = self._rng()
        for spec in self.numeric:
            self.values[spec.name] = numeric_value(rng, spec.datatype)
        return [spec.name for spec in self.numeric]

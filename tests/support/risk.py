"""A tiny plant whose machines fail, for the failure-risk tests: a few machines, a few days of
five metrics at a coarse step, faults most of which a vibration and temperature drift announces
hours ahead, stops, counters naming orders. Seeded, small (about 100,000 samples), loaded with
COPY into the MES tables the way the ingestor stores them."""

from __future__ import annotations

import datetime as dt
import math
import random
from dataclasses import dataclass, field

import asyncpg

from services.telemetry.partitions import ensure_partitions

METRICS = {  # baseline, noise
    "temperature": (65.0, 1.0),
    "vibration": (2.0, 0.1),
    "motor_current": (12.0, 0.4),
    "pressure": (6.0, 0.15),
    "cycle_time": (30.0, 0.8),
}


@dataclass
class Plant:
    machines: list[tuple[str, str, str, str]] = field(default_factory=list)
    samples: list[tuple[str, str, dt.datetime, float]] = field(default_factory=list)
    states: list[tuple[str, dt.datetime, str, str | None]] = field(default_factory=list)
    counters: list[tuple[str, dt.datetime, int, int, str | None]] = field(default_factory=list)
    faults: list[tuple[str, dt.datetime, bool]] = field(default_factory=list)  # warned?
    end: dt.datetime = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def generate(
    seed: int,
    *,
    machines: int = 4,
    start: dt.datetime,
    days: float = 6,
    step_s: float = 120,
    warned_share: float = 0.85,
) -> Plant:
    rng = random.Random(seed)
    plant = Plant()
    end = start + dt.timedelta(days=days)
    plant.end = end
    step = dt.timedelta(seconds=step_s)
    for m in range(machines):
        machine = f"RISK{seed % 100:02d}{m:02d}"
        plant.machines.append((machine, "porto", "usinagem", f"linha{m % 2 + 1}"))
        offsets = {k: rng.uniform(-0.1, 0.1) * base for k, (base, _) in METRICS.items()}
        # Faults at random (memoryless gaps, 20 h on average, so the time since the last one
        # says little); a warned one drifts for 6 to 10 hours before it.
        faults: list[tuple[dt.datetime, dt.timedelta, dt.timedelta | None]] = []
        t = start + dt.timedelta(hours=rng.uniform(6, 20))
        while t < end - dt.timedelta(hours=1):
            lasting = dt.timedelta(minutes=rng.uniform(30, 90))
            drift = dt.timedelta(hours=rng.uniform(6, 10)) if rng.random() < warned_share else None
            faults.append((t, lasting, drift))
            plant.faults.append((machine, t, drift is not None))
            t += lasting + dt.timedelta(hours=max(2.0, rng.expovariate(1 / 20)))
        plant.states.append((machine, start, "running", None))
        for at, lasting, _ in faults:
            plant.states.append((machine, at, "fault", "E42"))
            plant.states.append((machine, at + lasting, "running", None))
        # A short stop now and then, away from the faults.
        s = start + dt.timedelta(hours=rng.uniform(2, 10))
        while s < end:
            if all(abs((s - at).total_seconds()) > 3 * 3600 for at, _, _ in faults):
                plant.states.append((machine, s, "stopped", "P01"))
                plant.states.append((machine, s + dt.timedelta(minutes=20), "running", None))
            s += dt.timedelta(hours=rng.uniform(6, 14))
        plant.states.sort(key=lambda r: (r[0], r[1]))
        ts = start
        while ts < end:
            drift_level = 0.0
            for at, lasting, drift in faults:
                if drift is not None and at - drift <= ts < at:
                    drift_level = 1 - (at - ts) / drift  # 0 -> 1 as the fault nears
                elif at <= ts < at + lasting:
                    drift_level = 1.0
            local_hour = ts.hour + ts.minute / 60
            shift_wave = math.sin(2 * math.pi * local_hour / 24)
            for metric, (base, noise) in METRICS.items():
                value = base + offsets[metric] + rng.gauss(0, noise) + 0.5 * noise * shift_wave
                if metric == "vibration":
                    value += 8 * noise * drift_level
                elif metric == "temperature":
                    value += 4 * noise * drift_level
                plant.samples.append((machine, metric, ts, round(value, 4)))
            ts += step
        c = start
        while c < end:
            order = f"OP{(int((c - start).total_seconds() // (8 * 3600)) % 3) + 1:04d}01001"
            plant.counters.append((machine, c, rng.randint(8, 12), rng.randint(0, 1), order))
            c += dt.timedelta(minutes=10)
    return plant


async def load(conn: asyncpg.Connection, plant: Plant) -> None:
    """COPY the plant into telemetry_samples, machine_states, machine_counters and machines."""
    days = {ts.astimezone(dt.UTC).date() for _, _, ts, _ in plant.samples}
    await ensure_partitions(conn, days)
    await conn.copy_records_to_table(
        "telemetry_samples", records=plant.samples, columns=["machine", "metric", "ts", "value"]
    )
    await conn.copy_records_to_table(
        "machine_states", records=plant.states, columns=["machine", "ts", "state", "reason"]
    )
    await conn.copy_records_to_table(
        "machine_counters",
        records=plant.counters,
        columns=["machine", "ts", "good", "scrap", "order_key"],
    )
    last = plant.end
    await conn.copy_records_to_table(
        "machines",
        records=[(m, s, a, line, last) for m, s, a, line in plant.machines],
        columns=["machine", "site", "area", "line", "last_seen"],
    )

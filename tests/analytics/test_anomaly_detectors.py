"""The streaming detectors on crafted series: what they flag, what they leave alone, and
their state surviving a JSON round trip."""

from __future__ import annotations

import dataclasses
import json
import math
import random
from collections.abc import Callable, Iterable

from services.analytics.anomalies.detectors import (
    Change,
    DetectorConfig,
    Episode,
    MachineDetector,
    parse_limits,
)

CONFIG = DetectorConfig(limits={"temperature": (0.0, 90.0), "vibration": (0.0, 12.0)})
STEP = 10.0


def noise(seed: int, n: int, mean: float, sd: float) -> list[float]:
    rng = random.Random(seed)
    return [rng.gauss(mean, sd) for _ in range(n)]


def run(
    detector: MachineDetector, metric: str, values: Iterable[float], *, t0: float = 0.0
) -> list[Change]:
    changes: list[Change] = []
    for i, value in enumerate(values):
        changes.extend(detector.feed(metric, t0 + i * STEP, value, CONFIG))
    return changes


def opened(changes: list[Change], kind: str) -> list[Change]:
    return [c for c in changes if c.action == "open" and c.kind == kind]


def test_noise_flags_nothing() -> None:
    detector = MachineDetector("M1")
    changes = run(detector, "temperature", noise(1, 5000, 60, 0.5))
    assert changes == []


def test_isolated_spike_opens_and_closes_once() -> None:
    values = noise(2, 300, 60, 0.5)
    values[200] = 75.0  # inside the limits: a spike, not out_of_range
    changes = run(MachineDetector("M1"), "temperature", values)
    assert [(c.action, c.kind) for c in changes] == [("open", "spike"), ("close", "spike")]
    assert changes[0].start == 200 * STEP
    assert changes[1].end == 200 * STEP
    assert changes[0].score >= CONFIG.spike_z
    assert changes[0].metrics == ["temperature"]


def test_step_change_of_setpoint_is_not_a_spike() -> None:
    values = noise(3, 300, 60, 0.5) + noise(4, 300, 70, 0.5)
    changes = run(MachineDetector("M1"), "temperature", values)
    assert opened(changes, "spike") == []


def test_stuck_value_opens_after_duration_and_samples_and_closes() -> None:
    values = noise(5, 200, 60, 0.5) + [61.234] * 20 + noise(6, 50, 60, 0.5)
    changes = run(MachineDetector("M1"), "temperature", values)
    stuck = [c for c in changes if c.kind == "stuck"]
    assert [c.action for c in stuck] == ["open", "close"]
    assert stuck[0].start == 200 * STEP
    assert stuck[0].at - stuck[0].start >= CONFIG.stuck_s
    assert stuck[1].end == 219 * STEP
    assert opened(changes, "spike") == []


def test_short_flat_run_is_not_stuck() -> None:
    values = noise(7, 200, 60, 0.5) + [61.0] * 3 + noise(8, 50, 60, 0.5)
    assert opened(run(MachineDetector("M1"), "temperature", values), "stuck") == []


def test_idle_machine_reading_flat_is_not_stuck() -> None:
    detector = MachineDetector("M1")
    run(detector, "temperature", noise(9, 100, 60, 0.5))
    detector.set_state("idle")
    changes = run(detector, "temperature", [25.0] * 100, t0=1000 * STEP)
    assert changes == []


def test_out_of_range_opens_closes_with_hysteresis() -> None:
    values = [*noise(10, 100, 60, 0.5), 95.0, 96.0, 60.0, 97.0, *noise(11, 20, 60, 0.5)]
    changes = run(MachineDetector("M1"), "temperature", values)
    oor = [c for c in changes if c.kind == "out_of_range" and c.action != "update"]
    assert [c.action for c in oor] == ["open", "close"]  # the in-range sample between: one event
    assert oor[0].start == 100 * STEP
    assert oor[1].end == 103 * STEP
    assert opened(changes, "spike") == []
    assert opened(changes, "stuck") == []


def test_out_of_range_is_checked_while_idle() -> None:
    detector = MachineDetector("M1")
    detector.set_state("idle")
    assert opened(run(detector, "vibration", [1.0, 1.0, 30.0]), "out_of_range")


def drift_machine(vibration_end: float, *, seed: int) -> list[Change]:
    """Six hours of steady running, then vibration rising linearly over three hours."""
    detector = MachineDetector("M1")
    rng = random.Random(seed)
    changes: list[Change] = []
    steady, rising = 6 * 360, 3 * 360
    for i in range(steady + rising):
        ts = i * STEP
        ramp = max(0, i - steady) / rising
        changes += detector.feed("temperature", ts, rng.gauss(60, 0.5), CONFIG)
        changes += detector.feed(
            "vibration", ts, rng.gauss(2.0 + ramp * (vibration_end - 2.0), 0.2), CONFIG
        )
    return changes


def test_slow_drift_is_flagged_with_its_metric() -> None:
    changes = drift_machine(5.0, seed=12)
    drifts = opened(changes, "drift")
    assert len(drifts) == 1
    assert drifts[0].metrics == ["vibration"]
    assert drifts[0].start > 6 * 3600  # not before the drift began
    assert opened(changes, "spike") == []


def test_no_drift_on_steady_running() -> None:
    assert opened(drift_machine(2.0, seed=13), "drift") == []


def test_drift_ignores_idle_periods() -> None:
    """Idle stretches read differently (cooler, still): neither learnt nor scored."""
    detector = MachineDetector("M1")
    rng = random.Random(14)
    changes: list[Change] = []
    ts = 0.0
    for block in range(12):
        detector.set_state("running" if block % 2 == 0 else "idle")
        for _ in range(360):
            idle = block % 2 == 1
            changes += detector.feed("temperature", ts, rng.gauss(30 if idle else 60, 0.5), CONFIG)
            changes += detector.feed(
                "vibration", ts, rng.gauss(0.5 if idle else 2.0, 0.05 if idle else 0.2), CONFIG
            )
            ts += STEP
    assert [c for c in changes if c.action == "open"] == []


def test_state_round_trip_keeps_a_stuck_run_and_open_events() -> None:
    values = noise(15, 200, 60, 0.5) + [61.5] * 10
    detector = MachineDetector("M1")
    first = run(detector, "temperature", values[:203])
    assert opened(first, "stuck") == []
    restored = MachineDetector.from_state("M1", json.loads(json.dumps(detector.to_state())))
    second = run(restored, "temperature", values[203:] + [61.5] * 5, t0=203 * STEP)
    stuck = opened(second, "stuck")
    assert len(stuck) == 1
    assert stuck[0].start == 200 * STEP
    again = MachineDetector.from_state("M1", json.loads(json.dumps(restored.to_state())))
    later = run(again, "temperature", [61.5] * 3 + [60.0, 60.2], t0=218 * STEP)
    assert opened(later, "stuck") == []  # still the same event: not opened twice
    assert [c.action for c in later if c.kind == "stuck"] == ["close"]
    assert later[-1].id == stuck[0].id


def test_parse_limits() -> None:
    assert parse_limits("temperature:-10:90, pressure:0:10") == {
        "temperature": (-10.0, 90.0),
        "pressure": (0.0, 10.0),
    }
    for bad in ("temperature:90:10", "temperature:1", ":1:2", "t:a:b"):
        try:
            parse_limits(bad)
        except ValueError:
            continue
        raise AssertionError(bad)


def test_a_setpoint_step_is_neither_spike_nor_drift() -> None:
    detector = MachineDetector("M1")
    rng = random.Random(16)
    changes: list[Change] = []
    for i in range(9 * 360):
        level = 60.0 if i < 6 * 360 else 66.0  # a new product's setpoint
        changes += detector.feed("temperature", i * STEP, rng.gauss(level, 0.5), CONFIG)
        changes += detector.feed("vibration", i * STEP, rng.gauss(2.0, 0.2), CONFIG)
    assert [c for c in changes if c.action == "open"] == []


def lagged_machine(
    blocks: list[tuple[str, float]],
    *,
    seed: int,
    drift: tuple[float, float, float] | None = None,
    config: DetectorConfig = CONFIG,
) -> list[Change]:
    """A machine through `blocks` of (state, seconds): temperature and vibration follow the
    state's load through a first-order lag (time constants 900 s and 120 s, like a real
    drive and its housing), with noise; `drift` = (start s, end s, vibration added at the end)
    raises vibration linearly while running."""
    detector = MachineDetector("M1")
    rng = random.Random(seed)
    load_of = {"running": 1.0, "idle": 0.15, "setup": 0.3, "fault": 0.15, "stopped": 0.0}
    temperature, vibration = 25.0, 0.3
    changes: list[Change] = []
    ts = 0.0
    for state, seconds in blocks:
        detector.set_state(state)
        for _ in range(int(seconds / STEP)):
            load = load_of[state]
            offset = 0.0
            if drift is not None and drift[0] <= ts < drift[1]:
                offset = drift[2] * (ts - drift[0]) / (drift[1] - drift[0]) * load
            temperature += (25.0 + load * 30.0 - temperature) * (1 - math.exp(-STEP / 900))
            vibration += (0.3 + load * 2.2 + offset - vibration) * (1 - math.exp(-STEP / 120))
            changes += detector.feed("temperature", ts, temperature + rng.gauss(0, 0.35), config)
            changes += detector.feed("vibration", ts, vibration + rng.gauss(0, 0.1), config)
            ts += STEP
    return changes


SHIFT = [("running", 4 * 3600.0)] + [("idle", 900.0), ("running", 5400.0), ("setup", 1200.0),
                                     ("running", 3600.0)] * 3  # fmt: skip


def test_no_spike_while_metrics_ramp_after_a_start() -> None:
    """Starting to run after idle or setup, the metrics climb to their running level over
    minutes: a ramp, not spikes (nor a drift)."""
    changes = lagged_machine(SHIFT, seed=21)
    assert [c for c in changes if c.action == "open"] == []


def test_spike_after_the_ramp_is_still_flagged() -> None:
    detector = MachineDetector("M1")
    values = noise(22, 400, 2.5, 0.1)
    run(detector, "vibration", values)
    detector.set_state("idle")
    run(detector, "vibration", noise(23, 60, 0.6, 0.05), t0=400 * STEP)
    detector.set_state("running")
    ramp = [2.5 - 1.9 * math.exp(-i * STEP / 120) for i in range(200)]
    values = [v + e for v, e in zip(ramp, noise(24, 200, 0.0, 0.1), strict=True)]
    held = int(CONFIG.spike_hold_s / STEP)
    values[5] += 1.5  # inside the hold: part of the start, not scored
    values[held + 40] += 1.5  # settled: a spike
    changes = run(detector, "vibration", values, t0=460 * STEP)
    spikes = opened(changes, "spike")
    assert [c.start for c in spikes] == [(460 + held + 40) * STEP]


def test_slow_drift_across_stops_is_caught_before_the_fault() -> None:
    """Vibration rising 60% over three hours of a shift with idle and setup between running
    stretches: a drift opens before the end, naming vibration, and a fault closes it."""
    start = sum(s for _, s in SHIFT[:4])  # after the first running block and a cycle
    end = sum(s for _, s in SHIFT)
    changes = lagged_machine(
        [*SHIFT, ("fault", 1800.0), ("running", 3600.0)], seed=25, drift=(start, end, 1.5)
    )
    drifts = [c for c in changes if c.kind == "drift"]
    assert [c.action for c in drifts if c.action != "update"] == ["open", "close"]
    assert start < drifts[0].at < end
    assert "vibration" in drifts[0].metrics
    assert drifts[-1].detail.get("endedBy") == "fault"
    assert [c.kind for c in changes if c.action == "open"] == ["drift"]


def test_drift_state_round_trip_keeps_a_pending_fault_close() -> None:
    detector = MachineDetector("M1")
    run(detector, "vibration", noise(26, 100, 2.0, 0.1))
    detector.drift.episode = Episode("e1", 0.0, 990.0, 7.0, {"shift": {"vibration": 7.0}})
    detector.set_state("fault")
    restored = MachineDetector.from_state("M1", json.loads(json.dumps(detector.to_state())))
    changes = run(restored, "vibration", [0.5], t0=1000 * STEP)
    assert [(c.action, c.kind, c.id) for c in changes] == [("close", "drift", "e1")]


def repaired_machine(config: DetectorConfig, *, seed: int) -> tuple[list[Change], float, float]:
    """Eight hours running worn (vibration 3.0: the baseline learns it), a fault, then the
    repaired machine at 2.0 for two hours and its vibration rising to 3.5 over four more,
    up to the next fault. Returns the changes and the rise's start and end."""
    detector = MachineDetector("M1")
    rng = random.Random(seed)
    changes: list[Change] = []

    def running(t0: float, seconds: float, level: Callable[[float], float]) -> float:
        detector.set_state("running")
        for i in range(int(seconds / STEP)):
            ts = t0 + i * STEP
            changes.extend(detector.feed("temperature", ts, rng.gauss(60, 0.5), config))
            changes.extend(detector.feed("vibration", ts, rng.gauss(level(ts), 0.2), config))
        return t0 + seconds

    ts = running(0.0, 8 * 3600.0, lambda _: 3.0)
    detector.set_state("fault")
    ts = running(ts + 1800.0, 2 * 3600.0, lambda _: 2.0)
    start, end = ts, ts + 4 * 3600.0
    running(start, end - start, lambda t: 2.0 + 1.5 * (t - start) / (end - start))
    detector.set_state("fault")
    return changes, start, end


def test_a_drift_after_a_repair_is_scored_against_the_repaired_machine() -> None:
    """The baseline learnt a worn machine; after the repair vibration is back at 2.0 and
    rises again: the reference (the first settled running hour after the repair) catches
    the rise before the fault, and nothing opens before it began."""
    changes, start, end = repaired_machine(CONFIG, seed=31)
    drifts = opened(changes, "drift")
    assert len(drifts) == 1
    assert start < drifts[0].at < end
    assert "vibration" in drifts[0].metrics
    assert [c.kind for c in changes if c.action == "open"] == ["drift"]


def test_without_a_reference_the_worn_baseline_hides_the_drift() -> None:
    """ANOMALY_DRIFT_REFERENCE_S=0: the old behaviour, the drift rises towards the worn
    baseline (kept frozen away from the repaired level) and is missed."""
    config = dataclasses.replace(CONFIG, drift_reference_s=0.0)
    changes, _start, _end = repaired_machine(config, seed=31)
    assert opened(changes, "drift") == []


def test_reference_survives_a_state_round_trip() -> None:
    """Half-way through learning a reference after a repair, the state goes through JSON
    and the restored detector carries on exactly as the original."""
    detector = MachineDetector("M1")
    run(detector, "vibration", noise(32, 720, 3.0, 0.2))
    detector.set_state("fault")
    detector.set_state("running")
    run(detector, "vibration", noise(33, 200, 2.0, 0.2), t0=1000 * STEP)
    assert detector.drift.ref_open
    assert 0 < detector.drift.ref["vibration"][1] < CONFIG.drift_reference_s
    restored = MachineDetector.from_state("M1", json.loads(json.dumps(detector.to_state())))
    rest = noise(34, 400, 2.0, 0.2)
    run(detector, "vibration", rest, t0=1200 * STEP)
    run(restored, "vibration", rest, t0=1200 * STEP)
    assert restored.to_state() == detector.to_state()
    assert detector.drift.ref["vibration"][1] >= CONFIG.drift_reference_s
    assert abs(detector.drift.ref["vibration"][0] - 2.0) < 0.1

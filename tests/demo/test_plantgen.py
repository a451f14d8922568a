"""The misbehaving plant (protheus_demo.plantgen): deterministic per seed, its ground truth
honest about the data, loaded into a real MES database and replayed through a real broker
in messages the ingestor's parser accepts."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
from collections import Counter
from zoneinfo import ZoneInfo

import aiomqtt
import asyncpg
import pytest

from protheus_demo.plantgen import (
    LIMITS,
    METRICS,
    PlantData,
    demo_machines,
    generate,
    load,
    read_truth,
    replay,
    write_truth,
)
from protheus_demo.plantgen.generate import DRIFT_S, MIN_DRIFT_S
from services.telemetry.ingest.parse import parse_message
from tests.support.telemetry import Broker

START = dt.datetime(2026, 11, 2, 3, tzinfo=dt.UTC)  # a Monday, 00:00 plant time


@pytest.fixture(scope="module")
def plant() -> PlantData:
    return generate(7, machines=4, start=START, days=6, step_s=10)


@pytest.fixture(scope="module")
def readings(plant: PlantData) -> dict[str, list[tuple[dt.datetime, dict[str, float]]]]:
    return {m: list(plant.frames(m)) for m, *_ in plant.machines}


def series(
    readings: dict[str, list[tuple[dt.datetime, dict[str, float]]]],
    machine: str,
    metric: str,
    start: dt.datetime,
    end: dt.datetime,
) -> list[float]:
    return [v[metric] for ts, v in readings[machine] if start <= ts <= end and metric in v]


def test_the_same_seed_makes_the_same_plant_and_another_seed_another() -> None:
    a = generate(3, machines=3, start=START, days=2, step_s=30)
    b = generate(3, machines=3, start=START, days=2, step_s=30)
    c = generate(4, machines=3, start=START, days=2, step_s=30)
    assert a.events == b.events
    assert a.states == b.states
    assert a.counters == b.counters
    assert list(a.samples()) == list(b.samples())
    assert a.events != c.events
    assert list(a.samples("CORTE1"))[:500] != list(c.samples("CORTE1"))[:500]
    # The samples are recomputed on demand: a second pass gives the same rows.
    assert list(a.samples("CRIMP1")) == list(a.samples("CRIMP1"))


def test_machines_are_the_demo_plants_grouped_in_lines() -> None:
    rows = demo_machines(12)
    assert [m for m, *_ in rows[:3]] == ["CORTE1", "CRIMP1", "PRENS1"]
    assert rows[10][0] == "CORTE2"
    assert all(site == "matriz" and line == m.rstrip("0123456789").lower()
               for m, site, _area, line in rows)  # fmt: skip
    assert len(demo_machines()) == 30  # the default demo scale: 3 per kind


def test_every_kind_of_event_is_injected_at_realistic_rates(plant: PlantData) -> None:
    kinds = Counter(e.kind for e in plant.events)
    machine_days = 4 * 6
    for kind in ("spike", "stuck", "out_of_range"):
        assert 0.5 <= kinds[kind] / machine_days <= 5, kinds
    assert kinds["fault"] >= 4, kinds
    assert set(kinds) == {"spike", "stuck", "out_of_range", "drift", "fault"}


def test_a_stuck_sensor_is_really_flat(plant: PlantData, readings) -> None:
    step = dt.timedelta(seconds=plant.step_s)
    for event in plant.truth("stuck"):
        (metric,) = event.metrics
        values = series(readings, event.machine, metric, event.start - step, event.end)
        assert len(values) >= 3, event
        assert len(set(values)) == 1, event
        # While the machine runs throughout (cycle_time is sampled only then).
        running = series(readings, event.machine, "cycle_time", event.start - step, event.end)
        assert len(running) == len(values), event
        assert (event.end - event.start).total_seconds() >= 120  # minutes, not samples
        # The reading after it moves again.
        after = series(readings, event.machine, metric, event.end + step, event.end + step)
        assert after, event
        assert after[0] != values[0], event


def test_out_of_range_readings_are_beyond_the_limits(plant: PlantData, readings) -> None:
    for event in plant.truth("out_of_range"):
        (metric,) = event.metrics
        low, high = LIMITS[metric]
        values = series(readings, event.machine, metric, event.start, event.end)
        assert values, event
        assert all(v < low or v > high for v in values), (event, values)


def test_normal_readings_and_spikes_stay_inside_the_limits(plant: PlantData, readings) -> None:
    outside = {(e.machine, e.metrics[0], e.start, e.end) for e in plant.truth("out_of_range")}
    checked = 0
    for machine, frames in readings.items():
        spans = [(m, a, b) for mach, m, a, b in outside if mach == machine]
        for ts, values in frames:
            for metric, value in values.items():
                low, high = LIMITS[metric]
                if low <= value <= high:
                    checked += 1
                    continue
                assert any(m == metric and a <= ts <= b for m, a, b in spans), (
                    machine, metric, ts, value,
                )  # fmt: skip
    assert checked > 4 * 6 * 8640 * 4


def test_a_spike_is_far_beyond_the_noise(plant: PlantData, readings) -> None:
    step = dt.timedelta(seconds=plant.step_s)
    for event in plant.truth("spike"):
        (metric,) = event.metrics
        before = series(readings, event.machine, metric, event.start - 6 * step, event.start - step)
        spike = series(readings, event.machine, metric, event.start, event.end)
        assert spike, event
        assert len(before) >= 3, event
        run = plant.runs[event.machine]
        frame = next(v for ts, v in readings[event.machine] if ts == event.start - step)
        sd = run.noise_sd(metric, frame)  # the noise the machine had just before
        baseline = sum(before) / len(before)
        worst = max(abs(v - baseline) for v in spike)
        # Clearly beyond the noise, on a settled process (not a load ramp), inside the limits.
        assert worst >= 10 * sd, (event, before, spike, sd)
        assert max(before) - min(before) <= 8 * sd, (event, before)
        low, high = LIMITS[metric]
        assert all(low <= v <= high for v in spike)


def test_drifts_precede_most_faults_and_rise(plant: PlantData, readings) -> None:
    faults = {(e.machine, e.start): e for e in plant.truth("fault")}
    drifts = plant.truth("drift")
    for drift in drifts:
        assert drift.fault_at == drift.end
        assert (drift.machine, drift.fault_at) in faults
        hours = (drift.end - drift.start).total_seconds() / 3600
        # Longer than the risk horizon mostly; cut short only by the fault before it.
        assert MIN_DRIFT_S / 3600 <= hours <= DRIFT_S[1] / 3600, drift
        assert "vibration" in drift.metrics
    # Over a longer, coarser run: about three faults in four come with a warning.
    big = generate(11, machines=12, start=START, days=28, step_s=300)
    share = len(big.truth("drift")) / len(big.truth("fault"))
    assert 0.65 <= share <= 0.9, share
    faults_per_day = len(big.truth("fault")) / (12 * 28)
    assert 1 / 3 <= faults_per_day <= 1, faults_per_day


def test_a_drift_raises_vibration_while_running(plant: PlantData, readings) -> None:
    drift = max(plant.truth("drift"), key=lambda e: e.end - e.start)
    states = sorted((ts, s) for m, ts, s, _ in plant.states if m == drift.machine)

    def running_vibration(start: dt.datetime, end: dt.datetime) -> list[float]:
        out = []
        for ts, values in readings[drift.machine]:
            if start <= ts < end and "cycle_time" in values:  # running
                out.append(values["vibration"])
        return out

    span = drift.end - drift.start
    early = running_vibration(drift.start, drift.start + span / 4)
    late = running_vibration(drift.end - span / 4, drift.end)
    assert states
    assert late
    if early:
        assert sum(late) / len(late) > sum(early) / len(early) + 0.2


def test_shifts_stop_the_two_shift_lines_at_night(plant: PlantData) -> None:
    tz = ZoneInfo("America/Sao_Paulo")
    prens = [(ts.astimezone(tz), s) for m, ts, s, _ in plant.states if m == "PRENS1"]
    assert any(s == "stopped" and ts.hour == 22 for ts, s in prens)
    assert not any(s == "running" and ts.hour < 6 for ts, s in prens)
    counters = [c for c in plant.counters if c[0] == "PRENS1"]
    assert counters
    assert all(g >= 0 and s >= 0 for _, _, g, s, _ in counters)


def test_the_live_demo_pattern_runs_round_the_clock() -> None:
    sunday = dt.datetime(2026, 11, 29, 3, tzinfo=dt.UTC)
    usual = generate(2, machines=3, start=sunday, days=0.5, step_s=60)
    assert {s for _, _, s, _ in usual.states} == {"stopped"}
    always = generate(2, machines=3, start=sunday, days=0.5, step_s=60, shifts="24x7")
    assert "stopped" not in {s for _, _, s, _ in always.states}
    with pytest.raises(ValueError, match="shift pattern"):
        generate(2, machines=1, start=sunday, days=1, shifts="4x")


def test_truth_round_trips_through_its_json(plant: PlantData, tmp_path) -> None:
    path = write_truth(plant, tmp_path)
    assert read_truth(path) == plant.events
    document = json.loads(path.read_text())
    assert document["limits"]["vibration"] == list(LIMITS["vibration"])
    assert document["metrics"] == list(METRICS)


async def test_load_copies_the_plant_into_the_mes_tables(mes_dsn: str) -> None:
    data = generate(5, machines=2, start=START, days=1.5, step_s=60)
    conn = await asyncpg.connect(mes_dsn)
    try:
        counts = await load(conn, data, chunk_rows=5_000)
        expected = sum(1 for _ in data.samples())
        assert counts["samples"] == expected
        assert await conn.fetchval("SELECT count(*) FROM telemetry_samples") == expected
        assert await conn.fetchval("SELECT count(*) FROM machine_states") == len(data.states)
        assert await conn.fetchval("SELECT count(*) FROM machine_counters") == len(data.counters)
        rows = await conn.fetch("SELECT machine, site, area, line FROM machines ORDER BY 1")
        assert [tuple(r) for r in rows] == sorted(data.machines)
        metrics = {r[0] for r in await conn.fetch("SELECT DISTINCT metric FROM telemetry_samples")}
        assert metrics == set(METRICS)
    finally:
        await conn.close()


async def test_replay_publishes_what_the_ingestors_parser_accepts(broker: Broker) -> None:
    data = generate(9, machines=2, start=START + dt.timedelta(hours=10), days=1 / 48, step_s=10)
    received: list[tuple[str, bytes]] = []
    frames = sum(run.steps for run in data.runs.values())
    assert frames == 2 * 180
    expected = frames + len(data.states) + len(data.counters)

    async with aiomqtt.Client("127.0.0.1", broker.port, identifier="plantgen-test") as client:
        await client.subscribe("mes/v1/#", qos=1)

        async def collect() -> None:
            async for message in client.messages:
                received.append((str(message.topic), bytes(message.payload)))  # type: ignore[arg-type]
                if len(received) >= expected:
                    return

        collector = asyncio.create_task(collect())
        published = await replay(data, broker.url, speed=0)
        assert published == expected
        await asyncio.wait_for(collector, 30)
        with contextlib.suppress(asyncio.CancelledError):
            await collector

    now = dt.datetime.now(dt.UTC)
    channels = Counter(topic.rsplit("/", 1)[1] for topic, _ in received)
    assert channels["telemetry"] == frames
    assert channels["state"] == len(data.states)
    for topic, payload in received:
        parsed = parse_message(topic, payload, tz=ZoneInfo("America/Sao_Paulo"), now=now,
                               retention_days=90)  # fmt: skip
        assert not parsed.dead, (topic, payload, parsed.dead)
        assert parsed.machine is not None
        # Stamped with the current time: the data's start became now.
        assert abs((parsed.machine[4] - now).total_seconds()) < 3600
    first = next(p for t, p in received if t.endswith("CORTE1/telemetry"))
    assert set(json.loads(first)["metrics"]) <= set(METRICS)
    assert received[0][0].startswith("mes/v1/matriz/preparacao/corte/CORTE1/") or received[0][
        0
    ].startswith("mes/v1/matriz/preparacao/crimp/CRIMP1/")


async def test_make_run_publishes_the_demo_plant_live_when_asked(
    broker: Broker, demo_protheus_dsn: str, mes_dsn: str
) -> None:
    from devserver.demo import start_demo_telemetry
    from shared.settings import Settings

    settings = Settings.from_env(
        {
            "MQTT_URL": broker.url,
            "DEMO_TELEMETRY": "on",
            "DEMO_TELEMETRY_HISTORY_DAYS": "0",  # no history (tests/devserver load one)
            "MES_DB_URL": mes_dsn,
            "PROTHEUS_DB_URL": demo_protheus_dsn,
        }
    )
    assert settings.demo_telemetry
    assert not Settings.from_env({}).demo_telemetry
    seen: set[str] = set()
    async with aiomqtt.Client("127.0.0.1", broker.port, identifier="plantgen-live") as client:
        await client.subscribe("mes/v1/+/+/+/+/telemetry", qos=1)
        async with contextlib.AsyncExitStack() as stack:
            await start_demo_telemetry(stack, settings, "tiny")

            async def first_of_each() -> None:
                async for message in client.messages:
                    seen.add(str(message.topic).split("/")[5])
                    if len(seen) == 20:  # the tiny scale: 2 machines per kind
                        return

            await asyncio.wait_for(first_of_each(), 30)
    assert {"CORTE1", "CORTE2", "EXTRU2"} <= seen

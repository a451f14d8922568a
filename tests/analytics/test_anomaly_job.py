"""The anomaly detector's job on a real MES database: committed samples in, anomaly_events and
alert_outbox rows out, bounded runs that catch up, and a restart that keeps the detectors'
state (a stuck run spanning it is still one event)."""

from __future__ import annotations

import datetime as dt
import json
import random
from collections.abc import AsyncIterator

import asyncpg
import pytest

from services.analytics.anomalies.job import AnomalyDetection, detect_until_caught_up
from services.telemetry.ingest.parse import Parsed
from services.telemetry.ingest.store import TelemetryStore
from shared.settings import AnomalySettings, Settings

STEP = dt.timedelta(seconds=10)
T0 = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(hours=3)


def settings(**overrides: object) -> Settings:
    return Settings(anomaly=AnomalySettings(**{"lag_s": 5.0, **overrides}))  # type: ignore[arg-type]


@pytest.fixture
async def mes(mes_dsn: str) -> AsyncIterator[tuple[asyncpg.Connection, asyncpg.Pool]]:
    conn = await asyncpg.connect(mes_dsn)
    pool = await asyncpg.create_pool(mes_dsn, min_size=0, max_size=4)
    yield conn, pool
    await pool.close()
    await conn.close()


def message(machine: str, metric: str, points: list[tuple[dt.datetime, float]]) -> Parsed:
    return Parsed(
        machine=(machine, "porto", "usinagem", "linha1", max(ts for ts, _ in points)),
        samples=[(machine, metric, ts, value) for ts, value in points],
        sample_days={ts.date() for ts, _ in points},
    )


def series(
    seed: int, start: dt.datetime, n: int, mean: float = 60.0
) -> list[tuple[dt.datetime, float]]:
    rng = random.Random(seed)
    return [(start + i * STEP, rng.gauss(mean, 0.5)) for i in range(n)]


async def write(conn: asyncpg.Connection, *messages: Parsed) -> None:
    await TelemetryStore().write(conn, list(messages))


async def outbox(conn: asyncpg.Connection) -> list[dict[str, object]]:
    rows = await conn.fetch("SELECT payload FROM alert_outbox ORDER BY id")
    return [json.loads(r["payload"]) for r in rows]


async def test_samples_in_events_and_alerts_out(mes):
    conn, pool = mes
    temperature = series(1, T0, 400)
    temperature[150] = (temperature[150][0], 75.0)  # spike
    for i in range(250, 262):  # stuck for 110 s
        temperature[i] = (temperature[i][0], 61.25)
    pressure = series(2, T0, 400, mean=5.0)
    pressure[300] = (pressure[300][0], 14.0)  # out of range (pressure max 10)
    await write(
        conn, message("M1", "temperature", temperature), message("M1", "pressure", pressure)
    )
    await conn.execute(
        "INSERT INTO machine_states (machine, ts, state) VALUES ('M1', $1, 'running')", T0
    )

    # Bounded runs (50 samples per series each): several runs to catch up.
    written = await detect_until_caught_up(pool, settings(batch_rows=100))
    events = await conn.fetch(
        "SELECT id, machine, kind, metrics, started_at, ended_at, score FROM anomaly_events"
        " ORDER BY started_at"
    )
    assert [(e["kind"], e["metrics"]) for e in events] == [
        ("spike", ["temperature"]),
        ("stuck", ["temperature"]),
        ("out_of_range", ["pressure"]),
    ]
    assert written == 3
    assert events[0]["started_at"] == temperature[150][0]
    assert events[1]["started_at"] == temperature[250][0]
    assert events[1]["ended_at"] == temperature[261][0]
    assert events[2]["started_at"] == pressure[300][0]
    assert all(e["ended_at"] is not None for e in events)

    alerts = await outbox(conn)
    assert [(a["event"], a["kind"]) for a in alerts] == [
        ("open", "spike"),
        ("close", "spike"),
        ("open", "stuck"),
        ("close", "stuck"),
        ("open", "out_of_range"),
        ("close", "out_of_range"),
    ]
    first = alerts[0]
    assert first["type"] == "anomaly"
    assert first["machine"] == "M1"
    assert first["id"] == str(events[0]["id"])
    assert first["end"] is None
    assert alerts[1]["end"] is not None
    assert set(first) == {
        "type", "event", "id", "machine", "kind", "metrics", "start", "end", "score", "ts"
    }  # fmt: skip

    # Read up to the machine's front (its newest message) minus ANOMALY_LAG_S.
    upto = await conn.fetchval("SELECT upto FROM anomaly_detector_state WHERE machine = 'M1'")
    assert upto == temperature[-1][0] - dt.timedelta(seconds=5)
    # Caught up: nothing new, nothing written twice.
    assert await detect_until_caught_up(pool, settings()) == 0
    assert await conn.fetchval("SELECT count(*) FROM alert_outbox") == 6


async def test_restart_keeps_a_stuck_run_and_opens_no_duplicate(mes):
    conn, pool = mes
    clock = {"now": T0}
    points = series(3, T0, 200) + [(T0 + (200 + i) * STEP, 61.5) for i in range(20)]
    points += series(4, T0 + 220 * STEP, 30)
    config = settings(backfill_h=1.0)
    written = 0

    async def run_to(index: int) -> None:
        """A fresh detector (a restarted service) run up to the sample `index` (the next one
        committed: the machine's front is ANOMALY_LAG_S after it)."""
        nonlocal written
        await write(conn, message("M2", "temperature", points[written : index + 2]))
        written = index + 2
        clock["now"] = points[index][0] + dt.timedelta(seconds=5, milliseconds=1)
        detection = AnomalyDetection(pool, config, clock=lambda: clock["now"])
        while not (await detection.run_once()).caught_up:
            pass

    await run_to(203)  # four flat samples: not stuck yet
    assert await conn.fetchval("SELECT count(*) FROM anomaly_events") == 0
    await run_to(210)  # the run spans the restart: stuck since sample 200
    stuck = await conn.fetch("SELECT id, started_at, ended_at FROM anomaly_events")
    assert [(r["started_at"], r["ended_at"]) for r in stuck] == [(points[200][0], None)]
    await run_to(215)  # still the same open event
    await run_to(249)  # closes
    rows = await conn.fetch("SELECT id, started_at, ended_at FROM anomaly_events")
    assert [(r["id"], r["ended_at"]) for r in rows] == [(stuck[0]["id"], points[219][0])]
    assert [(a["event"], a["kind"]) for a in await outbox(conn)] == [
        ("open", "stuck"),
        ("close", "stuck"),
    ]
    state = await conn.fetchrow("SELECT metrics FROM anomaly_detector_state WHERE machine = 'M2'")
    assert state["metrics"] == ["temperature"]


async def test_a_machine_whose_clock_is_behind_is_read_in_its_own_time(mes):
    """A PLC 10 minutes behind the wall clock (far more than ANOMALY_LAG_S): its samples are
    read up to its own newest message, and its spike is found, beside a punctual machine."""
    conn, pool = mes
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    behind = now - dt.timedelta(minutes=10)
    late_clock = series(11, behind - 300 * STEP, 301)
    punctual = series(12, now - 300 * STEP, 301)
    detection = AnomalyDetection(pool, settings())
    # The stream so far, then a run (the detector is in its steady state, reading both).
    await write(conn, message("M3", "temperature", late_clock[:200]))
    await write(conn, message("M4", "temperature", punctual[:200]))
    while not (await detection.run_once()).caught_up:
        pass
    # More of both streams, the skewed machine's with a spike.
    late_clock[250] = (late_clock[250][0], 75.0)
    await write(conn, message("M3", "temperature", late_clock[200:]))
    await write(conn, message("M4", "temperature", punctual[200:]))
    while not (await detection.run_once()).caught_up:
        pass
    events = await conn.fetch("SELECT machine, kind, started_at FROM anomaly_events")
    assert [(e["machine"], e["kind"], e["started_at"]) for e in events] == [
        ("M3", "spike", late_clock[250][0])
    ]
    uptos = dict(await conn.fetch("SELECT machine, upto FROM anomaly_detector_state"))
    assert uptos == {
        "M3": late_clock[-1][0] - dt.timedelta(seconds=5),
        "M4": punctual[-1][0] - dt.timedelta(seconds=5),
    }


async def test_samples_committed_late_are_scored(mes):
    """A backlog committed long after its samples' time (an MES database outage the ingestor
    spooled through, a device forwarding its buffer after a network loss): the machine's
    front did not move meanwhile, so nothing was skipped; its spike and range violation are
    found once the backlog is committed. A sample committed behind the machine's progress
    is counted as late."""
    conn, pool = mes
    points = series(13, T0, 300)
    points[150] = (points[150][0], 75.0)  # spike during the outage
    points[160] = (points[160][0], 500.0)  # out of range (any temperature limit)
    late: list[int] = []
    detection = AnomalyDetection(pool, settings(), late=late.append)
    await write(conn, message("M6", "temperature", points[:100]))
    await detection.run_once()  # the wall clock is hours past these samples
    assert await conn.fetchval("SELECT count(*) FROM anomaly_events") == 0
    # The backlog, drained in two flushes as the ingestor would (last_seen moving forward).
    await write(conn, message("M6", "temperature", points[100:200]))
    await write(conn, message("M6", "temperature", points[200:]))
    while not (await detection.run_once()).caught_up:
        pass
    events = await conn.fetch("SELECT kind, started_at FROM anomaly_events ORDER BY started_at")
    assert [(e["kind"], e["started_at"]) for e in events] == [
        ("spike", points[150][0]),
        ("out_of_range", points[160][0]),
    ]
    upto = await conn.fetchval("SELECT upto FROM anomaly_detector_state WHERE machine = 'M6'")
    assert upto == points[-1][0] - dt.timedelta(seconds=5)
    # A sample committed now, behind how far the machine was read: it cannot be fed any more.
    assert late == []
    stray = Parsed(
        machine=("M6", "porto", "usinagem", "linha1", points[-1][0]),
        samples=[("M6", "temperature", upto - dt.timedelta(seconds=1), 60.0)],
        sample_days={upto.date()},
    )
    await write(conn, stray)
    await detection.run_once()
    assert late == [1]
    await detection.run_once()
    assert late == [1]  # counted once


async def test_without_backfill_a_new_machine_is_read_from_its_first_front(mes):
    """ANOMALY_BACKFILL_H=0: a machine seen for the first time is registered at its front with
    nothing read; what it sends after that is scored (it was never left unregistered, read
    from nowhere, run after run)."""
    conn, pool = mes
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    points = series(14, now - 400 * STEP, 400)
    points[300] = (points[300][0], 75.0)  # after the first run: found
    points[50] = (points[50][0], 75.0)  # before it: history, not read
    detection = AnomalyDetection(pool, settings(backfill_h=0.0))
    await write(conn, message("M7", "temperature", points[:100]))
    await detection.run_once()
    first = await conn.fetchval("SELECT upto FROM anomaly_detector_state WHERE machine = 'M7'")
    assert first == points[99][0] - dt.timedelta(seconds=5)
    await write(conn, message("M7", "temperature", points[100:]))
    while not (await detection.run_once()).caught_up:
        pass
    events = await conn.fetch("SELECT kind, started_at FROM anomaly_events")
    assert [(e["kind"], e["started_at"]) for e in events] == [("spike", points[300][0])]


async def test_the_analytics_app_runs_the_job(analytics_app, mes, tmp_path):
    """ANALYTICS_ENABLED: the `anomalies` job runs in the app and reports on /readyz."""
    import asyncio

    from services.analytics.keys import JOBS
    from shared.settings import AnalyticsSettings
    from tests.support.analytics import BI_PASSWORD

    conn, _ = mes
    points = series(5, T0, 100)
    points[70] = (points[70][0], 75.0)
    await write(conn, message("M5", "temperature", points))
    client = await analytics_app(
        analytics=AnalyticsSettings(
            enabled=True,
            sync_min=60,
            rollup_s=60,
            export_min=60,
            lake_dir=str(tmp_path / "lake"),
            bi_password=BI_PASSWORD,
            mqtt_url="mqtt://127.0.0.1:1",  # no broker: alerts wait in the outbox
            alert_backoff_max_s=0.5,
        ),
        anomaly=AnomalySettings(interval_s=0.2),
    )
    job = client.app[JOBS]["anomalies"]
    await asyncio.wait_for(job.succeeded.wait(), 60)
    for _ in range(200):
        if await conn.fetchval("SELECT count(*) FROM anomaly_events"):
            break
        await asyncio.sleep(0.1)
    assert await conn.fetchval("SELECT kind FROM anomaly_events") == "spike"
    assert await conn.fetchval("SELECT count(*) FROM alert_outbox WHERE published_at IS NULL") == 2
    body = await (await client.get("/readyz")).json()
    assert "anomalies" in str(body)
    assert "alert_publisher" in str(body)

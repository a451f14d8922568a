"""Anomaly detection beside ingestion: ingest throughput with the detector running against
without it, in the same run, and the detector's memory over its run.

    python -m bench anomaly_ingest [--duration SECONDS]      (default 300: five minutes)
    python -m bench.anomaly_ingest [--duration SECONDS]

A PLC fleet (MACHINES machines, the generator's five metrics, normal noise, wall-clock
timestamps) publishes through Mosquitto at QoS 1, as fast as it can, for the whole run; the
ingestor (`python -m services.telemetry.ingest`) stores it; the detector job's loop runs in a
process of its own (`python -m bench.anomaly_ingest detect`, as the analytics service runs it,
every ANOMALY_INTERVAL_S). Phases alternate, PHASE_S long with the detector on and half that
with it off (SIGSTOP), ending with an off one, so that both figures are taken over the same
stretch of the host's other load; on resuming, the detector skips what came in while it was
stopped (each on phase measures its steady work, not a backlog). Rows stored per second come
from the ingestor's own counter (telemetry_rows_total) at the phase boundaries. The
detector's RSS is sampled every second of its `--duration` on; bounded = the median of its
last quarter against its second quarter.
Target (issue 16): on / off >= 0.9.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import logging
import os
import random
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiomqtt
import asyncpg
import orjson

from bench.common import ROOT, migrated_database, save
from bench.telemetry import discard_session, quarter_growth, rss_mb, scrape, wait_for_session
from deploy.supervisor import free_port
from tests.support.telemetry import Broker

DATABASE = "bench_anomaly"
DSN = f"postgresql://postgres@127.0.0.1:5432/{DATABASE}"
MACHINES = 40
INFLIGHT = 200
METRICS = {  # mean, standard deviation (the generator's metrics, inside ANOMALY_LIMITS)
    "temperature": (65.0, 0.8),
    "vibration": (3.0, 0.2),
    "motor_current": (22.0, 0.6),
    "pressure": (6.0, 0.1),
    "cycle_time": (42.0, 1.0),
}
DEFAULT_DURATION_S = 300.0
PHASE_S = 30.0


# --- the fleet ---------------------------------------------------------------------------------


async def publish(port: int, seconds: float, machines: int) -> None:
    """Telemetry messages round-robin over the machines until `seconds` have passed."""
    logging.getLogger("mqtt").setLevel(logging.ERROR)  # "N pending publish calls": by design
    rng = random.Random(16)
    deadline = time.monotonic() + seconds
    async with aiomqtt.Client(
        "127.0.0.1", port, identifier="bench-anomaly-fleet", max_inflight_messages=INFLIGHT
    ) as client:
        pending = []
        n = 0
        while time.monotonic() < deadline:
            machine = n % machines
            ts = dt.datetime.now(dt.UTC).isoformat()
            values = {name: rng.gauss(mean, sd) for name, (mean, sd) in METRICS.items()}
            body = orjson.dumps({"ts": ts, "metrics": values})
            topic = f"mes/v1/bench/area/line/AM{machine:03d}/telemetry"
            pending.append(client.publish(topic, body, qos=1))
            n += 1
            if len(pending) >= INFLIGHT:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)


# --- the detector, as the analytics job runs it ------------------------------------------------


async def detect(dsn: str) -> None:
    """The anomaly job's loop (services.analytics.anomalies.job) until SIGTERM."""
    from services.analytics.anomalies.job import AnomalyDetection
    from shared.settings import Settings

    settings = Settings.from_env({**os.environ, "MES_DB_URL": dsn})
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
    stop, skip = asyncio.Event(), asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGUSR1, skip.set)
    print("ready", flush=True)  # the bench signals it only from now on
    detection = AnomalyDetection(pool, settings)
    interval = settings.anomaly.interval_s
    try:
        while not stop.is_set():
            if skip.is_set():
                skip.clear()
                async with pool.acquire() as conn, conn.transaction():
                    await conn.execute(
                        "UPDATE anomaly_detector_state d SET upto = GREATEST(d.upto, m.last_seen"
                        " - $1 * interval '1 second') FROM machines m WHERE m.machine = d.machine",
                        settings.anomaly.lag_s,
                    )
                    # What the skip passed over is not late: the late-sample count starts here.
                    await conn.execute("UPDATE anomaly_detector_run SET read_at = now()")
            await detection.run(max(interval, 1.0))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)
    finally:
        await pool.close()


def cpu_s(pid: int) -> float:
    """Processor seconds (user + system) the process has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- the run ----------------------------------------------------------------------------------


async def counters(port: int) -> tuple[float, float, float]:
    """Now, rows committed and messages taken off the broker, from the ingestor's figures."""
    figures = await asyncio.to_thread(scrape, port)
    return (
        time.perf_counter(),
        figures.get("telemetry_rows_total", 0.0),
        figures.get("telemetry_spooled_messages_total", 0.0),
    )


async def phase_rate(
    port: int, seconds: float, sample: list[float] | None, pid: int | None
) -> tuple[float, float]:
    """Rows per second the ingestor stored, and messages per second it took off the broker,
    over the next `seconds` (sampling the detector's RSS every second meanwhile)."""
    started, rows_before, taken_before = await counters(port)
    while time.perf_counter() - started < seconds:
        await asyncio.sleep(1.0)
        if sample is not None and pid is not None:
            sample.append(rss_mb(pid))
    ended, rows_after, taken_after = await counters(port)
    elapsed = ended - started
    return (rows_after - rows_before) / elapsed, (taken_after - taken_before) / elapsed


async def run(duration_s: float) -> dict[str, object]:
    # Short alternating phases: the host's other load drifts over minutes, and each figure is
    # taken over the same stretch of it. Off phases are half as long as on ones.
    phase_s = min(PHASE_S, duration_s / 2)
    rounds = max(1, round(duration_s / phase_s))
    off_s = phase_s / 2
    await migrated_database(DATABASE)
    with tempfile.TemporaryDirectory() as directory:
        broker = Broker(port=free_port(), directory=Path(directory))
        await broker.start()
        metrics_port = free_port()
        env = {
            **os.environ, "MES_DB_URL": DSN, "MQTT_URL": broker.url,
            "MQTT_CLIENT_ID": "bench-anomaly-ingestor", "LOG_LEVEL": "WARNING",
            "INGEST_SPOOL_DIR": str(Path(directory) / "spool"),
            "INGEST_METRICS_PORT": str(metrics_port), "MQTT_BROKER_MANAGED": "true",
            "ANOMALY_BACKFILL_H": "0",  # steady state: the detector starts at now
            # A steady stream: the drainer keeps up instead of spooling first (its default
            # waits up to 300 s for a busy stream to pause, and the detector reads committed
            # rows only).
            "INGEST_DRAIN_MAX_LAG_S": "1",
        }  # fmt: skip
        ingestor = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "services.telemetry.ingest", cwd=ROOT, env=env
        )
        conn = await asyncpg.connect(DSN)
        fleet = detector = None
        memory: list[float] = []
        off: list[tuple[float, float]] = []
        on: list[tuple[float, float]] = []
        try:
            await wait_for_session(broker, conn)
            total = rounds * phase_s + (rounds + 1) * off_s + 60
            fleet = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bench.anomaly_ingest", "publish",
                str(broker.port), str(total), str(MACHINES), cwd=ROOT, env=env,
            )  # fmt: skip
            await asyncio.sleep(5)  # the stream settles
            detector = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bench.anomaly_ingest", "detect", DSN, cwd=ROOT, env=env,
                stdout=asyncio.subprocess.PIPE,
            )  # fmt: skip
            assert detector.stdout is not None
            await asyncio.wait_for(detector.stdout.readline(), 60)  # its signal handlers are set
            # Off: the detector process is stopped (SIGSTOP: no processor time, its memory
            # kept). On: it is told to skip what came in meanwhile (SIGUSR1: each machine's
            # progress to its front, last_seen - ANOMALY_LAG_S) and continued, so each on
            # phase measures its steady work.
            for _ in range(rounds):
                detector.send_signal(signal.SIGSTOP)
                off.append(await phase_rate(metrics_port, off_s, None, None))
                detector.send_signal(signal.SIGUSR1)
                detector.send_signal(signal.SIGCONT)
                on.append(await phase_rate(metrics_port, phase_s, memory, detector.pid))
            detector_cpu_s = cpu_s(detector.pid)
            upto = await conn.fetchval("SELECT min(upto) FROM anomaly_detector_state")
            lag_s = (dt.datetime.now(dt.UTC) - upto).total_seconds() if upto else None
            detector.send_signal(signal.SIGSTOP)
            off.append(await phase_rate(metrics_port, off_s, None, None))
            events = await conn.fetchval("SELECT count(*) FROM anomaly_events")
            series = await conn.fetchval("SELECT count(*) FROM anomaly_detector_state")
        finally:
            for process in (detector, fleet, ingestor):
                if process is not None and process.returncode is None:
                    process.send_signal(signal.SIGCONT)
                    process.terminate()
                    await process.wait()
            await conn.close()
            await discard_session(broker, "bench-anomaly-ingestor")
            await broker.stop()
    rows_off = statistics.mean(r for r, _ in off)
    rows_on = statistics.mean(r for r, _ in on)
    taken_off = statistics.mean(t for _, t in off)
    taken_on = statistics.mean(t for _, t in on)
    steady = memory[len(memory) // 4 :] or memory
    return {
        "duration_s": duration_s,
        "phase_s": phase_s,
        "off_phase_s": off_s,
        "rounds": rounds,
        "machines": MACHINES,
        "metrics_per_message": len(METRICS),
        "rows_per_s_off": rows_off,
        "rows_per_s_on": rows_on,
        "rows_per_s_off_phases": [round(r) for r, _ in off],
        "rows_per_s_on_phases": [round(r) for r, _ in on],
        "ratio_on_vs_off": rows_on / rows_off if rows_off else None,
        "taken_msgs_per_s_off": taken_off,
        "taken_msgs_per_s_on": taken_on,
        "ratio_taken_on_vs_off": taken_on / taken_off if taken_off else None,
        "detector_lag_s_at_end": lag_s,
        "detector_cpu_share_of_one_core": detector_cpu_s / (rounds * phase_s),
        "machines_with_state": series,
        "events": events,
        "detector_rss_mb_first": memory[0] if memory else None,
        "detector_rss_mb_median": statistics.median(steady) if steady else None,
        "detector_rss_mb_max": max(memory) if memory else None,
        "detector_rss_mb_growth_last_vs_second_quarter": quarter_growth(memory) if memory else None,
        "detector_rss_mb_samples": [round(m, 1) for m in memory],
    }


async def main(duration_s: float | None = None) -> None:
    if duration_s is None:
        duration_s = float(os.environ.get("BENCH_ANOMALY_DURATION_S", DEFAULT_DURATION_S))
        if "--duration" in sys.argv:
            duration_s = float(sys.argv[sys.argv.index("--duration") + 1])
    results = await run(duration_s)
    save("anomaly_ingest", results)
    ratio = results["ratio_on_vs_off"] or 0.0
    taken_ratio = results["ratio_taken_on_vs_off"] or 0.0
    print("\nAnomaly detection beside ingestion (publisher -> Mosquitto -> ingestor -> PostgreSQL)")
    print(
        f"  ingest, detector off  {float(results['rows_per_s_off']):9.0f} rows/s"  # type: ignore[arg-type]
        f" (phases {results['rows_per_s_off_phases']})"
    )
    print(
        f"  ingest, detector on   {float(results['rows_per_s_on']):9.0f} rows/s"  # type: ignore[arg-type]
        f" -> {ratio:.2f} of off (target >= 0.90); taken off the broker"
        f" {float(results['taken_msgs_per_s_on']):.0f} vs"  # type: ignore[arg-type]
        f" {float(results['taken_msgs_per_s_off']):.0f} msg/s -> {taken_ratio:.2f}"  # type: ignore[arg-type]
        f" (phases {results['rows_per_s_on_phases']})"
    )
    print(
        f"  detector: {float(results['detector_cpu_share_of_one_core']):.0%} of one core,"  # type: ignore[arg-type]
        f" {results['events']} events, slowest machine read {results['detector_lag_s_at_end']}"
        f" s behind now at the end; RSS first {results['detector_rss_mb_first']} MB, median"
        f" {results['detector_rss_mb_median']} MB, max {results['detector_rss_mb_max']} MB over"
        f" {duration_s:.0f} s, last quarter vs second"
        f" {results['detector_rss_mb_growth_last_vs_second_quarter']} MB"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.anomaly_ingest")
    parser.add_argument("command", nargs="?", choices=("publish", "detect"))
    parser.add_argument("args", nargs="*")
    parser.add_argument("--duration", type=float, default=None)
    options = parser.parse_args()
    if options.command == "publish":
        port, seconds, machines = options.args
        asyncio.run(publish(int(port), float(seconds), int(machines)))
    elif options.command == "detect":
        (dsn,) = options.args
        asyncio.run(detect(dsn))
    else:
        asyncio.run(main(options.duration))

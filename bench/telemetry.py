"""Telemetry benchmark: a publisher through Mosquitto into the ingestor's spool and on into
PostgreSQL, at QoS 1, in the same run: the rate the ingestor takes messages off the broker
against a subscriber that only counts (the ceiling here), the drain rate into PostgreSQL,
zero loss checked, the ingestor's memory and its spool's disk sampled over the run."""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import aiomqtt
import asyncpg

from bench.common import ROOT, migrated_database, save
from deploy.supervisor import free_port
from tests.support.telemetry import Broker

# 2M messages keep the pipeline busy for about four minutes, so the memory figure means
# something.
MESSAGES = int(os.environ.get("BENCH_TELEMETRY_MESSAGES", "2000000"))
# The end of the stream: the last message's row (metric m0 carries the message number).
# The ingestor commits in the order it receives, so every earlier one is stored by then;
# a count(*) over millions of rows every half second would take CPU from the pipeline.
# The count is checked exactly once at the end.
LAST = "SELECT max(value) FROM telemetry_samples WHERE machine = $1 AND metric = 'm0'"
MACHINES = 50
METRICS_PER_MESSAGE = 10
DSN = "postgresql://postgres@127.0.0.1:5432/bench_telemetry"


async def publisher(port: int) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.mqtt_publisher",
        str(port),
        str(MESSAGES),
        str(MACHINES),
        cwd=ROOT,
    )


async def ceiling(broker: Broker) -> float:
    """Messages per second a subscriber that only counts receives (QoS 1, persistent session)."""
    received = 0
    done = asyncio.Event()
    async with aiomqtt.Client(
        "127.0.0.1", broker.port, identifier="bench-counter", clean_session=False
    ) as client:
        await client.subscribe("mes/v1/#", qos=1)
        started = 0.0

        async def count() -> None:
            nonlocal received, started
            async for _ in client.messages:
                if not received:
                    started = time.perf_counter()
                received += 1
                if received >= MESSAGES:
                    done.set()
                    return

        task = asyncio.create_task(count())
        pub = await publisher(broker.port)
        await asyncio.wait_for(done.wait(), timeout=1800)
        elapsed = time.perf_counter() - started
        await pub.wait()
        task.cancel()
    # Its persistent session would go on queueing the pipeline's stream in the broker (work
    # the ceiling run never had): a clean connection under its id discards it.
    await discard_session(broker, "bench-counter")
    return MESSAGES / elapsed


async def discard_session(broker: Broker, identifier: str) -> None:
    """End a persistent session, so the broker stops queueing for a client gone."""
    async with aiomqtt.Client("127.0.0.1", broker.port, identifier=identifier, clean_session=True):
        pass


async def wait_for_session(broker: Broker, conn: asyncpg.Connection) -> None:
    """Until the ingestor's session exists: MQTT routes nothing to a session not yet made, so
    a stream started earlier would lose its head. A probe (ts 0: a dead letter) tells."""
    for _ in range(200):
        async with aiomqtt.Client("127.0.0.1", broker.port) as probe:
            await probe.publish(
                "mes/v1/bench/area/line/PROBE/state", b'{"ts": 0, "state": "idle"}', qos=1
            )
        if await conn.fetchval("SELECT count(*) FROM telemetry_dead_letters"):
            return
        await asyncio.sleep(0.1)


def quarter_growth(samples: list[float]) -> float:
    """Median of the last quarter minus median of the second."""
    quarter = max(len(samples) // 4, 1)
    second, last = samples[quarter : 2 * quarter] or samples, samples[-quarter:]
    return statistics.median(last) - statistics.median(second)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def scrape(port: int) -> dict[str, float]:
    """The ingestor's Prometheus figures (INGEST_METRICS_PORT), unlabelled samples only."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
        text = answer.read().decode()
    figures: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#") and "{" not in line:
            name, _, value = line.partition(" ")
            figures[name] = float(value)
    return figures


async def pipeline(broker: Broker, spool_dir: str) -> dict[str, object]:
    """The ingestor taking messages off the broker (into its spool) and draining them into
    PostgreSQL (all rows committed); its memory and spool disk sampled over the run."""
    metrics_port = free_port()
    env = {
        **os.environ, "MES_DB_URL": DSN, "MQTT_URL": broker.url, "MQTT_CLIENT_ID": "bench-ingestor",
        "LOG_LEVEL": "WARNING", "INGEST_SPOOL_DIR": spool_dir, "INGEST_METRICS_PORT": str(metrics_port),
        "MQTT_BROKER_MANAGED": "true",
    }  # fmt: skip
    ingestor = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.telemetry.ingest", cwd=ROOT, env=env
    )
    conn = await asyncpg.connect(DSN)
    memory: list[float] = []
    disk: list[float] = []
    try:
        await wait_for_session(broker, conn)
        before = scrape(metrics_port)
        spooled_before = before.get("telemetry_spooled_messages_total", 0.0)
        rows_before = before.get("telemetry_rows_total", 0.0)
        expected = MESSAGES * METRICS_PER_MESSAGE
        pub = await publisher(broker.port)
        started = time.perf_counter()
        taken_s = stored_s = None
        intake_samples = 0
        rows_at_taken = 0.0
        peak_drain = 0.0
        last_machine = f"BM{(MESSAGES - 1) % MACHINES:03d}"
        while True:
            figures = await asyncio.to_thread(scrape, metrics_port)
            memory.append(rss_mb(ingestor.pid))
            disk.append(figures.get("telemetry_spool_disk_bytes", 0.0) / 1048576)
            peak_drain = max(peak_drain, figures.get("telemetry_drain_messages_per_second", 0.0))
            spooled = figures.get("telemetry_spooled_messages_total", 0.0) - spooled_before
            if taken_s is None and spooled >= MESSAGES:
                taken_s = time.perf_counter() - started
                intake_samples = len(memory)
                rows_at_taken = figures.get("telemetry_rows_total", 0.0) - rows_before
            last = await conn.fetchval(LAST, last_machine)
            if last is not None and last >= MESSAGES - 1:
                stored_s = time.perf_counter() - started
                break
            if time.perf_counter() - started > 1800:
                raise RuntimeError("the last message was not stored after 30 minutes")
            await asyncio.sleep(0.5)
        await pub.wait()
        taken_s = taken_s or stored_s
        # The drain once the stream is in the spool: PostgreSQL's pace with the host to itself.
        drain_after = (
            (expected - rows_at_taken) / (stored_s - taken_s) if stored_s > taken_s else 0.0
        )
        await asyncio.sleep(2)  # the drainer rotates and deletes the drained segment
        after = scrape(metrics_port)
        stored = await conn.fetchval("SELECT count(*) FROM telemetry_samples")
        duplicates = await conn.fetchval(
            "SELECT count(*) - count(DISTINCT (machine, metric, ts)) FROM telemetry_samples"
        )
        if stored != expected or duplicates:
            raise RuntimeError(f"stored {stored} of {expected}, {duplicates} duplicates")
    finally:
        ingestor.terminate()
        await ingestor.wait()
        await conn.close()
        await discard_session(broker, "bench-ingestor")
    return {
        "taken_msgs_per_s": MESSAGES / taken_s,
        "stored_msgs_per_s": MESSAGES / stored_s,
        "peak_drain_msgs_per_s": peak_drain,
        "drain_rows_per_s_after_intake": drain_after,
        "rows_left_after_intake": expected - rows_at_taken,
        "spool_peak_mb": max(disk) if disk else 0.0,
        "spool_disk_mb_after": after.get("telemetry_spool_disk_bytes", 0.0) / 1048576,
        "spool_messages_after": after.get("telemetry_spool_messages", 0.0),
        "commit_ms_mean": 1000
        * after.get("telemetry_spool_commit_seconds_sum", 0.0)
        / max(after.get("telemetry_spool_commit_seconds_count", 1.0), 1.0),
        "commits": after.get("telemetry_spool_commit_seconds_count", 0.0),
        "memory": memory,
        "intake_samples": intake_samples,
    }


async def main() -> None:
    await migrated_database("bench_telemetry")
    with tempfile.TemporaryDirectory() as directory:
        broker = Broker(port=free_port(), directory=Path(directory))
        await broker.start()
        try:
            # The ceiling before and after the pipeline: on a noisy machine one figure taken
            # at a quiet (or busy) moment would flatter (or harm) the ratio.
            before = await ceiling(broker)
            run = await pipeline(broker, str(Path(directory) / "spool"))
            after = await ceiling(broker)
        finally:
            await broker.stop()
    top = (before + after) / 2
    memory: list[float] = run.pop("memory")  # type: ignore[assignment]
    taken, stored = float(run["taken_msgs_per_s"]), float(run["stored_msgs_per_s"])  # type: ignore[arg-type]
    steady = memory[len(memory) // 4 :] or memory
    # Flat memory, per phase (taking the stream into the spool, then draining it, which holds
    # parsed batches: a step between the two is not a leak): the last quarter of each phase
    # against its second (after warm-up). A leak grows with every message; a high-water mark
    # stops growing once the batches are full.
    split = int(run.pop("intake_samples"))  # type: ignore[call-overload]
    growth = max(
        (quarter_growth(phase) for phase in (memory[:split], memory[split:]) if len(phase) >= 8),
        default=0.0,
    )
    results = {
        "messages": MESSAGES,
        "metrics_per_message": METRICS_PER_MESSAGE,
        "ceiling_msgs_per_s": top,
        "ceiling_before_msgs_per_s": before,
        "ceiling_after_msgs_per_s": after,
        "taken_off_broker_msgs_per_s": taken,
        "ratio_taken_vs_ceiling": taken / top,
        "drain_rows_per_s_end_to_end": stored * METRICS_PER_MESSAGE,
        "drain_rows_per_s_after_intake": run["drain_rows_per_s_after_intake"],
        "rows_left_after_intake": run["rows_left_after_intake"],
        "drain_rows_per_s_peak_10s": float(run["peak_drain_msgs_per_s"]) * METRICS_PER_MESSAGE,  # type: ignore[arg-type]
        "spool_peak_mb": run["spool_peak_mb"],
        "spool_disk_mb_after_drain": run["spool_disk_mb_after"],
        "spool_messages_after_drain": run["spool_messages_after"],
        "group_commit_ms_mean": run["commit_ms_mean"],
        "group_commits": run["commits"],
        "rss_mb_first": memory[0] if memory else None,
        "rss_mb_median": statistics.median(steady) if steady else None,
        "rss_mb_max": max(memory) if memory else None,
        "rss_mb_growth_last_vs_second_quarter_per_phase_max": growth,
        "rss_mb_intake_phase_max": max(memory[:split], default=None),
        "rss_mb_drain_phase_max": max(memory[split:], default=None),
        "pipeline_seconds": MESSAGES / stored,
        "rss_mb_samples": [round(m, 1) for m in memory],
        "samples": len(memory),
    }
    print("\nTelemetry: publisher -> Mosquitto -> ingestor (spool) -> PostgreSQL, QoS 1")
    print(
        f"  counting subscriber (ceiling)   {top:9.0f} msg/s (mean of {before:.0f} before and {after:.0f} after)"
    )
    print(
        f"  ingestor off the broker (spool) {taken:9.0f} msg/s -> {taken / top:.0%} of the ceiling"
    )
    print(f"  drained into PostgreSQL         {float(run['drain_rows_per_s_after_intake']):9.0f} rows/s once the stream was in"
          f" ({float(run['rows_left_after_intake']):.0f} rows left then),"
          f" {stored * METRICS_PER_MESSAGE:.0f} rows/s end to end,"
          f" {results['drain_rows_per_s_peak_10s']:.0f} rows/s peak (10 s window); zero loss, no duplicates")  # fmt: skip
    print(f"  spool: peak {run['spool_peak_mb']:.1f} MB on disk, {run['spool_disk_mb_after']:.2f} MB after the drain;"
          f" group commit {run['commit_ms_mean']:.2f} ms mean over {run['commits']:.0f} commits")  # fmt: skip
    print(f"  ingestor memory (RSS): start {results['rss_mb_first']:.0f} MB, median {results['rss_mb_median']:.0f} MB,"
          f" max {results['rss_mb_max']:.0f} MB over the {MESSAGES / stored:.0f} s run;"
          f" last quarter vs second, within each phase (intake, drain): {growth:+.1f} MB at most")  # fmt: skip
    save("telemetry", results)

"""Telemetry benchmark: messages and rows per second from a publisher through Mosquitto into
PostgreSQL, against a subscriber that only counts (the pipeline's ceiling here), at QoS 1,
in the same run; zero loss checked; the ingestor's memory sampled over the run."""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiomqtt
import asyncpg

from bench.common import ROOT, save
from devserver.launcher import ensure_database
from shared.migrations import migrate
from tests.telemetry.conftest import Broker, free_port

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
    return MESSAGES / elapsed


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def pipeline(broker: Broker) -> tuple[float, list[float]]:
    """Messages per second stored by the ingestor (all rows committed), and its memory samples."""
    env = {
        **os.environ, "MES_DB_URL": DSN, "MQTT_URL": broker.url, "MQTT_CLIENT_ID": "bench-ingestor",
        "LOG_LEVEL": "WARNING",
    }  # fmt: skip
    ingestor = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.telemetry.ingest", cwd=ROOT, env=env
    )
    conn = await asyncpg.connect(DSN)
    memory: list[float] = []
    try:
        # The session must exist before the stream: MQTT routes nothing to a session not yet made.
        for _ in range(200):
            async with aiomqtt.Client("127.0.0.1", broker.port) as probe:
                await probe.publish(
                    "mes/v1/bench/area/line/PROBE/state", b'{"ts": 0, "state": "idle"}', qos=1
                )
            if await conn.fetchval("SELECT count(*) FROM telemetry_dead_letters"):
                break
            await asyncio.sleep(0.1)
        expected = MESSAGES * METRICS_PER_MESSAGE
        pub = await publisher(broker.port)
        started = time.perf_counter()
        last_machine = f"BM{(MESSAGES - 1) % MACHINES:03d}"
        while True:
            last = await conn.fetchval(LAST, last_machine)
            memory.append(rss_mb(ingestor.pid))
            if last is not None and last >= MESSAGES - 1:
                break
            if time.perf_counter() - started > 1800:
                raise RuntimeError("the last message was not stored after 30 minutes")
            await asyncio.sleep(0.5)
        elapsed = time.perf_counter() - started
        await pub.wait()
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
    return MESSAGES / elapsed, memory


async def main() -> None:
    admin = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/postgres")
    try:
        await admin.execute("DROP DATABASE IF EXISTS bench_telemetry WITH (FORCE)")
    finally:
        await admin.close()
    await ensure_database(DSN)
    conn = await asyncpg.connect(DSN)
    try:
        await migrate(conn)
    finally:
        await conn.close()
    with tempfile.TemporaryDirectory() as directory:
        broker = Broker(port=free_port(), directory=Path(directory))
        await broker.start()
        try:
            top = await ceiling(broker)
            rate, memory = await pipeline(broker)
        finally:
            await broker.stop()
    steady = memory[len(memory) // 4 :] or memory
    # Flat memory: the last quarter of the run against the second (after warm-up). A leak
    # grows with every message; a high-water mark stops growing once the batches are full.
    quarter = max(len(memory) // 4, 1)
    second, last = memory[quarter : 2 * quarter] or memory, memory[-quarter:]
    growth = statistics.median(last) - statistics.median(second) if memory else None
    results = {
        "messages": MESSAGES,
        "metrics_per_message": METRICS_PER_MESSAGE,
        "ceiling_msgs_per_s": top,
        "pipeline_msgs_per_s": rate,
        "pipeline_rows_per_s": rate * METRICS_PER_MESSAGE,
        "ratio": rate / top,
        "rss_mb_first": memory[0] if memory else None,
        "rss_mb_median": statistics.median(steady) if steady else None,
        "rss_mb_max": max(memory) if memory else None,
        "rss_mb_growth_last_vs_second_quarter": growth,
        "pipeline_seconds": MESSAGES / rate,
        "rss_mb_samples": [round(m, 1) for m in memory],
        "samples": len(memory),
    }
    print("\nTelemetry: publisher -> Mosquitto -> ingestor -> PostgreSQL, QoS 1")
    print(f"  counting subscriber (ceiling) {top:9.0f} msg/s")
    print(f"  ingestor into PostgreSQL      {rate:9.0f} msg/s = {rate * METRICS_PER_MESSAGE:.0f} rows/s"
          f" -> {rate / top:.0%} of the ceiling, zero loss, no duplicates")  # fmt: skip
    print(f"  ingestor memory (RSS): start {results['rss_mb_first']:.0f} MB, median {results['rss_mb_median']:.0f} MB,"
          f" max {results['rss_mb_max']:.0f} MB over the {MESSAGES / rate:.0f} s run;"
          f" last quarter vs second: {growth:+.1f} MB")  # fmt: skip
    save("telemetry", results)

"""Sparkplug B ingest against the JSON path, in the same run: the same publisher stream
(bench.mqtt_publisher: MACHINES machines, 10 metrics a message, QoS 1) as our JSON topics
and as a Sparkplug B edge node's alias-only DDATA, each through Mosquitto into a fresh
ingestor (spool, then PostgreSQL), in alternating rounds (the machine is noisy). Reported:
messages per second from the first publish until every row is committed, and the rate the
ingestor took them off the broker; the target is Sparkplug >= 0.8 of JSON end to end, with
zero loss and no duplicates checked on every round."""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import asyncpg

from bench.common import ROOT, migrated_database, save
from bench.telemetry import discard_session, rss_mb, scrape, wait_for_session
from deploy.supervisor import free_port
from tests.support.telemetry import Broker

MESSAGES = int(os.environ.get("BENCH_SPARKPLUG_MESSAGES", "200000"))
ROUNDS = int(os.environ.get("BENCH_SPARKPLUG_ROUNDS", "2"))
MACHINES = 50
METRICS_PER_MESSAGE = 10
TARGET = 0.8
DSN = "postgresql://postgres@127.0.0.1:5432/bench_sparkplug"
RESET = """
TRUNCATE telemetry_samples, machine_states, machine_counters, telemetry_dead_letters, machines,
    telemetry_spool_positions, sparkplug_nodes, sparkplug_devices, sparkplug_metrics,
    sparkplug_last_values CASCADE
"""


async def ingest(
    broker: Broker, directory: Path, *, sparkplug: bool, round_: int
) -> dict[str, float]:
    """One stream through a fresh ingestor; its rates, after checking every row arrived once."""
    conn = await asyncpg.connect(DSN)
    await conn.execute(RESET)
    metrics_port, client_id = free_port(), f"bench-ingestor-{round_}-{int(sparkplug)}"
    env = {
        **os.environ, "MES_DB_URL": DSN, "MQTT_URL": broker.url, "MQTT_CLIENT_ID": client_id,
        "LOG_LEVEL": "WARNING", "INGEST_SPOOL_DIR": str(directory / client_id),
        "INGEST_METRICS_PORT": str(metrics_port), "MQTT_BROKER_MANAGED": "true",
    }  # fmt: skip
    ingestor = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.telemetry.ingest", cwd=ROOT, env=env
    )
    try:
        await wait_for_session(broker, conn)
        before = scrape(metrics_port).get("telemetry_spooled_messages_total", 0.0)
        # Sparkplug: the births (an NBIRTH, a DBIRTH a machine) come before the stream.
        expected = MESSAGES + (1 + MACHINES if sparkplug else 0)
        args = [str(broker.port), str(MESSAGES), str(MACHINES), str(METRICS_PER_MESSAGE)]
        started = time.perf_counter()
        publisher = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.mqtt_publisher", *args,
            *(["--sparkplug"] if sparkplug else []), cwd=ROOT,
        )  # fmt: skip
        taken_s = None
        memory = []
        while True:
            figures = await asyncio.to_thread(scrape, metrics_port)
            memory.append(rss_mb(ingestor.pid))
            spooled = figures.get("telemetry_spooled_messages_total", 0.0) - before
            if taken_s is None and spooled >= expected:
                taken_s = time.perf_counter() - started
            if taken_s is not None and not figures.get("telemetry_spool_messages", 1.0):
                stored_s = time.perf_counter() - started
                break
            if time.perf_counter() - started > 1800:
                raise RuntimeError("the stream was not stored after 30 minutes")
            await asyncio.sleep(0.2)
        await publisher.wait()
        stored = await conn.fetchval("SELECT count(*) FROM telemetry_samples")
        duplicates = await conn.fetchval(
            "SELECT count(*) - count(DISTINCT (machine, metric, ts)) FROM telemetry_samples"
        )
        dead = await conn.fetchval(
            "SELECT count(*) FROM telemetry_dead_letters WHERE topic NOT LIKE '%/PROBE/%'"
        )
        if stored != MESSAGES * METRICS_PER_MESSAGE or duplicates or dead:
            raise RuntimeError(
                f"{'sparkplug' if sparkplug else 'json'}: stored {stored} of "
                f"{MESSAGES * METRICS_PER_MESSAGE}, {duplicates} duplicates, {dead} dead letters"
            )
    finally:
        ingestor.terminate()
        await ingestor.wait()
        await conn.close()
        await discard_session(broker, client_id)
    return {
        "taken_msgs_per_s": MESSAGES / taken_s,
        "stored_msgs_per_s": MESSAGES / stored_s,
        "rss_mb_max": max(memory, default=0.0),
    }


async def main() -> None:
    await migrated_database("bench_sparkplug")
    runs: dict[str, list[dict[str, float]]] = {"json": [], "sparkplug": []}
    with tempfile.TemporaryDirectory() as directory:
        broker = Broker(port=free_port(), directory=Path(directory))
        await broker.start()
        try:
            for round_ in range(ROUNDS):
                for path in ("json", "sparkplug"):
                    runs[path].append(
                        await ingest(
                            broker, Path(directory), sparkplug=path == "sparkplug", round_=round_
                        )
                    )
        finally:
            await broker.stop()

    def mean(path: str, key: str) -> float:
        return statistics.fmean(run[key] for run in runs[path])

    stored = {path: mean(path, "stored_msgs_per_s") for path in runs}
    taken = {path: mean(path, "taken_msgs_per_s") for path in runs}
    ratio = stored["sparkplug"] / stored["json"]
    results = {
        "messages": MESSAGES,
        "rounds": ROUNDS,
        "machines": MACHINES,
        "metrics_per_message": METRICS_PER_MESSAGE,
        "json_stored_msgs_per_s": stored["json"],
        "sparkplug_stored_msgs_per_s": stored["sparkplug"],
        "ratio_sparkplug_vs_json_stored": ratio,
        "json_taken_msgs_per_s": taken["json"],
        "sparkplug_taken_msgs_per_s": taken["sparkplug"],
        "ratio_sparkplug_vs_json_taken": taken["sparkplug"] / taken["json"],
        "target": TARGET,
        "runs": runs,
    }
    print("\nSparkplug B DDATA vs JSON: publisher -> Mosquitto -> ingestor -> PostgreSQL, QoS 1")
    print(f"  {MESSAGES} messages of {METRICS_PER_MESSAGE} metrics, {MACHINES} machines, "
          f"mean of {ROUNDS} alternating rounds; zero loss, no duplicates in each")  # fmt: skip
    for path in ("json", "sparkplug"):
        print(f"  {path:9} stored {stored[path]:8.0f} msg/s end to end "
              f"({stored[path] * METRICS_PER_MESSAGE:.0f} rows/s), taken off the broker "
              f"{taken[path]:8.0f} msg/s")  # fmt: skip
    verdict = "meets" if ratio >= TARGET else "MISSES"
    print(f"  Sparkplug / JSON (end to end): {ratio:.2f} ({verdict} the {TARGET} target)")
    save("sparkplug", results)

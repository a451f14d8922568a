"""Stops benchmark: stop reports (MATA682) delivered per second through the simulator, and the
time a closed stop takes to reach `delivered`.

Everything runs in one process against one simulator, and the throughput is a ratio to a
baseline measured in the same run (the machine is noisy):

- raw capacity: MATA682 stop reports POSTed straight to the simulator by as many concurrent
  callers as the pushers send at once, no outbox;
- a backlog of BENCH_STOPS (10,000) stops over BENCH_STOP_MACHINES (100) machines, queued
  at once (as after Protheus was away), pushed in BLOCKS blocks with a raw measurement
  before and after each (both meet the same noise and the same growing SH6): stops pushed
  per second against the mean raw rate, each stop once in SH6 (checked by marker);
- latency with no faults, the pushers running their own loops as the service runs them:
  from the closing state message published to a Mosquitto of the bench's own, through the
  ingestor (its own process, as deployed), the stop detector (LISTEN/NOTIFY on stop_dirty)
  and the pusher, to `delivered` (p50, p99), one machine's stop closed every
  E2E_PACE_S; and, for comparison, from a stop stored closed and queued to `delivered`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import aiomqtt
import asyncpg
from aiohttp.test_utils import TestServer
from prometheus_client import CollectorRegistry

from bench.common import ROOT, fresh_database, save
from deploy.supervisor import free_port
from protheus_demo.load import load_demo
from protheus_demo.simulator.app import create_simulator
from protheus_demo.simulator.config import FaultSettings, SimulatorConfig
from services.production.pusher.client import ProtheusClient
from services.production.pusher.documents import stop_payload
from services.production.pusher.pusher import Pusher, PusherMetrics
from services.production.stops import queries as stop_queries
from services.production.stops.detector import StopDetector, StopMetrics
from shared.db.pools import Connection
from shared.db.sources import open_protheus_source
from shared.migrations import migrate
from shared.protheus.branches import BranchResolver, ProtheusDictionary
from shared.protheus.context import ProtheusContext
from shared.settings import PusherSettings, Settings, StopSettings
from tests.support.telemetry import Broker

STOPS = int(os.environ.get("BENCH_STOPS", "10000"))
MACHINES = int(os.environ.get("BENCH_STOP_MACHINES", "100"))
SCALE = os.environ.get("BENCH_STOP_SCALE", "default")  # the demo database's size
LATENCY_STOPS = int(os.environ.get("BENCH_STOP_LATENCY", "200"))
LATENCY_PACE_S = 0.05  # one stop closed every 50 ms (20 a second) for the latency run
E2E_PACE_S = 0.1  # one closing state message every 100 ms, each on its own machine
PLC_REASON = "P1"  # mapped to REASON, so the detector classifies and queues the stops
BLOCKS = 10  # the backlog is pushed in blocks, a raw measurement before and after each
RAW = max(100, STOPS // 40)  # stop reports POSTed straight per raw measurement
PUSHERS = 2
PUSHER = PusherSettings(
    concurrency=8, batch=50, poll_s=0.02, lease_s=10, timeout_s=5, backoff_base_s=0.05,
    backoff_cap_s=0.5, breaker_threshold=10_000, token_margin_s=0, settle_s=0.3,
)  # fmt: skip
CALLERS = PUSHERS * PUSHER.concurrency  # raw callers: as many as the pushers send at once
REASON = "02"
LENGTH = dt.timedelta(seconds=225)  # a stop ends 10 s past a minute ...
GAP = dt.timedelta(seconds=15)  # ... and the next starts 25 s past it: both round onto it

STOP_COLUMNS = (
    "id", "machine", "branch", "state", "plc_reason", "start_at", "end_at", "reason_code",
    "classified_by", "status",
)  # fmt: skip


async def add_machines(conn: asyncpg.Connection, count: int) -> list[str]:
    """`count` machines of branch 01 in SH1 (BSnnnn), copies of a demo machine: the demo has
    a few dozen, the benchmark spreads its stops over more."""
    columns = [
        r["column_name"]
        for r in await conn.fetch(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'sh1010'"
            " ORDER BY ordinal_position"
        )
    ]
    values = [
        "'BS' || lpad(n::text, 4, '0')"
        if c == "h1_codigo"
        else "(SELECT max(r_e_c_n_o_) FROM sh1010) + n"
        if c == "r_e_c_n_o_"
        else f"t.{c}"
        for c in columns
    ]
    # SH1 may be shared (blank filial) or per branch: the copy keeps the demo row's filial.
    added = await conn.execute(
        f"INSERT INTO sh1010 ({', '.join(columns)}) SELECT {', '.join(values)}"
        " FROM generate_series(1, $1) n, (SELECT * FROM sh1010 WHERE h1_filial IN ('01', '')"
        " AND d_e_l_e_t_ = ' ' ORDER BY h1_codigo LIMIT 1) t",
        count,
    )
    if added != f"INSERT 0 {count}":
        raise RuntimeError(f"bench machines not added to SH1: {added}")
    return [f"BS{n:04d}" for n in range(1, count + 1)]


def stops_of(machines: list[str], count: int, start: dt.datetime) -> list[dict[str, Any]]:
    """`count` closed stops in turn over the machines, consecutive on each machine."""
    rows = []
    for n in range(count):
        machine = machines[n % len(machines)]
        at = start + (LENGTH + GAP) * (n // len(machines))
        rows.append({
            "id": uuid.uuid4(), "machine": machine, "branch": "01", "state": "stopped",
            "plc_reason": "P1", "start_at": at, "end_at": at + LENGTH, "reason_code": REASON,
            "classified_by": "mapping", "status": "pending", "operator": None, "note": None,
        })  # fmt: skip
    return rows


async def queue(mes: Connection, rows: list[dict[str, Any]]) -> None:
    async with mes.transaction():
        await mes.copy_records_to_table(
            "stops", records=[tuple(r[c] for c in STOP_COLUMNS) for r in rows], columns=STOP_COLUMNS
        )
        await stop_queries.enqueue(mes, stop_ids=[r["id"] for r in rows])


@dataclasses.dataclass
class Line:
    settings: Settings
    mes_pool: asyncpg.Pool
    pushers: list[Pusher]
    raw_client: ProtheusClient
    machines: list[str]
    raw_windows: int = 0


@contextlib.asynccontextmanager
async def line(protheus_dsn: str, mes_dsn: str, machines: list[str]) -> AsyncIterator[Line]:
    mes_pool = await asyncpg.create_pool(mes_dsn, min_size=1, max_size=CALLERS + 4)
    source = await open_protheus_source(
        protheus_dsn, company="01", pool_max=5, statement_timeout_ms=10_000
    )
    simulator = TestServer(
        create_simulator(SimulatorConfig(db_url=protheus_dsn, faults=FaultSettings(), pool_max=10))
    )
    await simulator.start_server()
    settings = Settings(
        protheus_db_url=protheus_dsn,
        mes_db_url=mes_dsn,
        protheus_rest_url=str(simulator.make_url("/rest")).rstrip("/"),
    )
    sessions = [aiohttp.ClientSession() for _ in range(PUSHERS + 1)]
    pushers: list[Pusher] = []
    try:
        protheus = ProtheusContext(
            source,
            settings.protheus_company,
            BranchResolver(source),
            settings.protheus_branch,
            ProtheusDictionary(source),
        )
        pushers = [
            Pusher(mes_pool, protheus, ProtheusClient(s, settings, PUSHER), settings, PUSHER,
                   PusherMetrics(CollectorRegistry()))
            for s in sessions[:PUSHERS]
        ]  # fmt: skip
        raw = ProtheusClient(sessions[-1], settings, PUSHER)
        yield Line(settings, mes_pool, pushers, raw, machines)
    finally:
        for p in pushers:
            await p.stop()
        for s in sessions:
            await s.close()
        await simulator.close()
        await source.close()
        await mes_pool.close()


async def raw_capacity(line: Line, count: int = RAW) -> float:
    """Stop reports per second POSTed straight (CALLERS at once), each one written; every
    measurement in a window of time of its own (MATA682 refuses overlapping stops)."""
    line.raw_windows += 1
    start = dt.datetime.now(dt.UTC).replace(second=25, microsecond=0) - dt.timedelta(
        days=60 + line.raw_windows
    )
    now = dt.datetime.now(dt.UTC)
    payloads = []
    for stop in stops_of(line.machines, count, start):
        payload = stop_payload(stop, tz=line.settings.tz, now=now)
        payload["Observation"] = f"RAW:{stop['id']}"  # not a MES stop: no marker
        payloads.append(payload)
    queue_ = iter(payloads)
    await line.raw_client.authorization()

    async def caller() -> None:
        for payload in queue_:
            outcome = await line.raw_client.post_stop_report(payload, branch="01")
            if outcome.kind != "delivered":
                raise RuntimeError(f"raw stop report not written: {outcome}")

    started = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(CALLERS)))
    return count / (time.perf_counter() - started)


async def push(line: Line, target: int) -> tuple[int, float]:
    """Run the pushers' rounds until `target` stops are handled or the outbox is empty;
    (delivered, seconds)."""
    async with line.mes_pool.acquire() as mes:
        before = await mes.fetchval("SELECT count(*) FROM stops WHERE status = 'delivered'")
    started = time.perf_counter()
    handled = 0
    while handled < target:
        handled_now = sum(await asyncio.gather(*(p.run_once() for p in line.pushers)))
        handled += handled_now
        if not handled_now:
            async with line.mes_pool.acquire() as mes:
                if not await mes.fetchval("SELECT count(*) FROM stop_outbox"):
                    break
            await asyncio.sleep(PUSHER.poll_s)
        if time.perf_counter() - started > 1800:
            raise RuntimeError("the stops did not drain in 30 minutes")
    seconds = time.perf_counter() - started
    async with line.mes_pool.acquire() as mes:
        after = await mes.fetchval("SELECT count(*) FROM stops WHERE status = 'delivered'")
    return after - before, seconds


async def exactly_once(protheus_dsn: str, mes_pool: asyncpg.Pool, expected: int) -> None:
    async with mes_pool.acquire() as mes:
        delivered = await mes.fetchval("SELECT count(*) FROM stops WHERE status = 'delivered'")
    conn = await asyncpg.connect(protheus_dsn)
    try:
        row = await conn.fetchrow(
            "SELECT count(*) AS n, count(DISTINCT left(h6_observa, 40)) AS markers FROM sh6010"
            " WHERE h6_tipo = 'I' AND h6_observa LIKE 'MES:%' AND d_e_l_e_t_ = ' '"
        )
    finally:
        await conn.close()
    rows, markers = (row["n"], row["markers"]) if row else (0, 0)
    if not delivered == rows == markers == expected:
        raise RuntimeError(f"delivered {delivered}, SH6 rows {rows}, markers {markers}/{expected}")


async def latency(line: Line) -> list[float]:
    """Seconds from a stop stored closed and queued to `delivered`, the pushers running their
    own loops; one stop closed every LATENCY_PACE_S, in turn over the machines."""
    start = dt.datetime.now(dt.UTC).replace(second=25, microsecond=0) - dt.timedelta(days=10)
    rows = stops_of(line.machines, LATENCY_STOPS, start)
    for p in line.pushers:
        await p.start()
    try:
        async with line.mes_pool.acquire() as mes:
            for row in rows:
                paced = time.perf_counter()
                await queue(mes, [row])
                await asyncio.sleep(max(0.0, LATENCY_PACE_S - (time.perf_counter() - paced)))
            deadline = time.monotonic() + 120
            ids = [r["id"] for r in rows]
            while await mes.fetchval(
                "SELECT count(*) FROM stops WHERE id = ANY($1::uuid[]) AND status <> 'delivered'",
                ids,
            ):
                if time.monotonic() > deadline:
                    raise RuntimeError("latency stops not delivered in 2 minutes")
                await asyncio.sleep(0.05)
            samples = await mes.fetch(
                "SELECT EXTRACT(EPOCH FROM updated_at - created_at)::float8 AS s FROM stops"
                " WHERE id = ANY($1::uuid[])",
                ids,
            )
    finally:
        for p in line.pushers:
            await p.stop()
    return [r["s"] for r in samples]


async def ingestor_ready(broker: Broker, mes: Connection) -> None:
    """The ingestor's session exists (MQTT routes nothing to a session not yet made): a probe
    it dead-letters (an absurd time) shows it is reading."""
    for _ in range(300):
        async with aiomqtt.Client("127.0.0.1", broker.port) as probe:
            await probe.publish(
                "mes/v1/bench/area/line/PROBE/state", b'{"ts": 0, "state": "idle"}', qos=1
            )
        if await mes.fetchval("SELECT count(*) FROM telemetry_dead_letters"):
            return
        await asyncio.sleep(0.1)
    raise RuntimeError("the ingestor did not start reading the broker")


def state(at: dt.datetime, name: str, reason: str | None = None) -> bytes:
    body = {"ts": at.isoformat(), "state": name, **({"reason": reason} if reason else {})}
    return json.dumps(body).encode()


async def end_to_end(line: Line, mes_dsn: str) -> list[float]:
    """Seconds from each closing state message published to its stop `delivered`, through
    the broker, the ingestor, the detector and the pushers (no faults)."""
    machines = line.machines[:LATENCY_STOPS]
    async with line.mes_pool.acquire() as mes:
        await mes.execute(
            "INSERT INTO stop_reason_mapping (plc_reason, reason_code) VALUES ($1, $2)",
            PLC_REASON,
            REASON,
        )
    settings = dataclasses.replace(line.settings, stops=StopSettings(min_s=120, detect_poll_s=0.5))
    detector = StopDetector(line.mes_pool, settings, StopMetrics(CollectorRegistry()))
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    closing: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as directory:
        broker = Broker(port=free_port(), directory=Path(directory))
        await broker.start()
        env = {
            **os.environ, "MES_DB_URL": mes_dsn, "MQTT_URL": broker.url,
            "MQTT_CLIENT_ID": "bench-stops-ingestor", "LOG_LEVEL": "WARNING",
            "INGEST_SPOOL_DIR": str(Path(directory) / "spool"), "MQTT_BROKER_MANAGED": "true",
        }  # fmt: skip
        ingestor = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "services.telemetry.ingest", cwd=ROOT, env=env
        )
        try:
            async with line.mes_pool.acquire() as mes:
                await ingestor_ready(broker, mes)
            await detector.start()
            for p in line.pushers:
                await p.start()
            async with aiomqtt.Client("127.0.0.1", broker.port) as client:
                # Every machine running, then stopped (a mapped reason) for 200 s of plant time.
                for machine in machines:
                    topic = f"mes/v1/bench/area/line/{machine}/state"
                    await client.publish(topic, state(now - dt.timedelta(seconds=400), "running"), qos=1)  # fmt: skip
                    await client.publish(topic, state(now - dt.timedelta(seconds=300), "stopped", PLC_REASON), qos=1)  # fmt: skip
                await asyncio.sleep(
                    2
                )  # the open stops are stored: the closing message is what is timed
                for machine in machines:
                    paced = time.perf_counter()
                    closing[machine] = time.time()
                    await client.publish(
                        f"mes/v1/bench/area/line/{machine}/state",
                        state(now - dt.timedelta(seconds=100), "running"),
                        qos=1,
                    )
                    await asyncio.sleep(max(0.0, E2E_PACE_S - (time.perf_counter() - paced)))
            deadline = time.monotonic() + 120
            async with line.mes_pool.acquire() as mes:
                while True:
                    rows = await mes.fetch(
                        "SELECT machine, EXTRACT(EPOCH FROM updated_at)::float8 AS at FROM stops"
                        " WHERE machine = ANY($1::text[]) AND start_at = $2 AND status = 'delivered'",
                        machines,
                        now - dt.timedelta(seconds=300),
                    )
                    if len(rows) == len(machines):
                        break
                    if time.monotonic() > deadline:
                        raise RuntimeError(
                            f"{len(rows)}/{len(machines)} stops delivered end to end"
                        )
                    await asyncio.sleep(0.1)
        finally:
            for p in line.pushers:
                await p.stop()
            await detector.stop()
            ingestor.terminate()
            await ingestor.wait()
            await broker.stop()
    return [r["at"] - closing[r["machine"]] for r in rows]


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def main() -> None:
    protheus_dsn = await fresh_database("bench_stops_protheus")
    mes_dsn = await fresh_database("bench_stops_mes")
    conn = await asyncpg.connect(protheus_dsn)
    try:
        await load_demo(conn, scale=SCALE)
        machines = await add_machines(conn, MACHINES)
    finally:
        await conn.close()
    conn = await asyncpg.connect(mes_dsn)
    try:
        await migrate(conn)
    finally:
        await conn.close()
    async with line(protheus_dsn, mes_dsn, machines) as bench_line:
        await raw_capacity(bench_line, 50)  # warm-up: tokens, pools, caches
        start = dt.datetime.now(dt.UTC).replace(second=25, microsecond=0) - dt.timedelta(days=30)
        async with bench_line.mes_pool.acquire() as mes:
            loaded = time.perf_counter()
            await queue(mes, stops_of(machines, STOPS, start))
            load_s = time.perf_counter() - loaded
        # Raw capacity and the pushers in turn, block by block, so both meet the same noise
        # (other processes on the machine) and the same SH6 growing on the machines.
        raws = [await raw_capacity(bench_line)]
        blocks: list[tuple[int, float]] = []
        while sum(n for n, _ in blocks) < STOPS:
            blocks.append(await push(bench_line, STOPS // BLOCKS))
            raws.append(await raw_capacity(bench_line))
            if not blocks[-1][0]:
                raise RuntimeError("a block delivered nothing")
        await exactly_once(protheus_dsn, bench_line.mes_pool, STOPS)
        samples = await latency(bench_line)
        e2e = await end_to_end(bench_line, mes_dsn)
    raw = statistics.fmean(raws)
    seconds = sum(s for _, s in blocks)
    rate = STOPS / seconds
    p50, p99 = percentile(samples, 0.5), percentile(samples, 0.99)
    e2e_p50, e2e_p99 = percentile(e2e, 0.5), percentile(e2e, 0.99)
    results = {
        "stops": STOPS, "machines": MACHINES, "scale": SCALE, "pushers": PUSHERS,
        "raw_callers": CALLERS, "load_s": load_s, "seconds": seconds, "per_s": rate,
        "blocks_per_s": [n / s for n, s in blocks], "raw_per_s_each": raws, "raw_per_s": raw,
        "ratio": rate / raw, "latency_stops": len(samples), "latency_p50_s": p50,
        "latency_p99_s": p99, "latency_mean_s": statistics.fmean(samples),
        "queued_latency_path": "stored closed and queued -> delivered",
        "e2e_stops": len(e2e), "e2e_p50_s": e2e_p50, "e2e_p99_s": e2e_p99,
        "e2e_path": "closing state message published -> broker -> ingestor -> detector -> pusher -> delivered",
        "settings": dataclasses.asdict(PUSHER),
    }  # fmt: skip
    print(
        f"\nStops: {STOPS:,} over {MACHINES} machines, {PUSHERS} pushers; raw capacity ="
        f" {CALLERS} callers POSTing MATA682 straight"
    )
    print(
        f"  pushed {rate:.1f}/s vs raw {raw:.1f}/s (raw {min(raws):.1f}..{max(raws):.1f} around"
        f" {len(blocks)} blocks) -> ratio {rate / raw:.2f} (target >= 0.8); each stop once in SH6"
    )
    print(
        f"  closing state message -> delivered (MQTT -> ingestor -> detector -> pusher), no"
        f" faults, {len(e2e)} stops at {1 / E2E_PACE_S:.0f}/s:"
        f" p50 {e2e_p50 * 1000:.0f} ms, p99 {e2e_p99 * 1000:.0f} ms"
    )
    print(
        f"  stored closed and queued -> delivered, {len(samples)} stops at"
        f" {1 / LATENCY_PACE_S:.0f}/s: p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms"
    )
    save("stops", results)

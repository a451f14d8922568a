"""Benchmark plumbing: the large demo database, servers in subprocesses, timing statistics."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import statistics
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import asyncpg

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
BENCH_DB = os.environ.get(
    "BENCH_PROTHEUS_DB_URL", "postgresql://postgres@127.0.0.1:5432/protheus_bench"
)
BENCH_SCALE = os.environ.get("BENCH_SCALE", "large")


async def ensure_demo_database(dsn: str = BENCH_DB, scale: str = BENCH_SCALE) -> None:
    """Create and load the demo database for benchmarks once; later runs reuse it."""
    from devserver.launcher import ensure_database
    from protheus_demo.load import has_protheus_tables, load_demo

    await ensure_database(dsn)
    conn = await asyncpg.connect(dsn)
    try:
        if not await has_protheus_tables(conn, "01"):
            print(f"loading the {scale} demo database into {dsn} (once) ...", flush=True)
            started = time.perf_counter()
            counts = await load_demo(conn, scale=scale)
            print(f"  loaded in {time.perf_counter() - started:.0f} s: {counts}", flush=True)
    finally:
        await conn.close()


def percentiles(samples: list[float]) -> tuple[float, float]:
    """p50 and p95 in milliseconds."""
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(ordered) * 1000, p95 * 1000


async def timed(call: Callable[[], Awaitable[object]], *, repeat: int, warmup: int) -> list[float]:
    """Sequential timings of `call` (seconds), after a warm-up."""
    for _ in range(warmup):
        await call()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        await call()
        samples.append(time.perf_counter() - started)
    return samples


async def throughput(
    url: str, headers: dict[str, str], *, concurrency: int, seconds: float
) -> float:
    """Requests per second a server sustains for GETs of `url` (bounded in time and count)."""
    deadline = time.perf_counter() + seconds
    done = 0
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            nonlocal done
            while time.perf_counter() < deadline and done < 1_000_000:
                async with session.get(url, headers=headers) as resp:
                    await resp.read()
                    if resp.status != 200:
                        raise RuntimeError(f"{url}: HTTP {resp.status}")
                done += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return done / (time.perf_counter() - started)


@contextlib.asynccontextmanager
async def server(
    args: list[str],
    env: dict[str, str],
    port: int,
    *,
    start_s: float = 10.0,
    stop_s: float = 10.0,
) -> AsyncIterator[str]:
    """A server in its own process (so it does not share the client's event loop), up once
    /healthz answers (within `start_s`); stopped with SIGTERM, killed after `stop_s`."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *args,
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(round(start_s / 0.1)):
                with contextlib.suppress(aiohttp.ClientError):
                    async with session.get(f"{base}/healthz") as resp:
                        if resp.status == 200:
                            break
                await asyncio.sleep(0.1)
            else:
                raise RuntimeError(f"server {args} did not start")
        yield base
    finally:
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), timeout=stop_s)
        except TimeoutError:
            process.kill()
            await process.wait()


def save(name: str, results: dict[str, object]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(results, indent=2))


SERVER = "postgresql://postgres@127.0.0.1:5432"


async def fresh_database(name: str) -> str:
    """An empty database `name` on the local server (dropped first when it exists); its DSN."""
    from devserver.launcher import ensure_database

    admin = await asyncpg.connect(f"{SERVER}/postgres")
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()
    dsn = f"{SERVER}/{name}"
    await ensure_database(dsn)
    return dsn


async def migrated_database(name: str) -> str:
    """A fresh database `name` with the MES migrations applied; its DSN."""
    from shared.migrations import migrate

    dsn = await fresh_database(name)
    conn = await asyncpg.connect(dsn)
    try:
        await migrate(conn)
    finally:
        await conn.close()
    return dsn

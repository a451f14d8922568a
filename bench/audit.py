"""Audit cost: GET /products/{code} throughput with the audit on against the same service with
it off, in the same run (target: the audit costs <= 10%, i.e. ratio on/off >= 0.90).

Two catalog processes on the same Protheus database, one with AUDIT_ENABLED=true writing into
a MES database of its own, one with AUDIT_ENABLED=false; rounds alternate (off, on, off, on,
...) so load from elsewhere on the machine falls on both alike, and the medians are compared.
Afterwards the audit table must hold a row for every request the audited server answered,
and the cost of one audited request is measured apart (middleware + COPY, microseconds per
row), a figure the machine's load swings do not blur as they do the throughput ratio.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import statistics
import time
from typing import Any

import asyncpg
from prometheus_client import CollectorRegistry

from bench.common import BENCH_DB, ensure_demo_database, save, server, throughput
from devserver.launcher import ensure_database
from shared.audit.writer import AuditRow, AuditWriter
from shared.settings import AuditSettings

KEY = "bench-audit-key-0123456789abcdef"
HEADERS = {"Authorization": f"Bearer {KEY}"}
ON_PORT, OFF_PORT = 18191, 18192
MES_DB = os.environ.get(
    "BENCH_AUDIT_MES_DB_URL", "postgresql://postgres@127.0.0.1:5432/mes_bench_audit"
)
ROUNDS = int(os.environ.get("BENCH_AUDIT_ROUNDS", "8"))
SECONDS = float(os.environ.get("BENCH_AUDIT_SECONDS", "3"))
CONCURRENCY = 16


async def audit_rows(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        exists = await conn.fetchval("SELECT to_regclass('audit_log') IS NOT NULL")
        return await conn.fetchval("SELECT count(*) FROM audit_log") if exists else 0
    finally:
        await conn.close()


async def cost_per_row(dsn: str, rows: int = 20_000) -> dict[str, float]:
    """What one audited request costs, free of the machine's load swings: the middleware's
    part (build the row, buffer it) and the writer's COPY (app CPU, and wall time, which adds
    the server's work), in microseconds per row."""
    config = AuditSettings(enabled=True, buffer_rows=rows, batch_rows=2_000)
    writer = AuditWriter(config, dsn, CollectorRegistry(), ca_file=None)
    await writer.start()
    try:
        assert await writer.flush()  # schema and partitions first, outside the timing
        cpu = time.process_time()
        for n in range(rows):
            now = time.time()
            writer.record(
                AuditRow(
                    dt.datetime.fromtimestamp(now, dt.UTC), f"bench-{n:026d}", "dashboard",
                    "GET", "product", "/api/v1/products/30100127", 200,
                    writer.client_of("127.0.0.1", "10.1.2.3"), "127.0.0.1",
                    round((time.time() - now) * 1000, 3), None, "catalog",
                )
            )  # fmt: skip
        record_us = (time.process_time() - cpu) / rows * 1e6
        cpu, wall = time.process_time(), time.perf_counter()
        assert await writer.flush()
        copy_cpu_us = (time.process_time() - cpu) / rows * 1e6
        copy_wall_us = (time.perf_counter() - wall) / rows * 1e6
    finally:
        await writer.stop()
    return {"record_us": record_us, "copy_cpu_us": copy_cpu_us, "copy_wall_us": copy_wall_us}


async def main() -> None:
    await ensure_demo_database()
    await ensure_database(MES_DB)
    conn = await asyncpg.connect(BENCH_DB)
    try:
        product = (
            await conn.fetchval(
                "SELECT b1_cod FROM sb1010 WHERE d_e_l_e_t_ = ' ' ORDER BY r_e_c_n_o_ LIMIT 1 OFFSET 100"
            )
        ).strip()
    finally:
        await conn.close()
    common = {
        "PROTHEUS_DB_URL": BENCH_DB,
        "MES_DB_URL": MES_DB,
        "MES_API_KEYS": f"bench:{KEY}:catalog:read",
        "LOG_LEVEL": "WARNING",
    }
    on_env = {**common, "HTTP_PORT": str(ON_PORT), "AUDIT_ENABLED": "true"}
    off_env = {**common, "HTTP_PORT": str(OFF_PORT), "AUDIT_ENABLED": "false"}
    path = f"/api/v1/products/{product}"
    before = await audit_rows(MES_DB)
    rates: dict[str, list[float]] = {"off": [], "on": []}
    print(
        f"\nGET {path}: audit on vs off, {ROUNDS} alternating rounds of {SECONDS:.0f} s, "
        f"{CONCURRENCY} connections",
        flush=True,
    )
    async with (
        server(["-m", "services.catalog"], on_env, ON_PORT) as on_base,
        server(["-m", "services.catalog"], off_env, OFF_PORT) as off_base,
    ):
        for base in (off_base, on_base):  # warm both (pools, prepared statements)
            await throughput(base + path, HEADERS, concurrency=CONCURRENCY, seconds=1)
        warm = time.perf_counter()
        for n in range(ROUNDS):
            # off-on, then on-off: a drift in the machine's load falls on both alike.
            order = [("off", off_base), ("on", on_base)]
            for label, base in order if n % 2 == 0 else order[::-1]:
                rps = await throughput(
                    base + path, HEADERS, concurrency=CONCURRENCY, seconds=SECONDS
                )
                rates[label].append(rps)
                print(f"  round {n + 1} audit {label:<3} {rps:8.0f} req/s", flush=True)
        elapsed = time.perf_counter() - warm
        await asyncio.sleep(3)  # the writer's last batch
    on, off = statistics.median(rates["on"]), statistics.median(rates["off"])
    # Each round's pair ran back to back: the median of the pairs' ratios is the figure.
    pairs = [a / b for a, b in zip(rates["on"], rates["off"], strict=True)]
    ratio = statistics.median(pairs)
    answered = round(sum(rates["on"]) * SECONDS)
    written = await audit_rows(MES_DB) - before
    results: dict[str, Any] = {
        "path": path,
        "rounds": ROUNDS,
        "seconds_per_round": SECONDS,
        "off_rps": rates["off"],
        "on_rps": rates["on"],
        "off_median_rps": off,
        "on_median_rps": on,
        "pair_ratios": pairs,
        "ratio": ratio,
        "audited_requests_approx": answered,
        "audit_rows_written": written,
        "elapsed_s": elapsed,
    }
    print(
        f"  median: off {off:.0f} req/s, on {on:.0f} req/s; median of the rounds' on/off ratios "
        f"{ratio:.3f} (audit cost {100 * (1 - ratio):.1f}%; target <= 10%)"
    )
    print(f"  audit rows written: {written} (about {answered} audited requests answered)")
    per_row = await cost_per_row(MES_DB)
    results["per_row"] = per_row
    total_us = per_row["record_us"] + per_row["copy_wall_us"]
    results["cost_at_off_rate"] = total_us * off / 1e6
    print(
        f"  per audited request: middleware {per_row['record_us']:.1f} us + COPY "
        f"{per_row['copy_wall_us']:.1f} us ({per_row['copy_cpu_us']:.1f} us of it in the app) "
        f"= {total_us:.0f} us; at {off:.0f} req/s that is {100 * total_us * off / 1e6:.1f}% "
        "of one core"
    )
    save("audit", results)

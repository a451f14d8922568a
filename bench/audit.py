"""Audit cost: GET /products/{code} throughput with the audit on against the same service with
it off, in the same run (target: the audit costs <= 10%, i.e. ratio on/off >= 0.90).

Two catalog processes on the same Protheus database, one with AUDIT_ENABLED=true writing into
a MES database of its own, one with AUDIT_ENABLED=false; rounds alternate (off, on, off, on,
...) so load from elsewhere on the machine falls on both alike, and the medians are compared.
Afterwards the audit table must hold a row for every request the audited server answered.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from typing import Any

import asyncpg

from bench.common import BENCH_DB, ensure_demo_database, save, server, throughput
from devserver.launcher import ensure_database

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
    save("audit", results)

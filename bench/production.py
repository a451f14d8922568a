"""Production benchmark: reports delivered per second through the simulator, clean and with faults.

Both runs use the same data, pushers and settings in the same process; the figure that
matters is the ratio between them (the machine is noisy). Faults: 10% 500/503, 10%
dropped before the write, 10% dropped after it (lost answers, resolved by the marker).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import time
import uuid
from typing import Any

import aiohttp
import asyncpg
from aiohttp.test_utils import TestServer
from prometheus_client import CollectorRegistry

from bench.common import save
from devserver.launcher import ensure_database
from protheus_demo.load import load_demo
from protheus_demo.simulator.app import create_simulator
from protheus_demo.simulator.config import FaultSettings, SimulatorConfig
from services.production.pusher.client import ProtheusClient
from services.production.pusher.pusher import PusherMetrics, ReportPusher
from services.production.settings import PusherSettings
from shared.db import BranchResolver, open_protheus_source
from shared.migrations import migrate
from shared.settings import Settings

SERVER = "postgresql://postgres@127.0.0.1:5432"
REPORTS = 400
PUSHERS = 2
PUSHER = PusherSettings(
    concurrency=8, batch=50, poll_s=0.02, lease_s=10, timeout_s=5, backoff_base_s=0.05,
    backoff_cap_s=0.5, breaker_threshold=10_000, token_margin_s=0, settle_s=0.3,
)  # fmt: skip


async def fresh(name: str) -> str:
    admin = await asyncpg.connect(f"{SERVER}/postgres")
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()
    dsn = f"{SERVER}/{name}"
    await ensure_database(dsn)
    return dsn


async def open_order(conn: asyncpg.Connection) -> dict[str, Any]:
    return dict(
        await conn.fetchrow(
            """SELECT rtrim(c2_num) || rtrim(c2_item) || rtrim(c2_sequen) || rtrim(c2_itemgrd) AS key,
                      c2.c2_produto, c2.c2_local, min(g2.g2_operac) AS op, min(g2.g2_recurso) AS machine
               FROM sc2010 c2 JOIN sb1010 b1 ON b1.b1_cod = c2.c2_produto AND b1.d_e_l_e_t_ = ' '
               JOIN sg2010 g2 ON g2.g2_filial = c2.c2_filial AND g2.g2_produto = c2.c2_produto AND g2.d_e_l_e_t_ = ' '
                AND g2.g2_codigo = (CASE WHEN c2.c2_roteiro <> '' THEN c2.c2_roteiro
                                         WHEN b1.b1_operpad <> '' THEN b1.b1_operpad ELSE '01' END)
               WHERE c2.c2_filial = '01' AND c2.d_e_l_e_t_ = ' ' AND c2.c2_tpop = 'F' AND c2.c2_datrf = ''
                 AND c2.c2_status NOT IN ('U', 'S')
               GROUP BY 1, 2, 3 ORDER BY 1 LIMIT 1"""
        )
    )


async def enqueue(mes: asyncpg.Connection, order: dict[str, Any], count: int) -> None:
    """COPY `count` reports and their outbox rows (one operation each, so none waits on another)."""
    now = time.time()
    reports, outbox = [], []
    for n in range(count):
        report_id = uuid.uuid4()
        reports.append((
            report_id, "bench", "01", order["key"], order["op"].strip(), order["machine"].strip(), "OP0001",
            _ts(now - 7200 + n), _ts(now - 3600 + n), 1, 0, False, order["c2_produto"].strip(), order["c2_local"].strip(),
        ))  # fmt: skip
        outbox.append((report_id,))
    columns = (
        "id", "client", "branch", "order_key", "operation", "machine", "operator", "start_at", "end_at",
        "good_quantity", "scrap_quantity", "final", "item_code", "warehouse",
    )  # fmt: skip
    await mes.copy_records_to_table("production_reports", records=reports, columns=columns)
    await mes.copy_records_to_table("report_outbox", records=outbox, columns=("report_id",))


def _ts(epoch: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, dt.UTC)


async def run(protheus_dsn: str, mes_dsn: str, faults: FaultSettings) -> float:
    """Deliver REPORTS reports; return reports per second (all final, each once in SH6)."""
    mes_pool = await asyncpg.create_pool(mes_dsn, min_size=1, max_size=10)
    source = await open_protheus_source(
        protheus_dsn, company="01", pool_max=5, statement_timeout_ms=10_000
    )
    simulator = TestServer(
        create_simulator(SimulatorConfig(db_url=protheus_dsn, faults=faults, pool_max=10))
    )
    await simulator.start_server()
    settings = Settings(
        protheus_db_url=protheus_dsn,
        mes_db_url=mes_dsn,
        protheus_rest_url=str(simulator.make_url("/rest")).rstrip("/"),
    )
    sessions = [aiohttp.ClientSession() for _ in range(PUSHERS)]
    try:
        async with mes_pool.acquire() as mes:
            await mes.execute("TRUNCATE report_attempts, report_outbox, production_reports")
            async with source.pool.acquire() as p:  # type: ignore[attr-defined]
                order = await open_order(p)
            await enqueue(mes, order, REPORTS)
        branches = BranchResolver(source)
        pushers = [
            ReportPusher(mes_pool, source, branches, ProtheusClient(s, settings, PUSHER), settings, PUSHER,
                         PusherMetrics(CollectorRegistry()))
            for s in sessions
        ]  # fmt: skip
        started = time.perf_counter()
        while True:
            handled = sum(await asyncio.gather(*(p.run_once() for p in pushers)))
            async with mes_pool.acquire() as mes:
                left = await mes.fetchval("SELECT count(*) FROM report_outbox")
            if not left:
                break
            if not handled:
                await asyncio.sleep(0.02)
            if time.perf_counter() - started > 600:
                raise RuntimeError("benchmark did not drain in 10 minutes")
        elapsed = time.perf_counter() - started
        async with mes_pool.acquire() as mes:
            delivered = await mes.fetchval(
                "SELECT count(*) FROM production_reports WHERE status = 'delivered'"
            )
        conn = await asyncpg.connect(protheus_dsn)
        try:
            dupes = await conn.fetchval(
                "SELECT count(*) FROM (SELECT h6_observa FROM sh6010 WHERE h6_observa LIKE 'MES:%' "
                "AND d_e_l_e_t_ = ' ' GROUP BY h6_observa HAVING count(*) > 1) d"
            )
        finally:
            await conn.close()
        if delivered != REPORTS or dupes:
            raise RuntimeError(f"delivered {delivered}/{REPORTS}, duplicated {dupes}")
        return REPORTS / elapsed
    finally:
        for s in sessions:
            await s.close()
        await simulator.close()
        await source.close()
        await mes_pool.close()


async def main() -> None:
    protheus_dsn = await fresh("bench_production_protheus")
    mes_dsn = await fresh("bench_production_mes")
    conn = await asyncpg.connect(protheus_dsn)
    try:
        await load_demo(conn, scale="default")
    finally:
        await conn.close()
    conn = await asyncpg.connect(mes_dsn)
    try:
        await migrate(conn)
    finally:
        await conn.close()
    clean = await run(protheus_dsn, mes_dsn, FaultSettings())
    faulty = await run(
        protheus_dsn,
        mes_dsn,
        FaultSettings(error_rate=0.1, drop_before_rate=0.1, drop_after_rate=0.1, seed=1),
    )
    results = {
        "reports": REPORTS,
        "pushers": PUSHERS,
        "clean_per_s": clean,
        "faulty_per_s": faulty,
        "ratio": faulty / clean,
        "settings": dataclasses.asdict(PUSHER),
    }
    print("\nProduction: reports delivered per second (each exactly once in SH6)")
    print(f"  no faults        {clean:8.1f} /s")
    print(f"  30% mixed faults {faulty:8.1f} /s  -> ratio {faulty / clean:.2f}")
    save("production", results)

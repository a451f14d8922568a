"""Production benchmark: reports delivered per second through the simulator.

Everything runs in one process against one simulator, and every figure is a ratio to a
baseline measured in the same run (the machine is noisy):

- raw capacity: MATA681 appointments POSTed straight to the simulator by as many
  concurrent callers as the pushers send at once, no outbox;
- backlogs of 1k, 10k and 50k reports over many order/operation pairs (loaded with COPY,
  as after Protheus was away, behind 20k reports delivered earlier): a bounded number of
  deliveries by the pushers, against the raw capacity measured just before and after;
  plus the claim's time at that depth, before and after those deliveries;
- the single-pair serial case (one order and operation: one report at a time by rule);
- 30% mixed faults on that single pair against the clean run (10% 500/503, 10% dropped
  before the write, 10% dropped after it: lost answers, resolved by the marker).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import statistics
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import asyncpg
from aiohttp.test_utils import TestServer
from prometheus_client import CollectorRegistry

from bench.common import fresh_database, save
from protheus_demo.load import load_demo
from protheus_demo.simulator.app import create_simulator
from protheus_demo.simulator.config import FaultSettings, SimulatorConfig
from services.production.pusher import queries
from services.production.pusher.client import ProtheusClient
from services.production.pusher.documents import appointment_payload
from services.production.pusher.pusher import Pusher, PusherMetrics
from shared.db.sources import open_protheus_source
from shared.migrations import migrate
from shared.protheus.branches import BranchResolver, ProtheusDictionary
from shared.protheus.context import ProtheusContext
from shared.settings import PusherSettings, Settings

REPORTS = 400  # the single-pair runs (clean, faults): every report delivered
PUSHERS = 2
PUSHER = PusherSettings(
    concurrency=8, batch=50, poll_s=0.02, lease_s=10, timeout_s=5, backoff_base_s=0.05,
    backoff_cap_s=0.5, breaker_threshold=10_000, token_margin_s=0, settle_s=0.3,
)  # fmt: skip
PAIRS = 500  # order/operation pairs the backlogs spread over
BACKLOGS = (1_000, 10_000, 50_000)
DELIVERIES = 800  # measured per backlog (at most half of it), so 50k does not take ages
HISTORY = 20_000  # reports delivered before the outage: a lived-in database, not an empty one
RAW = 300  # appointments POSTed straight per raw-capacity measurement
CALLERS = PUSHERS * PUSHER.concurrency  # raw callers: as many as the pushers send at once
OPEN_PAIRS = """
SELECT rtrim(c2_num) || rtrim(c2_item) || rtrim(c2_sequen) || rtrim(c2_itemgrd) AS key,
       g2.g2_operac AS op, min(g2.g2_recurso) AS machine,
       min(c2.c2_produto) AS c2_produto, min(c2.c2_local) AS c2_local
FROM sc2010 c2 JOIN sb1010 b1 ON b1.b1_cod = c2.c2_produto AND b1.d_e_l_e_t_ = ' '
JOIN sg2010 g2 ON g2.g2_filial = c2.c2_filial AND g2.g2_produto = c2.c2_produto AND g2.d_e_l_e_t_ = ' '
 AND g2.g2_codigo = (CASE WHEN c2.c2_roteiro <> '' THEN c2.c2_roteiro
                          WHEN b1.b1_operpad <> '' THEN b1.b1_operpad ELSE '01' END)
WHERE c2.c2_filial = '01' AND c2.d_e_l_e_t_ = ' ' AND c2.c2_tpop = 'F' AND c2.c2_datrf = ''
  AND c2.c2_status NOT IN ('U', 'S')
GROUP BY 1, 2 ORDER BY 1, 2 LIMIT $1
"""


def _pair(row: asyncpg.Record) -> dict[str, str]:
    return {k: str(v).strip() for k, v in dict(row).items()}


async def open_pairs(conn: asyncpg.Connection, limit: int) -> list[dict[str, str]]:
    """Open, firm orders with an operation of their routing and its machine."""
    return [_pair(r) for r in await conn.fetch(OPEN_PAIRS, limit)]


def _ts(epoch: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, dt.UTC)


def report_row(pair: dict[str, str], n: int, now: float) -> dict[str, Any]:
    return {
        "id": uuid.uuid4(), "client": "bench", "branch": "01", "order_key": pair["key"],
        "operation": pair["op"], "machine": pair["machine"], "operator": "OP0001",
        "start_at": _ts(now - 90_000 + n), "end_at": _ts(now - 86_000 + n),
        "good_quantity": 1, "scrap_quantity": 0, "final": False,
        "item_code": pair["c2_produto"], "warehouse": pair["c2_local"],
        "scrap_reason": None, "lot": None,
    }  # fmt: skip


COLUMNS = (
    "id", "client", "branch", "order_key", "operation", "machine", "operator", "start_at",
    "end_at", "good_quantity", "scrap_quantity", "final", "item_code", "warehouse",
)  # fmt: skip


async def enqueue(
    mes: asyncpg.Connection, pairs: list[dict[str, str]], count: int, *, history: int = 0
) -> None:
    """COPY `count` reports and their outbox rows, accepted in turn over the pairs, after
    `history` reports delivered earlier."""
    now = time.time()
    rows = [report_row(pairs[n % len(pairs)], n, now) for n in range(count)]
    async with mes.transaction():
        await mes.execute(
            "TRUNCATE report_attempts, report_outbox_heads, report_outbox, production_reports"
        )
        if history:
            old = [report_row(pairs[n % len(pairs)], n, now - 86_400) for n in range(history)]
            await mes.copy_records_to_table(
                "production_reports",
                records=[(*(r[c] for c in COLUMNS), "delivered") for r in old],
                columns=(*COLUMNS, "status"),
            )
        await mes.copy_records_to_table(
            "production_reports", records=[tuple(r[c] for c in COLUMNS) for r in rows], columns=COLUMNS
        )  # fmt: skip
        await mes.copy_records_to_table(
            "report_outbox", records=[(r["id"],) for r in rows], columns=("report_id",)
        )
    # As autovacuum would have, over the hours the backlog took to build up.
    await mes.execute("VACUUM ANALYZE production_reports, report_outbox, report_outbox_heads")


@dataclasses.dataclass
class Line:
    """The simulator, the MES pool and the pushers, shared by every run of the benchmark."""

    settings: Settings
    mes_pool: asyncpg.Pool
    pushers: list[Pusher]
    raw_client: ProtheusClient
    pairs: list[dict[str, str]]


@contextlib.asynccontextmanager
async def line(protheus_dsn: str, mes_dsn: str, faults: FaultSettings) -> AsyncIterator[Line]:
    mes_pool = await asyncpg.create_pool(mes_dsn, min_size=1, max_size=CALLERS + 4)
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
    sessions = [aiohttp.ClientSession() for _ in range(PUSHERS + 1)]
    try:
        async with source.pool.acquire() as p:  # type: ignore[attr-defined]
            pairs = await open_pairs(p, PAIRS)
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
        yield Line(settings, mes_pool, pushers, raw, pairs)
    finally:
        for s in sessions:
            await s.close()
        await simulator.close()
        await source.close()
        await mes_pool.close()


async def raw_capacity(line: Line, count: int = RAW) -> float:
    """Appointments per second POSTed straight (CALLERS at once), each one written."""
    now = time.time()
    payloads = []
    for n in range(count):
        report = report_row(line.pairs[n % len(line.pairs)], n, now)
        payload = appointment_payload(report, line.settings.tz)
        payload["Comments"] = f"RAW:{report['id']}"  # not a report: no MES marker
        payloads.append(payload)
    queue = iter(payloads)
    await line.raw_client.authorization()

    async def caller() -> None:
        for payload in queue:
            outcome = await line.raw_client.post_appointment(payload, branch="01")
            if outcome.kind != "delivered":
                raise RuntimeError(f"raw appointment not written: {outcome}")

    started = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(CALLERS)))
    return count / (time.perf_counter() - started)


async def claim_ms(mes_pool: asyncpg.Pool, repeat: int = 7) -> float:
    """Median time of one claim of a batch at the outbox's current depth (rolled back)."""
    samples = []
    async with mes_pool.acquire() as mes:
        for _ in range(repeat):
            tx = mes.transaction()
            await tx.start()
            started = time.perf_counter()
            await mes.fetch(queries.CLAIM, PUSHER.batch, PUSHER.lease_s, "bench-probe")
            samples.append(time.perf_counter() - started)
            await tx.rollback()
    return statistics.median(samples) * 1000


async def push(line: Line, target: int) -> tuple[int, float]:
    """Let the pushers run their rounds (gauges, claim, deliveries) until `target` reports
    are handled; returns (delivered, seconds)."""
    handled = 0

    async def loop(pusher: Pusher) -> None:
        nonlocal handled
        while handled < target:
            await pusher.refresh_gauges()
            n = await pusher.run_once()
            handled += n
            if not n:
                await asyncio.sleep(PUSHER.poll_s)

    async with line.mes_pool.acquire() as mes:
        before = await mes.fetchval(
            "SELECT count(*) FROM production_reports WHERE status = 'delivered'"
        )
    started = time.perf_counter()
    await asyncio.gather(*(loop(p) for p in line.pushers))
    elapsed = time.perf_counter() - started
    async with line.mes_pool.acquire() as mes:
        delivered = await mes.fetchval(
            "SELECT count(*) FROM production_reports WHERE status = 'delivered'"
        )
    return delivered - before, elapsed


async def no_duplicates(protheus_dsn: str) -> None:
    conn = await asyncpg.connect(protheus_dsn)
    try:
        dupes = await conn.fetchval(
            "SELECT count(*) FROM (SELECT h6_observa FROM sh6010 WHERE h6_observa LIKE 'MES:%' "
            "AND d_e_l_e_t_ = ' ' GROUP BY h6_observa HAVING count(*) > 1) d"
        )
    finally:
        await conn.close()
    if dupes:
        raise RuntimeError(f"{dupes} reports written twice in SH6")


async def backlog(line: Line, protheus_dsn: str, depth: int) -> dict[str, float]:
    """A backlog of `depth` reports over the pairs: pushers against raw capacity around them."""
    async with line.mes_pool.acquire() as mes:
        loaded = time.perf_counter()
        await enqueue(mes, line.pairs, depth, history=HISTORY)
        load_s = time.perf_counter() - loaded
    claim = await claim_ms(line.mes_pool)
    raw_before = await raw_capacity(line)
    delivered, seconds = await push(line, min(DELIVERIES, depth // 2))
    claim_after = await claim_ms(line.mes_pool)
    raw_after = await raw_capacity(line)
    await no_duplicates(protheus_dsn)
    raw = (raw_before + raw_after) / 2
    rate = delivered / seconds
    return {
        "depth": depth, "history": HISTORY, "pairs": len(line.pairs), "load_s": load_s, "claim_ms": claim,
        "claim_after_ms": claim_after,
        "delivered": delivered, "per_s": rate, "raw_per_s": raw, "raw_before_per_s": raw_before,
        "raw_after_per_s": raw_after, "ratio": rate / raw,
    }  # fmt: skip


async def drain_single_pair(line: Line, protheus_dsn: str) -> float:
    """REPORTS reports of one order and operation, all delivered; reports per second."""
    async with line.mes_pool.acquire() as mes:
        await enqueue(mes, line.pairs[:1], REPORTS)
    started = time.perf_counter()
    while True:
        handled = sum(await asyncio.gather(*(p.run_once() for p in line.pushers)))
        async with line.mes_pool.acquire() as mes:
            left = await mes.fetchval("SELECT count(*) FROM report_outbox")
        if not left:
            break
        if not handled:
            await asyncio.sleep(0.02)
        if time.perf_counter() - started > 600:
            raise RuntimeError("benchmark did not drain in 10 minutes")
    elapsed = time.perf_counter() - started
    async with line.mes_pool.acquire() as mes:
        delivered = await mes.fetchval(
            "SELECT count(*) FROM production_reports WHERE status = 'delivered'"
        )
    if delivered != REPORTS:
        raise RuntimeError(f"delivered {delivered}/{REPORTS}")
    await no_duplicates(protheus_dsn)
    return REPORTS / elapsed


async def main() -> None:
    protheus_dsn = await fresh_database("bench_production_protheus")
    mes_dsn = await fresh_database("bench_production_mes")
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
    async with line(protheus_dsn, mes_dsn, FaultSettings()) as clean_line:
        await raw_capacity(clean_line, 100)  # warm-up: tokens, pools, caches
        async with clean_line.mes_pool.acquire() as mes:
            await enqueue(mes, clean_line.pairs, 100)
        await push(clean_line, 100)
        backlogs = [await backlog(clean_line, protheus_dsn, depth) for depth in BACKLOGS]
        serial_raw = await raw_capacity(clean_line)
        clean = await drain_single_pair(clean_line, protheus_dsn)
    faults = FaultSettings(error_rate=0.1, drop_before_rate=0.1, drop_after_rate=0.1, seed=1)
    async with line(protheus_dsn, mes_dsn, faults) as faulty_line:
        faulty = await drain_single_pair(faulty_line, protheus_dsn)
    results = {
        "pushers": PUSHERS,
        "raw_callers": CALLERS,
        "backlogs": backlogs,
        "single_pair": {"reports": REPORTS, "per_s": clean, "raw_per_s": serial_raw,
                        "ratio_to_raw": clean / serial_raw},
        "clean_per_s": clean,
        "faulty_per_s": faulty,
        "ratio": faulty / clean,
        "settings": dataclasses.asdict(PUSHER),
    }  # fmt: skip
    print(
        f"\nProduction: {PUSHERS} pushers, raw capacity = {CALLERS} callers POSTing MATA681"
        f" straight; {HISTORY:,} reports delivered before each backlog"
    )
    print(
        f"  {'backlog':>8} {'pairs':>6} {'claim before/after':>19} {'pushers':>10} {'raw':>10} {'ratio':>6}"
    )
    for b in backlogs:
        print(
            f"  {b['depth']:>8,} {b['pairs']:>6} {b['claim_ms']:>6.2f} / {b['claim_after_ms']:>5.2f} ms"
            f" {b['per_s']:>7.1f}/s"
            f" {b['raw_per_s']:>7.1f}/s {b['ratio']:>6.2f}"
        )
    print(
        f"  single pair, {REPORTS} reports (serial by rule): {clean:.1f}/s vs raw {serial_raw:.1f}/s"
        f" -> {clean / serial_raw:.2f}"
    )
    print(
        f"  single pair with 30% mixed faults: {faulty:.1f}/s -> ratio to clean {faulty / clean:.2f}"
    )
    save("production", results)

"""OEE per machine over 30 days for 100 machines, answered from the hourly rollup
(analytics.oee_hourly) beside the same figures computed from the raw rows (the /api/v1/oee
stages: facts + window_totals), and the cost of the rollups' dirty-mark triggers on ingest.

- Trigger cost: TelemetryStore.write (as the ingestor drains its spool) of 20 batches of
  20,000 samples (plus 100 states and 100 counters), each written alternately into a database
  with the rollup triggers and one without them, in the same run: median per batch and ratio.
- Data: 100 machines x 30 days of states (a change every 10-40 min), counters and one metric
  every 5 min, loaded with COPY (the triggers mark what the rollup job then computes); the job's
  catch-up time is reported too.
- Queries, p50 over repeated runs: the 30-day OEE per machine summed from the hourly rows
  (target < 100 ms), every hourly row of the 100 machines, and the raw path.
"""

from __future__ import annotations

import datetime as dt
import random
import statistics
import time
from typing import Any

import asyncpg

from bench.common import fresh_database, percentiles, save, timed
from protheus_demo.load import create_schema
from protheus_demo.rows import insert_row
from services.analytics.rollups.service import OeeSetup, refresh_rollups
from services.telemetry.ingest.parse import Parsed
from services.telemetry.ingest.store import TelemetryStore
from services.telemetry.partitions import ensure_partitions
from services.telemetry.query.oee.aggregate import figures
from services.telemetry.query.oee.facts import collect_facts
from services.telemetry.query.oee.service import window_totals
from shared.db.sources import open_protheus_source
from shared.migrations import migrate
from shared.protheus.branches import BranchResolver, ProtheusDictionary
from shared.protheus.context import ProtheusContext
from shared.settings import Settings

MACHINES = 100
DAYS = 30
STEP = dt.timedelta(minutes=5)  # counters and samples
ORDER_NUM, ORDER_KEY = "900001", "90000101001"
SHIFTS = "mon-sat 06:00-22:00"
TRIGGER_BATCHES = 20  # per side (with and without the triggers)
TRIGGER_METRICS = 10
REPEAT = 30
RAW_REPEAT = 3
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)
TRIGGERS = (
    ("telemetry_samples", "rollup_mark_samples"),
    ("machine_states", "rollup_mark_states"),
    ("machine_counters", "rollup_mark_counters"),
)

# Per machine over 30 days, from the hourly rows (sums before the ratios, as the route does).
FROM_ROLLUPS = """
SELECT machine, sum(planned_s) AS planned, sum(running_s) AS running, sum(ideal_s) AS ideal,
       count(ideal_s) = count(*) AS ideal_known, sum(good) AS good, sum(scrap) AS scrap
FROM analytics.oee_hourly
WHERE hour_utc >= $1 AND hour_utc < $2
GROUP BY machine ORDER BY machine
"""
HOURLY_ROWS = "SELECT * FROM analytics.oee_hourly WHERE hour_utc >= $1 AND hour_utc < $2"


def utc_wall(*instants: dt.datetime) -> list[dt.datetime]:
    """Instants as the views' `*_utc` columns hold them: UTC wall-clock, no zone."""
    return [i.astimezone(dt.UTC).replace(tzinfo=None) for i in instants]


def machine_names() -> list[str]:
    return [f"B{n:03d}" for n in range(MACHINES)]


async def protheus_rows(dsn: str) -> None:
    """SH1, one product and order, and each machine's routing operation (36 s per unit)."""
    conn = await asyncpg.connect(dsn)
    try:
        await create_schema(conn, company="01")
        await insert_row(conn, "SB1", B1_FILIAL="", B1_COD="PBENCH", B1_DESC="PRODUTO BENCH")
        await insert_row(conn, "SC2", C2_FILIAL="01", C2_NUM=ORDER_NUM, C2_ITEM="01",
                         C2_SEQUEN="001", C2_PRODUTO="PBENCH", C2_ROTEIRO="01", C2_TPOP="F",
                         C2_QUANT=1e6)  # fmt: skip
        for machine in machine_names():
            await insert_row(conn, "SH1", H1_FILIAL="", H1_CODIGO=machine, H1_DESCRI=machine)
            await insert_row(conn, "SG2", G2_FILIAL="01", G2_PRODUTO="PBENCH", G2_CODIGO="01",
                             G2_OPERAC="10", G2_RECURSO=machine, G2_TEMPAD=0.01, G2_LOTEPAD=1)  # fmt: skip
    finally:
        await conn.close()


def ingest_batch(start: dt.datetime) -> list[Parsed]:
    """One flush: every machine's 10 metrics x 20 s at 1 Hz (20,000 samples), a state and a
    counter each."""
    batch = []
    for machine in machine_names():
        samples = [
            (machine, f"m{k}", start + dt.timedelta(seconds=s), float(s * k))
            for k in range(TRIGGER_METRICS)
            for s in range(20)
        ]
        batch.append(
            Parsed(
                machine=(machine, "bench", "area", "linha", start),
                samples=samples,
                states=[(machine, start, "running", None)],
                counters=[(machine, start, 5, 0, ORDER_KEY)],
                sample_days={start.date(), (start + dt.timedelta(seconds=20)).date()},
            )
        )
    return batch


async def trigger_cost(with_dsn: str, without_dsn: str) -> dict[str, float]:
    """Median ms per write of a 20,000-sample flush into a database with the rollup triggers
    and one without them (dropped: no DDL between the timed writes), alternately."""
    conns = {True: await asyncpg.connect(with_dsn), False: await asyncpg.connect(without_dsn)}
    try:
        for table, trigger in TRIGGERS:
            await conns[False].execute(f"DROP TRIGGER {trigger} ON {table}")
        stores = {True: TelemetryStore(), False: TelemetryStore()}
        start = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(days=2)
        timings: dict[bool, list[float]] = {True: [], False: []}
        for n in range(TRIGGER_BATCHES + 2):
            batch = ingest_batch(start + n * dt.timedelta(seconds=20))
            for enabled in (n % 2 == 0, n % 2 != 0):
                began = time.perf_counter()
                await stores[enabled].write(conns[enabled], batch)
                if n >= 2:  # the first ones warm caches and create the partitions
                    timings[enabled].append(time.perf_counter() - began)
        await conns[True].execute(
            "TRUNCATE telemetry_samples, machine_states, machine_counters, machines,"
            " rollup_dirty_minutes, rollup_dirty_hours, rollup_dirty_spans"
        )
    finally:
        for conn in conns.values():
            await conn.close()
    with_ms = statistics.median(timings[True]) * 1000
    without_ms = statistics.median(timings[False]) * 1000
    return {"with_ms": with_ms, "without_ms": without_ms, "ratio": with_ms / without_ms}


async def load(conn: asyncpg.Connection, start: dt.datetime, end: dt.datetime) -> dict[str, int]:
    """30 days of states, counters and samples per machine, with COPY."""
    rng = random.Random(15)
    states, counters, samples = [], [], []
    for machine in machine_names():
        t = start - HOUR
        while t < end:
            state = rng.choices(("running", "idle", "fault", "setup"), (70, 15, 10, 5))[0]
            states.append((machine, t, state, "E1" if state == "fault" else None))
            t += dt.timedelta(minutes=rng.randint(10, 40), seconds=rng.randint(0, 59))
        t = start
        while t < end:
            counters.append((machine, t, rng.randint(0, 10), rng.randint(0, 1), ORDER_KEY))
            samples.append((machine, "temp", t, rng.uniform(20, 90)))
            t += STEP
    await conn.executemany(
        "INSERT INTO machines (machine, site, area, line, last_seen) VALUES ($1, 'bench', 'area', 'linha', $2)",
        [(m, end) for m in machine_names()],
    )
    await ensure_partitions(conn, {start.date() + dt.timedelta(days=n) for n in range(DAYS + 2)})
    await conn.copy_records_to_table(
        "machine_states", records=states, columns=["machine", "ts", "state", "reason"]
    )
    await conn.copy_records_to_table(
        "machine_counters", records=counters,
        columns=["machine", "ts", "good", "scrap", "order_key"],
    )  # fmt: skip
    await conn.copy_records_to_table(
        "telemetry_samples", records=samples, columns=["machine", "metric", "ts", "value"]
    )
    return {"states": len(states), "counters": len(counters), "samples": len(samples)}


async def raw_figures(
    pool: asyncpg.Pool, protheus: ProtheusContext, setup: OeeSetup, start: dt.datetime,
    end: dt.datetime,
) -> dict[str, Any]:  # fmt: skip
    """The 30-day figures of every machine from the raw rows: the route's stages."""
    planned = setup.calendar.planned(start, end)
    async with pool.acquire() as conn:
        facts = await collect_facts(
            conn, machine=None, line=None, start=start, end=end, planned=planned,
            machines=machine_names(),
        )  # fmt: skip
    _runs, _note, per_machine = await window_totals(
        pool, protheus, facts, start=start, end=end, planned=planned, tz=setup.tz,
        time_format=setup.time_format,
    )  # fmt: skip
    return per_machine


async def main() -> None:
    protheus_dsn = await fresh_database("bench_analytics_protheus")
    mes_dsn = await fresh_database("bench_analytics_mes")
    bare_dsn = await fresh_database("bench_analytics_bare")
    await protheus_rows(protheus_dsn)
    settings = Settings(protheus_db_url=protheus_dsn, mes_db_url=mes_dsn, shift_calendar=SHIFTS)
    setup = OeeSetup.from_settings(settings)
    conn = await asyncpg.connect(mes_dsn)
    pool = await asyncpg.create_pool(mes_dsn, min_size=1, max_size=4)
    source = await open_protheus_source(
        protheus_dsn, company="01", pool_max=5, statement_timeout_ms=60_000
    )
    protheus = ProtheusContext(
        source, "01", BranchResolver(source), settings.protheus_branch, ProtheusDictionary(source)
    )
    try:
        await migrate(conn)
        bare = await asyncpg.connect(bare_dsn)
        try:
            await migrate(bare)
        finally:
            await bare.close()
        cost = await trigger_cost(mes_dsn, bare_dsn)
        print(
            f"rollup triggers on ingest: {cost['with_ms']:.0f} ms per 20,000-sample flush with, "
            f"{cost['without_ms']:.0f} ms without (x{cost['ratio']:.2f})",
            flush=True,
        )
        now = dt.datetime.now(dt.UTC)
        end = EPOCH + (now - EPOCH) // HOUR * HOUR
        start = end - dt.timedelta(days=DAYS)
        began = time.perf_counter()
        loaded = await load(conn, start, end)
        load_s = time.perf_counter() - began
        began = time.perf_counter()
        rolled = await refresh_rollups(pool, protheus, setup=setup)
        rollup_s = time.perf_counter() - began
        hours = await conn.fetchval("SELECT count(*) FROM rollup_oee_hourly")
        print(
            f"loaded {loaded} with COPY in {load_s:.1f} s; rollup job caught up in "
            f"{rollup_s:.1f} s ({hours} machine-hours, {rolled['telemetry_1m']} minutes)",
            flush=True,
        )
        per_machine = await timed(
            lambda: conn.fetch(FROM_ROLLUPS, *utc_wall(start, end)), repeat=REPEAT, warmup=3
        )
        hourly = await timed(
            lambda: conn.fetch(HOURLY_ROWS, *utc_wall(start, end)), repeat=REPEAT, warmup=2
        )
        raw = await timed(
            lambda: raw_figures(pool, protheus, setup, start, end), repeat=RAW_REPEAT, warmup=1
        )
        consistent = await same_figures(conn, pool, protheus, setup, start, end)
    finally:
        await source.close()
        await pool.close()
        await conn.close()
    results = {
        "machines": MACHINES,
        "days": DAYS,
        "trigger_cost": cost,
        "loaded": loaded,
        "rollup_catch_up_s": rollup_s,
        "machine_hours": hours,
        "rollups_per_machine_ms": percentiles(per_machine),
        "rollups_hourly_rows_ms": percentiles(hourly),
        "raw_ms": percentiles(raw),
        "consistent": consistent,
    }
    p50, p95 = results["rollups_per_machine_ms"]
    print(
        f"oee_hourly, {MACHINES} machines x {DAYS} days: per-machine OEE from the rollups "
        f"p50 {p50:.1f} ms (p95 {p95:.1f}; target < 100 ms); every hourly row "
        f"p50 {results['rollups_hourly_rows_ms'][0]:.1f} ms; the same figures from raw rows "
        f"p50 {results['raw_ms'][0]:.0f} ms; sums agree: {consistent}"
    )
    save("analytics_oee", results)


async def same_figures(
    conn: asyncpg.Connection, pool: asyncpg.Pool, protheus: ProtheusContext, setup: OeeSetup,
    start: dt.datetime, end: dt.datetime,
) -> bool:  # fmt: skip
    """Whether the hourly sums give the raw 30-day figures (per-unit standards: additive)."""
    raw = await raw_figures(pool, protheus, setup, start, end)
    for row in await conn.fetch(FROM_ROLLUPS, *utc_wall(start, end)):
        totals = raw[row["machine"]]
        wanted = (totals.planned, totals.running, totals.good, totals.scrap, totals.ideal)
        got = (row["planned"], row["running"], row["good"], row["scrap"], row["ideal"])
        if any(
            abs(float(a) - float(b)) > 0.01 * 24 * DAYS for a, b in zip(got, wanted, strict=True)
        ):
            print(f"  {row['machine']}: rollups {got} raw {wanted}")
            return False
        if figures(totals)["availability"] is None:
            return False
    return True

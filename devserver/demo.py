"""DEMO_TELEMETRY=on for `make run`: a living plant at once.

On start, before the services (so the anomaly detector's first run finds the history):
- the order each demo machine works on: one statement on the demo Protheus database, a
  firm order not ended and of normal situation whose routing (C2_ROTEIRO, else B1_OPERPAD,
  else '01') has an operation on the machine (SG2 G2_RECURSO) with a standard time; started
  orders (with an SH6 appointment) first, then the standard nearest the machine's cycle;
- DEMO_TELEMETRY_HISTORY_DAYS of history up to now (protheus_demo.plantgen, the seed live
  uses, a reading a minute), COPYed into the MES database only when it holds no telemetry of
  the demo machines and no other machine at all (a real plant's database is never touched);
- then the live plant (a reading every 10 s) from now on, the counters naming the orders;
- and, after a backfill, a failure-risk model trained in the background when none is active
  (as `python -m services.analytics.risk train`), with the machines' current hour scored.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import logging
import math
import time
from collections.abc import Mapping, Sequence

import asyncpg

from protheus_demo.plantgen import demo_machines, generate, live, load
from protheus_demo.plantgen.model import PROFILES
from protheus_demo.shape import SCALES
from shared.settings import Settings

log = logging.getLogger("devserver")

DEMO_SEED = 16  # live()'s default: the history continues the same machines
HISTORY_STEP_S = 10.0  # as live: the detectors are tuned for it (a minute made load changes spikes)
LIVE_STEP_S = 10.0
# One lock id for "loading the demo history" (two launchers on one database: one loads).
BACKFILL_LOCK = 0x16DE30

Machine = tuple[str, str, str, str]

# Candidates for each machine: every accepted order whose routing has an operation on it.
ORDER_CANDIDATES = """
WITH orders AS (
    SELECT c2.c2_num, c2.c2_item, c2.c2_sequen, c2.c2_itemgrd, c2.c2_filial, c2.c2_produto,
           (CASE WHEN c2.c2_roteiro <> '' THEN c2.c2_roteiro
                 ELSE COALESCE((SELECT MAX(NULLIF(b1.b1_operpad, '')) FROM {sb1} b1
                                WHERE b1.b1_cod = c2.c2_produto AND b1.d_e_l_e_t_ = ' '),
                               '01') END) AS routing,
           EXISTS (SELECT 1 FROM {sh6} h6
                   WHERE h6.h6_filial = c2.c2_filial AND h6.d_e_l_e_t_ = ' '
                     AND RTRIM(h6.h6_op) = RTRIM(c2.c2_num) || RTRIM(c2.c2_item) || RTRIM(c2.c2_sequen)
                         || RTRIM(c2.c2_itemgrd))
               AS started
    FROM {sc2} c2
    WHERE c2.c2_filial = $1 AND c2.d_e_l_e_t_ = ' ' AND c2.c2_tpop = 'F'
      AND c2.c2_datrf = '' AND c2.c2_status NOT IN ('U', 'S')
)
SELECT RTRIM(g2.g2_recurso) AS machine,
       RTRIM(o.c2_num) || RTRIM(o.c2_item) || RTRIM(o.c2_sequen) || RTRIM(o.c2_itemgrd)
           AS order_key,
       o.started, g2.g2_tempad AS tempad, g2.g2_lotepad AS lotepad
FROM orders o
JOIN {sg2} g2 ON g2.g2_filial = o.c2_filial AND g2.g2_produto = o.c2_produto
     AND g2.g2_codigo = o.routing AND g2.d_e_l_e_t_ = ' '
WHERE RTRIM(g2.g2_recurso) = ANY($2::text[]) AND g2.g2_tempad > 0
  AND g2.g2_tpoper IN ('', ' ', '1', '4')
"""


def choose_orders(rows: Sequence[Mapping[str, object]]) -> dict[str, str]:
    """Per machine, the candidate to name in its counters: a started order first, then the
    per-unit standard (G2_TEMPAD / G2_LOTEPAD hours) nearest the machine kind's cycle time,
    then the lowest key (deterministic)."""

    def rank(row: Mapping[str, object]) -> tuple[bool, float, str]:
        machine = str(row["machine"])
        cycle_s = PROFILES[machine.rstrip("0123456789")].cycle_time
        lotepad = float(row["lotepad"] or 0) or 1.0  # type: ignore[arg-type]
        ideal_s = float(row["tempad"]) * 3600 / lotepad  # type: ignore[arg-type]
        return (not row["started"], abs(math.log(ideal_s / cycle_s)), str(row["order_key"]))

    best: dict[str, tuple[tuple[bool, float, str], str]] = {}
    for row in rows:
        machine = str(row["machine"])
        if machine.rstrip("0123456789") not in PROFILES:
            continue
        key = rank(row)
        if machine not in best or key < best[machine][0]:
            best[machine] = (key, str(row["order_key"]))
    return {machine: order for machine, (_, order) in sorted(best.items())}


async def demo_orders(settings: Settings, machines: Sequence[Machine]) -> dict[str, str]:
    """machine -> order key for the demo machines, from the demo Protheus database only
    (an empty mapping for any other, or when the read fails: counters without order)."""
    dsn = settings.protheus_db_url
    if dsn.lower().startswith("odbc://"):
        return {}
    from protheus_demo.load import is_demo_database
    from shared.protheus.naming import Tables

    tables = Tables(settings.protheus_company)
    try:
        conn = await asyncpg.connect(dsn, timeout=10)
    except (OSError, asyncpg.PostgresError) as exc:
        log.warning("demo telemetry: no Protheus database for orders (%s)", exc)
        return {}
    try:
        if not await is_demo_database(conn):
            return {}
        sql = ORDER_CANDIDATES.format(
            sb1=tables.sb1, sc2=tables.sc2, sg2=tables.sg2, sh6=tables.sh6
        )
        rows = await conn.fetch(sql, settings.protheus_branch, [m for m, *_ in machines])
    except asyncpg.PostgresError as exc:
        log.warning("demo telemetry: orders not read (%s); counters carry none", exc)
        return {}
    finally:
        await conn.close()
    return choose_orders([dict(r) for r in rows])


async def backfill(
    settings: Settings,
    machines: Sequence[Machine],
    orders: Mapping[str, str],
    *,
    now: dt.datetime | None = None,
) -> dict[str, int] | None:
    """Load the demo history into the MES database; the row counts, or None when it was not
    loaded (no days asked, the demo machines have telemetry already, or other machines are
    there). The check and the load are one transaction under an advisory lock."""
    days = settings.demo_history_days
    if days <= 0:
        return None
    codes = [m for m, *_ in machines]
    end = (now or dt.datetime.now(dt.UTC)).replace(microsecond=0)
    conn = await asyncpg.connect(settings.mes_db_url, timeout=10)
    try:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", BACKFILL_LOCK)
            foreign = await conn.fetch(
                "SELECT machine FROM machines WHERE NOT (machine = ANY($1::text[])) "
                "ORDER BY machine LIMIT 3",
                codes,
            )
            if foreign:
                names = ", ".join(r["machine"] for r in foreign)
                print(
                    f"  telemetria demo: o banco do MES já tem outras máquinas ({names} ...); "
                    "sem histórico demo",
                    flush=True,
                )
                return None
            loaded = await conn.fetchval(
                "SELECT EXISTS (SELECT 1 FROM telemetry_samples WHERE machine = ANY($1::text[])) "
                "OR EXISTS (SELECT 1 FROM machine_states WHERE machine = ANY($1::text[])) "
                "OR EXISTS (SELECT 1 FROM machine_counters WHERE machine = ANY($1::text[]))",
                codes,
            )
            if loaded:
                log.info("demo telemetry: the MES database holds demo history already")
                return None
            started = time.perf_counter()
            data = await asyncio.to_thread(
                generate,
                DEMO_SEED,
                machines=list(machines),
                start=end - dt.timedelta(days=days),
                days=days,
                step_s=HISTORY_STEP_S,
                shifts="24x7",
                orders=orders,
            )
            counts = await load(conn, data)
        print(
            f"  telemetria demo: histórico de {days:g} dia(s) carregado em "
            f"{time.perf_counter() - started:.1f} s ({counts['samples']} leituras, "
            f"{counts['counters']} contadores, {len(orders)} máquinas com ordem)",
            flush=True,
        )
        return counts
    finally:
        await conn.close()


async def train_risk(settings: Settings) -> dict[str, object] | None:
    """Train and activate a failure-risk model when none is active (the path of `python -m
    services.analytics.risk train`), then score the machines' current hour; the card, or None
    when a model was active already or training failed (logged)."""
    from services.analytics.risk import service
    from services.analytics.risk.__main__ import do_train
    from services.analytics.risk.model import TrainingError
    from shared.db.pools import create_pg_pool

    pool = await create_pg_pool(
        settings.mes_db_url, max_size=2, ca_file=settings.db_ca_file, application_name="mes-demo"
    )
    try:
        if await service.load_model(pool, key=settings.risk.model_key) is not None:
            return None
        started = time.perf_counter()
        args = argparse.Namespace(first=None, last=None, horizon=None, inactive=False)
        try:
            card = await do_train(pool, settings, args)
        except TrainingError as exc:
            log.warning("demo telemetry: no risk model trained (%s)", exc)
            return None
        model = await service.load_model(pool, key=settings.risk.model_key)
        if model is not None:
            await service.score_current(pool, settings, model)
        auc = card.get("metrics", {}).get("validation", {}).get("auc")
        log.info(
            "demo telemetry: risk model %s trained in %.1f s (%s, validation ROC AUC %s, "
            "%s positives)",
            card.get("version"),
            time.perf_counter() - started,
            card.get("algorithm"),
            auc,
            card.get("positives"),
        )
        return card
    finally:
        await pool.close()


async def start_demo_telemetry(
    stack: contextlib.AsyncExitStack, settings: Settings, scale: str
) -> dict[str, int] | None:
    """DEMO_TELEMETRY=on: the history (once, see backfill), then the demo plant's machines
    publish live on the broker, misbehaving on purpose, until `make run` stops; the risk model
    trains in the background after a backfill. The backfill's counts, or None."""
    per_kind = SCALES[scale].machines_per_kind if scale in SCALES else None
    machines = demo_machines(machines_per_kind=per_kind)
    orders = await demo_orders(settings, machines)
    counts = await backfill(settings, machines, orders)
    tasks = [
        asyncio.create_task(
            live(
                settings.mqtt_url,
                seed=DEMO_SEED,
                machines=machines,
                step_s=LIVE_STEP_S,
                ca_file=settings.mqtt_ca_file,
                orders=orders,
            ),
            name="demo-telemetry",
        )
    ]
    if counts is not None:
        tasks.append(asyncio.create_task(_train_logged(settings), name="demo-risk-model"))

    async def stop() -> None:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    stack.push_async_callback(stop)
    print(
        f"  telemetria demo: {len(machines)} máquinas publicando a cada 10 s "
        "(DEMO_TELEMETRY=on; picos, sensores travados, leituras fora da faixa, derivas antes "
        "de falhas)",
        flush=True,
    )
    return counts


async def _train_logged(settings: Settings) -> None:
    try:
        await train_risk(settings)
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("demo telemetry: risk model training failed")

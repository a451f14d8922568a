"""DEMO_TELEMETRY=on in `make run`: the demo history loaded once (never into a database with
other machines), counters naming an order of the demo Protheus whose routing uses the
machine, and a risk model trained from the history."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt

import asyncpg
import orjson
import pytest

from devserver.demo import backfill, choose_orders, demo_orders, start_demo_telemetry
from protheus_demo.plantgen import demo_machines, generate
from protheus_demo.plantgen.replay import messages
from protheus_demo.shape import SCALES
from shared.settings import Settings

TINY = SCALES["tiny"].machines_per_kind


def demo_settings(mes_dsn: str, protheus_dsn: str, mqtt_url: str, days: float) -> Settings:
    return dataclasses.replace(
        Settings(),
        mes_db_url=mes_dsn,
        protheus_db_url=protheus_dsn,
        mqtt_url=mqtt_url,
        demo_telemetry=True,
        demo_history_days=days,
    )


async def routing_machines(conn: asyncpg.Connection, order: str) -> set[str]:
    """The machines the order's routing (C2_ROTEIRO, else B1_OPERPAD, else '01') uses."""
    rows = await conn.fetch(
        """
        SELECT RTRIM(g2.g2_recurso) AS machine
        FROM sc2010 c2
        JOIN sb1010 b1 ON b1.b1_cod = c2.c2_produto AND b1.d_e_l_e_t_ = ' '
        JOIN sg2010 g2 ON g2.g2_filial = c2.c2_filial AND g2.g2_produto = c2.c2_produto
             AND g2.d_e_l_e_t_ = ' '
             AND g2.g2_codigo = COALESCE(NULLIF(c2.c2_roteiro, ''), NULLIF(b1.b1_operpad, ''),
                                         '01')
        WHERE c2.c2_filial = '01' AND c2.d_e_l_e_t_ = ' ' AND c2.c2_datrf = ''
          AND RTRIM(c2.c2_num) || RTRIM(c2.c2_item) || RTRIM(c2.c2_sequen)
              || RTRIM(c2.c2_itemgrd) = $1
        """,
        order,
    )
    return {r["machine"] for r in rows}


async def active_model(mes_dsn: str, timeout_s: float) -> asyncpg.Record | None:
    conn = await asyncpg.connect(mes_dsn)
    try:
        async with asyncio.timeout(timeout_s):
            while True:
                row = await conn.fetchrow(
                    "SELECT version, card FROM risk_models WHERE active ORDER BY version DESC"
                )
                if row is not None:
                    return row
                await asyncio.sleep(1)
    finally:
        await conn.close()


@pytest.mark.timeout(600)  # the model trains from 40 machine-days on a loaded 2-core machine
async def test_history_loads_once_with_orders_then_a_model_trains(mes_dsn, demo_dsn, broker):
    settings = demo_settings(mes_dsn, demo_dsn, broker.url, days=2.0)
    async with contextlib.AsyncExitStack() as stack:
        counts = await start_demo_telemetry(stack, settings, "tiny")
        assert counts is not None
        assert counts["machines"] == len(demo_machines(machines_per_kind=TINY))
        assert counts["samples"] > 0
        assert counts["counters"] > 0

        mes = await asyncpg.connect(mes_dsn)
        protheus = await asyncpg.connect(demo_dsn)
        try:
            rows = await mes.fetch(
                "SELECT machine, array_agg(DISTINCT order_key) AS orders, "
                "min(ts) AS first, max(ts) AS last FROM machine_counters GROUP BY machine"
            )
            named = {r["machine"]: r["orders"] for r in rows}
            with_order = {m: o[0] for m, o in named.items() if o != [None]}
            assert len(with_order) >= len(named) // 2, named
            for machine, order in with_order.items():
                assert named[machine] == [order]  # one order per machine, in every counter
                assert machine in await routing_machines(protheus, order)
            last = max(r["last"] for r in rows)
            assert dt.datetime.now(dt.UTC) - last < dt.timedelta(minutes=5)  # up to now
        finally:
            await protheus.close()
            await mes.close()

        # The model trains in the background from the history and is active.
        model = await active_model(mes_dsn, timeout_s=300)
        assert model is not None
        card = orjson.loads(model["card"]) if isinstance(model["card"], str) else model["card"]
        assert card["positives"] > 0

    # A second start loads nothing more (and trains nothing: a model is active).
    mes = await asyncpg.connect(mes_dsn)
    try:
        before = await mes.fetchval("SELECT count(*) FROM machine_counters")
        async with contextlib.AsyncExitStack() as stack:
            assert await start_demo_telemetry(stack, settings, "tiny") is None
        assert await mes.fetchval("SELECT count(*) FROM machine_counters") == before
        assert await mes.fetchval("SELECT count(*) FROM risk_models") == 1
    finally:
        await mes.close()


async def test_no_history_into_a_database_with_other_machines(mes_dsn, demo_dsn, broker):
    conn = await asyncpg.connect(mes_dsn)
    try:
        await conn.execute(
            "INSERT INTO machines (machine, site, area, line, first_seen, last_seen) "
            "VALUES ('PRENSA-REAL-7', 'fabrica', 'estamparia', 'l1', now(), now())"
        )
        settings = demo_settings(mes_dsn, demo_dsn, broker.url, days=0.5)
        machines = demo_machines(machines_per_kind=TINY)
        assert await backfill(settings, machines, {}) is None
        assert await conn.fetchval("SELECT count(*) FROM machine_counters") == 0
        assert await conn.fetchval("SELECT count(*) FROM telemetry_samples") == 0
        assert await conn.fetchval("SELECT count(*) FROM machines") == 1
    finally:
        await conn.close()


async def test_no_history_when_the_days_are_zero(mes_dsn, demo_dsn, broker):
    settings = demo_settings(mes_dsn, demo_dsn, broker.url, days=0)
    assert await backfill(settings, demo_machines(machines_per_kind=TINY), {}) is None


async def test_orders_only_from_the_demo_protheus_database(mes_dsn, demo_dsn, broker):
    machines = demo_machines(machines_per_kind=TINY)
    orders = await demo_orders(demo_settings(mes_dsn, demo_dsn, broker.url, 1), machines)
    assert orders
    assert set(orders) <= {m for m, *_ in machines}
    # Not a demo database (no marker table): no orders read.
    assert await demo_orders(demo_settings(mes_dsn, mes_dsn, broker.url, 1), machines) == {}


def test_choose_orders_prefers_started_then_the_nearest_standard():
    rows = [
        {"machine": "CORTE1", "order_key": "00000101001", "started": False,
         "tempad": 0.001, "lotepad": 1},
        {"machine": "CORTE1", "order_key": "00000201001", "started": True,
         "tempad": 1.0, "lotepad": 1},
        {"machine": "CORTE1", "order_key": "00000301001", "started": True,
         "tempad": 0.01, "lotepad": 10},
        {"machine": "NOPE1", "order_key": "00000401001", "started": True,
         "tempad": 0.01, "lotepad": 1},
    ]  # fmt: skip
    assert choose_orders(rows) == {"CORTE1": "00000301001"}


def test_orders_change_only_the_counters_order():
    start = dt.datetime(2026, 3, 2, 6, tzinfo=dt.UTC)
    plain = generate(7, machines=4, start=start, days=0.5, step_s=60)
    ordered = generate(7, machines=4, start=start, days=0.5, step_s=60, orders={"CORTE1": "X1"})
    assert [c[:4] for c in ordered.counters] == [c[:4] for c in plain.counters]
    assert ordered.states == plain.states
    assert ordered.events == plain.events
    assert {c[4] for c in ordered.counters if c[0] == "CORTE1"} == {"X1"}
    assert {c[4] for c in ordered.counters if c[0] != "CORTE1"} == {None}
    assert list(ordered.samples()) == list(plain.samples())
    # What live() publishes: the counter messages name the order.
    corte = [b for _, _, m, ch, b in messages(ordered) if ch == "counter" and m == "CORTE1"]
    others = [b for _, _, m, ch, b in messages(ordered) if ch == "counter" and m != "CORTE1"]
    assert corte
    assert all(b["order"] == "X1" for b in corte)
    assert all("order" not in b for b in others)

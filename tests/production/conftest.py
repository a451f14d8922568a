"""Production fixtures: a writable copy of the demo Protheus database, the demo orders a report
may name, the production app built through its real factory, and the order routes' crafted
Protheus database."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp.test_utils import TestServer
from prometheus_client import CollectorRegistry

from protheus_demo.simulator.app import create_simulator
from protheus_demo.simulator.config import FaultSettings, SimulatorConfig
from services.production.app import create_app
from services.production.pusher.client import ProtheusClient
from services.production.pusher.pusher import Pusher, PusherMetrics
from shared.keys import MES_POOL, PROTHEUS_CONTEXT, SETTINGS
from shared.settings import PusherSettings, Settings, parse_api_keys
from tests.helpers import NO_AUDIT
from tests.support.orders import OrderRows, order_routes_app
from tests.support.production import FAST, KEYS, ORDER_KEY, ROUTING, Orders


@pytest.fixture
def protheus_dsn(demo_dsn: str) -> str:
    """A writable copy of the tiny demo Protheus database (the simulator writes SH6, SC2)."""
    return demo_dsn


@pytest.fixture
async def orders(protheus_dsn) -> Orders:
    conn = await asyncpg.connect(protheus_dsn)
    try:
        open_row = await conn.fetchrow(
            f"""SELECT {ORDER_KEY} AS key, min(g2.g2_operac) AS op, max(g2.g2_operac) AS last_op,
                       (array_agg(g2.g2_recurso ORDER BY g2.g2_operac))[1] AS machine
                FROM sc2010 c2
                JOIN sb1010 b1 ON b1.b1_cod = c2.c2_produto AND b1.d_e_l_e_t_ = ' '
                JOIN sg2010 g2 ON g2.g2_filial = c2.c2_filial AND g2.g2_produto = c2.c2_produto
                     AND g2.g2_codigo = {ROUTING} AND g2.d_e_l_e_t_ = ' '
                WHERE c2.c2_filial = '01' AND c2.d_e_l_e_t_ = ' ' AND c2.c2_tpop = 'F'
                  AND c2.c2_datrf = '' AND c2.c2_status NOT IN ('U', 'S')
                GROUP BY 1 HAVING count(DISTINCT g2.g2_operac) >= 2 ORDER BY 1 LIMIT 1"""
        )

        async def one(where: str) -> str:
            key = await conn.fetchval(
                f"SELECT {ORDER_KEY} FROM sc2010 WHERE c2_filial = '01' AND d_e_l_e_t_ = ' ' AND {where} ORDER BY 1 LIMIT 1"
            )
            assert key, where
            return key

        return Orders(
            open_order=open_row["key"],
            operation=open_row["op"].strip(),
            machine=open_row["machine"].strip(),
            last_operation=open_row["last_op"].strip(),
            planned=await one("c2_tpop = 'P'"),
            closed=await one("c2_tpop = 'F' AND c2_datrf <> '' AND c2_status NOT IN ('U', 'S')"),
            suspended=await one("c2_tpop = 'F' AND c2_datrf = '' AND c2_status = 'U'"),
        )
    finally:
        await conn.close()


@pytest.fixture
def production_app():
    """Build the production app through its factory, with test settings."""

    def make(*, protheus_dsn: str, mes_dsn: str, pusher: PusherSettings = FAST, **overrides: Any):
        settings = Settings(
            protheus_db_url=protheus_dsn,
            mes_db_url=mes_dsn,
            pusher=pusher,
            **{"audit": NO_AUDIT, "api_keys": parse_api_keys(KEYS), **overrides},
        )
        return create_app(settings)

    return make


@pytest.fixture
async def protheus_rows(clone_database) -> AsyncIterator[OrderRows]:
    """Empty Protheus tables of company 01 with SX2 as the demo has it (SB1 shared; SC2, SG2,
    SH6, SD3 exclusive); tests change modes with `set_modes` before starting the app."""
    dsn = await clone_database("erp01")
    rows = OrderRows(dsn, await asyncpg.connect(dsn))
    yield rows
    await rows.conn.close()


@pytest.fixture
def orders_client(aiohttp_client, mes_dsn):
    """Clients of the order routes over a Protheus database, with the test's MES database."""

    async def make(protheus_dsn: str, **overrides: Any) -> Any:
        return await aiohttp_client(order_routes_app(protheus_dsn, mes_dsn, **overrides))

    return make


@pytest.fixture
async def simulator(protheus_dsn):
    servers: list[TestServer] = []

    async def start(**faults: Any) -> str:
        config = SimulatorConfig(db_url=protheus_dsn, faults=FaultSettings(**faults))
        server = TestServer(create_simulator(config))
        await server.start_server()
        servers.append(server)
        return str(server.make_url("/rest")).rstrip("/")

    yield start
    for server in servers:
        await server.close()


@pytest.fixture
async def setup_line(aiohttp_client, production_app, protheus_dsn, mes_dsn, simulator):
    """The production API with the simulator behind it, and a factory of pushers on its app."""
    sessions: list[aiohttp.ClientSession] = []
    pushers: list[Pusher] = []

    async def make(settings: dict[str, Any] | None = None, **faults: Any):
        rest = await simulator(**faults)
        app = production_app(
            protheus_dsn=protheus_dsn, mes_dsn=mes_dsn, protheus_rest_url=rest, **(settings or {})
        )
        client = await aiohttp_client(app)

        def pusher(**overrides: Any) -> Pusher:
            session = aiohttp.ClientSession()
            sessions.append(session)
            config = dataclasses.replace(FAST, **overrides)
            settings = app[SETTINGS]
            p = Pusher(
                app[MES_POOL], app[PROTHEUS_CONTEXT], ProtheusClient(session, settings, config),
                settings, config, PusherMetrics(CollectorRegistry()),
            )  # fmt: skip
            pushers.append(p)
            return p

        return client, pusher

    yield make
    for p in pushers:
        await p.stop()
    for s in sessions:
        await s.close()

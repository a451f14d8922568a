"""Production fixtures: a migrated MES database, a writable copy of the demo Protheus database,
the Protheus simulator, and the production app built through its real factory."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest

from services.production.app import create_app
from shared.migrations import migrate
from shared.settings import PusherSettings, Settings, parse_api_keys
from tests.conftest import ADMIN_DSN, dsn_for
from tests.helpers import NO_AUDIT

WRITE_KEY, READ_KEY = "prod-write-key-0123456789abcdef", "prod-read-key-0123456789abcdef"
KEYS = f"line1:{WRITE_KEY}:production:write,production:read;viewer:{READ_KEY}:production:read"
WRITE = {"Authorization": f"Bearer {WRITE_KEY}"}
READ = {"Authorization": f"Bearer {READ_KEY}"}

FAST = PusherSettings(
    enabled=False,
    concurrency=4,
    batch=50,
    poll_s=0.05,
    lease_s=5.0,
    timeout_s=2.0,
    backoff_base_s=0.05,
    backoff_cap_s=0.2,
    breaker_threshold=1000,
    breaker_cooldown_s=0.2,
    token_margin_s=0.0,
    settle_s=0.3,
)


@pytest.fixture
async def mes_dsn(fresh_database) -> str:
    dsn = await fresh_database()
    conn = await asyncpg.connect(dsn)
    try:
        await migrate(conn)
    finally:
        await conn.close()
    return dsn


@pytest.fixture
async def protheus_dsn(demo_protheus_dsn) -> AsyncIterator[str]:
    """A writable copy of the tiny demo Protheus database (the simulator writes SH6, SC2)."""
    template = demo_protheus_dsn.rsplit("/", 1)[-1]
    name = f"t_prot_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(ADMIN_DSN)
    try:
        for attempt in range(50):
            try:
                await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
                break
            except asyncpg.ObjectInUseError:  # a pool of an earlier test still closing
                if attempt == 49:
                    raise
                await asyncio.sleep(0.1)
    finally:
        await admin.close()
    yield dsn_for(name)
    admin = await asyncpg.connect(ADMIN_DSN)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@dataclass
class Orders:
    """Orders of the demo data by what a report may do with them."""

    open_order: str
    operation: str
    machine: str
    last_operation: str
    planned: str
    closed: str
    suspended: str


ORDER_KEY = "rtrim(c2_num) || rtrim(c2_item) || rtrim(c2_sequen) || rtrim(c2_itemgrd)"
ROUTING = "(CASE WHEN c2.c2_roteiro <> '' THEN c2.c2_roteiro WHEN b1.b1_operpad <> '' THEN b1.b1_operpad ELSE '01' END)"


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


def report_body(orders: Orders, **overrides: Any) -> dict[str, Any]:
    body = {
        "order": orders.open_order,
        "operation": orders.operation,
        "machine": orders.machine,
        "operator": "OP0001",
        "start": "2026-03-02T08:00:00-03:00",
        "end": "2026-03-02T09:30:00-03:00",
        "goodQuantity": 10,
        "scrapQuantity": 1,
        "scrapReason": "REBARBA",
        "final": False,
    }
    body.update(overrides)
    return body


@pytest.fixture
def production_app():
    """Build the production app through its factory, with test settings."""

    def make(*, protheus_dsn: str, mes_dsn: str, pusher: PusherSettings = FAST, **overrides: Any):
        settings = Settings(
            protheus_db_url=protheus_dsn,
            mes_db_url=mes_dsn,
            api_keys=parse_api_keys(KEYS),
            pusher=pusher,
            **{"audit": NO_AUDIT, **overrides},
        )
        return create_app(settings)

    return make

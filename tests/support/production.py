"""Production (report) test support: API keys, fast pusher settings, the demo orders a report
may name, report bodies, and the steps and checks of the pusher tests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import asyncpg

from services.production.pusher.pusher import Pusher
from shared.settings import PusherSettings
from tests.helpers import assert_envelope

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


async def post(client, body: dict[str, Any]) -> str:
    return (
        await assert_envelope(
            await client.post("/api/v1/production-reports", json=body, headers=WRITE), 202
        )
    )["id"]


async def report(client, report_id: str) -> dict[str, Any]:
    return await assert_envelope(
        await client.get(f"/api/v1/production-reports/{report_id}", headers=READ), 200
    )


async def drain(pushers: list[Pusher], done: Callable[[], Any], *, seconds: float = 30) -> None:
    """Run pushers until `done()` is true, bounded in time."""
    deadline = time.monotonic() + seconds
    while not await done():
        assert time.monotonic() < deadline, "pushers did not finish in time"
        handled = sum(await asyncio.gather(*(p.run_once() for p in pushers)))
        if not handled:
            await asyncio.sleep(0.05)


async def markers(protheus_dsn: str) -> dict[str, list[tuple[str, str]]]:
    """SH6 rows carrying a MES marker, by report id: (H6_IDENT, D_E_L_E_T_)."""
    conn = await asyncpg.connect(protheus_dsn)
    try:
        rows = await conn.fetch(
            "SELECT h6_ident, h6_observa, d_e_l_e_t_ FROM sh6010 WHERE upper(h6_observa) LIKE 'MES:%'"
        )
    finally:
        await conn.close()
    found: dict[str, list[tuple[str, str]]] = {}
    for r in rows:
        found.setdefault(r["h6_observa"][4:40].lower(), []).append(
            (r["h6_ident"].strip(), r["d_e_l_e_t_"])
        )
    return found


async def point_at_unknown_machine(mes_dsn: str, report_id: str) -> None:
    """Point one accepted report at a machine SH1 does not know, as if it had been accepted
    against a routing that changed since: the routine's rejection is the expected answer."""
    conn = await asyncpg.connect(mes_dsn)
    try:
        await conn.execute(
            "UPDATE production_reports SET machine = 'NOPE99' WHERE id = $1::uuid", report_id
        )
    finally:
        await conn.close()


async def statuses(mes_dsn: str) -> dict[str, str]:
    conn = await asyncpg.connect(mes_dsn)
    try:
        return {
            str(r["id"]): r["status"]
            for r in await conn.fetch("SELECT id, status FROM production_reports")
        }
    finally:
        await conn.close()


def final(mes_dsn: str, expected: int) -> Callable[[], Any]:
    async def check() -> bool:
        got = await statuses(mes_dsn)
        return len(got) == expected and all(
            s in ("delivered", "rejected", "reversed") for s in got.values()
        )

    return check

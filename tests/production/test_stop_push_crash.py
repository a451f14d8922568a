"""The production service killed with SIGKILL mid-delivery of stops and restarted delivers the
rest, none twice."""

from __future__ import annotations

import asyncio
import signal
import time

import asyncpg
from aiohttp.test_utils import TestServer

from protheus_demo.simulator.app import create_simulator
from protheus_demo.simulator.config import FaultSettings, SimulatorConfig
from tests.production.test_pusher_crash import free_port, start_service
from tests.support.production import KEYS
from tests.support.stop_push import (
    consecutive,
    machines,
    queue_stops,
    recent,
    stop_rows_in_sh6,
    stop_statuses,
)


async def test_sigkill_mid_delivery_then_restart_delivers_each_stop_once(protheus_dsn, mes_dsn):
    simulator = TestServer(
        create_simulator(SimulatorConfig(db_url=protheus_dsn, faults=FaultSettings(latency_ms=150)))
    )
    await simulator.start_server()
    rows = []
    for machine in await machines(protheus_dsn, 3):
        rows += consecutive(machine, 6, reason="02", start=recent())
    conn = await asyncpg.connect(mes_dsn)
    try:  # queued first, as the detector leaves them, so the kill lands mid-stream
        ids = await queue_stops(conn, rows)
    finally:
        await conn.close()
    env = {
        "PROTHEUS_DB_URL": protheus_dsn,
        "MES_DB_URL": mes_dsn,
        "PROTHEUS_REST_URL": str(simulator.make_url("/rest")).rstrip("/"),
        "MES_API_KEYS": KEYS,
        "PUSHER_POLL_S": "0.05",
        "PUSHER_CONCURRENCY": "3",
        "PUSHER_LEASE_S": "3.5",
        "PUSHER_TIMEOUT_S": "1",
        "PROTHEUS_SETTLE_S": "0.5",
        "PUSHER_BACKOFF_BASE_S": "0.05",
        "PUSHER_BACKOFF_CAP_S": "0.2",
        "LOG_LEVEL": "WARNING",
    }
    port = free_port()

    async def delivered() -> int:
        return sum(s["status"] == "delivered" for s in (await stop_statuses(mes_dsn)).values())

    pusher = await start_service(env, port)
    deadline = time.monotonic() + 30
    while await delivered() < 4:
        assert time.monotonic() < deadline, "nothing was delivered before the kill"
        await asyncio.sleep(0.05)
    pusher.send_signal(signal.SIGKILL)
    await pusher.wait()
    at_kill = {s["status"] for s in (await stop_statuses(mes_dsn)).values()}
    assert at_kill & {"pending", "sending", "retrying"}, at_kill

    restarted = await start_service(env, port)
    try:
        deadline = time.monotonic() + 60
        while await delivered() < len(ids):
            assert time.monotonic() < deadline, await stop_statuses(mes_dsn)
            await asyncio.sleep(0.1)
    finally:
        restarted.terminate()
        await restarted.wait()
        await simulator.close()
    found = await stop_rows_in_sh6(protheus_dsn)
    assert sorted(found) == sorted(ids)
    assert all(len(rows) == 1 and rows[0]["d_e_l_e_t_"] == " " for rows in found.values()), found

"""A pusher killed with SIGKILL mid-delivery and restarted delivers the rest, none twice."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import time
from pathlib import Path

import aiohttp
from aiohttp.test_utils import TestServer

from protheus_demo.simulator.app import create_simulator
from protheus_demo.simulator.config import FaultSettings, SimulatorConfig
from tests.helpers import assert_envelope
from tests.support.production import KEYS, WRITE, markers, report_body, statuses

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def start_service(env: dict[str, str], port: int) -> asyncio.subprocess.Process:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.production",
        cwd=ROOT, env={**os.environ, **env, "HTTP_PORT": str(port)},
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    return process


async def wait_healthy(client: aiohttp.ClientSession) -> None:
    deadline = time.monotonic() + 20
    while True:
        try:
            async with client.get("/healthz") as resp:
                if resp.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        assert time.monotonic() < deadline, "service did not start"
        await asyncio.sleep(0.1)


async def test_sigkill_mid_delivery_then_restart_delivers_each_report_once(
    protheus_dsn, mes_dsn, orders
):
    simulator = TestServer(
        create_simulator(SimulatorConfig(db_url=protheus_dsn, faults=FaultSettings(latency_ms=150)))
    )
    await simulator.start_server()
    port = free_port()
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
    # The reports are accepted first, with the pusher off, so the kill lands mid-stream.
    first = await start_service({**env, "PUSHER_ENABLED": "false"}, port)
    try:
        async with aiohttp.ClientSession(base_url=f"http://127.0.0.1:{port}") as client:
            await wait_healthy(client)
            ids = []
            for n in range(18):
                resp = await client.post(
                    "/api/v1/production-reports",
                    json=report_body(orders, goodQuantity=n + 1),
                    headers=WRITE,
                )
                ids.append((await assert_envelope(resp, 202))["id"])
    finally:
        first.kill()
        await first.wait()

    pusher = await start_service(env, port)
    deadline = time.monotonic() + 30
    while sum(s == "delivered" for s in (await statuses(mes_dsn)).values()) < 4:
        assert time.monotonic() < deadline, "nothing was delivered before the kill"
        await asyncio.sleep(0.05)
    pusher.send_signal(signal.SIGKILL)
    await pusher.wait()
    at_kill = await statuses(mes_dsn)
    assert any(s in ("pending", "sending") for s in at_kill.values()), at_kill

    restarted = await start_service(env, port)
    try:
        deadline = time.monotonic() + 60
        while not all(s == "delivered" for s in (await statuses(mes_dsn)).values()):
            assert time.monotonic() < deadline, await statuses(mes_dsn)
            await asyncio.sleep(0.1)
    finally:
        restarted.terminate()
        await restarted.wait()
        await simulator.close()
    found = await markers(protheus_dsn)
    assert sorted(found) == sorted(ids)
    assert all(len(rows) == 1 for rows in found.values()), found

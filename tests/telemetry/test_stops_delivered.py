"""State messages through a real broker end as stop rows in Protheus, each exactly once: the
ingestor stores the states, the production service's detector makes and classifies the stops,
its pusher delivers them through 30% mixed simulator faults, lost answers included."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import time
from typing import Any

import asyncpg
from aiohttp.test_utils import TestServer

from protheus_demo.simulator.app import create_simulator
from protheus_demo.simulator.config import FaultSettings, SimulatorConfig
from services.production.app import create_app
from shared.settings import Settings, StopSettings, parse_api_keys
from tests.helpers import NO_AUDIT
from tests.support.production import FAST, KEYS
from tests.support.stop_push import machines, stop_rows_in_sh6
from tests.support.telemetry import publish, rows

START = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(hours=3)
STOPS_PER_MACHINE = 4


def timeline(machine: str) -> list[tuple[str, dict[str, Any]]]:
    """Running, then STOPS_PER_MACHINE stops of 300 s with a mapped reason, each closed by
    running again; a micro-stop (60 s) between them is no stop."""
    topic = f"mes/v1/porto/estamparia/linha1/{machine}/state"
    messages = []
    for n in range(STOPS_PER_MACHINE):
        base = n * 1000

        def at(seconds: float) -> str:
            return (START + dt.timedelta(seconds=seconds)).isoformat()

        messages += [
            (topic, {"ts": at(base), "state": "running"}),
            (topic, {"ts": at(base + 100), "state": "stopped", "reason": "P1"}),
            (topic, {"ts": at(base + 400), "state": "running"}),
            (topic, {"ts": at(base + 600), "state": "fault", "reason": "P1"}),  # micro-stop
            (topic, {"ts": at(base + 660), "state": "running"}),
        ]
    return messages


async def test_state_messages_reach_protheus_as_stops_once_through_faults(
    aiohttp_client, broker, ingestors, mes_dsn, demo_dsn
) -> None:
    conn = await asyncpg.connect(mes_dsn)
    try:
        await conn.execute(
            "INSERT INTO stop_reason_mapping (plc_reason, reason_code) VALUES ('P1', '02')"
        )
    finally:
        await conn.close()
    faults = FaultSettings(
        error_rate=0.1, drop_before_rate=0.1, drop_after_rate=0.1, latency_ms=5, seed=11
    )
    simulator = TestServer(create_simulator(SimulatorConfig(db_url=demo_dsn, faults=faults)))
    await simulator.start_server()
    settings = Settings(
        protheus_db_url=demo_dsn,
        mes_db_url=mes_dsn,
        protheus_rest_url=str(simulator.make_url("/rest")).rstrip("/"),
        api_keys=parse_api_keys(KEYS),
        pusher=dataclasses.replace(FAST, enabled=True),
        stops=StopSettings(detect_poll_s=0.05),
        audit=NO_AUDIT,
    )
    try:
        await aiohttp_client(create_app(settings))  # the production service: detector, pusher
        await ingestors()
        plant = await machines(demo_dsn, 8)
        for machine in plant:
            await publish(broker, timeline(machine))
        expected = len(plant) * STOPS_PER_MACHINE
        deadline = time.monotonic() + 90
        while True:
            statuses = [r["status"] for r in await rows(mes_dsn, "SELECT status FROM stops")]
            if len(statuses) == expected and set(statuses) == {"delivered"}:
                break
            assert time.monotonic() < deadline, statuses
            await asyncio.sleep(0.1)
    finally:
        await simulator.close()
    stops = {
        r["id"]: r
        for r in await rows(
            mes_dsn,
            "SELECT id, machine, start_at, end_at, id_appointment, reason_code FROM stops",
        )
    }
    assert {(s["end_at"] - s["start_at"]).total_seconds() for s in stops.values()} == {300}
    found = await stop_rows_in_sh6(demo_dsn)
    assert set(found) == set(stops)
    for stop_id, stop in stops.items():
        (row,) = found[stop_id]  # exactly once, by marker
        assert (row["d_e_l_e_t_"], row["h6_motivo"]) == (" ", "02")
        assert (row["h6_recurso"], row["h6_ident"]) == (stop["machine"], stop["id_appointment"])
    outcomes = {
        r["outcome"] for r in await rows(mes_dsn, "SELECT DISTINCT outcome FROM stop_attempts")
    }
    assert {"unknown", "found", "delivered"} <= outcomes  # the faults happened, were resolved

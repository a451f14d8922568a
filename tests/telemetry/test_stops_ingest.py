"""State messages through a real broker and the ingestor become stops: the production service's
stop detector, running beside it, is woken by the ingestor's marks; a late and a repeated
message rebuild the stops exactly."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import asyncpg

from tests.support.stop_detection import detector
from tests.support.telemetry import publish, rows

START = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(hours=2)
TOPIC = "mes/v1/porto/estamparia/linha1/PRENS1/state"


def state(seconds: float, name: str, reason: str | None = None) -> tuple[str, dict[str, Any]]:
    body: dict[str, Any] = {
        "ts": (START + dt.timedelta(seconds=seconds)).isoformat(),
        "state": name,
    }
    if reason:
        body["reason"] = reason
    return TOPIC, body


async def stops_seen(
    dsn: str, expected: list[tuple[float, float | None, str, str | None]]
) -> list[Any]:
    """Poll the stops of PRENS1 until they are `expected` (start, end, state, reason), bounded."""
    deadline = asyncio.get_running_loop().time() + 20
    while True:
        got = [
            (
                (r["start_at"] - START).total_seconds(),
                None if r["end_at"] is None else (r["end_at"] - START).total_seconds(),
                r["state"],
                r["plc_reason"],
            )
            for r in await rows(
                dsn, "SELECT * FROM stops WHERE machine = 'PRENS1' ORDER BY start_at"
            )
        ]
        if got == expected or asyncio.get_running_loop().time() > deadline:
            return got
        await asyncio.sleep(0.05)


async def test_state_messages_become_stops_rebuilt_on_late_and_repeated_ones(
    broker, mes_dsn, ingestors
) -> None:
    await ingestors()
    pool = await asyncpg.create_pool(mes_dsn, min_size=0, max_size=2)
    stop_detector = detector(mes_dsn, pool, detect_poll_s=600)  # woken by NOTIFY only
    await stop_detector.start()
    try:
        await publish(broker, [
            state(0, "running"), state(100, "fault", "E1"), state(700, "running"),
            state(800, "stopped", "E2"), state(850, "running"),  # a micro-stop
            state(1000, "setup"),
        ])  # fmt: skip
        assert await stops_seen(mes_dsn, [(100, 700, "fault", "E1"), (1000, None, "setup", None)]) == [
            (100, 700, "fault", "E1"), (1000, None, "setup", None),
        ]  # fmt: skip
        first = await rows(mes_dsn, "SELECT id, updated_at FROM stops ORDER BY start_at")
        # A late reason change inside the first stop, the open stop closing, and a repeat.
        await publish(broker, [state(400, "stopped", "E3"), state(1300, "running"), state(100, "fault", "E1")])  # fmt: skip
        expected = [
            (100, 400, "fault", "E1"),
            (400, 700, "stopped", "E3"),
            (1000, 1300, "setup", None),
        ]
        assert await stops_seen(mes_dsn, expected) == expected
        again = await rows(mes_dsn, "SELECT id FROM stops ORDER BY start_at")
        assert [again[0]["id"], again[2]["id"]] == [first[0]["id"], first[1]["id"]]
        assert stop_detector.metrics.detected._value.get() == 3
        # A repeated message changes nothing (a later running state after it tells when
        # both were handled: the marks are cleared once the running state is stored).
        before = await rows(mes_dsn, "SELECT id, updated_at FROM stops ORDER BY start_at")
        await publish(broker, [state(400, "stopped", "E3"), state(2000, "running")])
        deadline = asyncio.get_running_loop().time() + 20
        while (await rows(mes_dsn, "SELECT count(*) FROM machine_states"))[0][0] < 9 or (
            await rows(mes_dsn, "SELECT count(*) FROM stop_dirty")
        )[0][0]:
            assert asyncio.get_running_loop().time() < deadline, "the repeat was not handled"
            await asyncio.sleep(0.05)
        after = await rows(mes_dsn, "SELECT id, updated_at FROM stops ORDER BY start_at")
        assert after == before
    finally:
        await stop_detector.stop()
        await pool.close()

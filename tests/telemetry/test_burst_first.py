"""Taking messages off the broker comes first: while a burst streams in and the host's
processors are saturated, the drainer waits for the stream to pause (bounded by
INGEST_DRAIN_MAX_LAG_S and half the spool); on a host with room it drains as messages come.

The host's load is read from /proc/stat; here from a file of the same format that a task
advances (every jiffy busy, or every jiffy idle), so the test decides the load, not the
machine running it. Broker and PostgreSQL are real."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiomqtt
import orjson
import pytest

from services.telemetry.ingest.cpu import HostCpu
from tests.support.telemetry import rows, wait_for_rows

COUNT = "SELECT count(*) FROM telemetry_samples WHERE machine = 'BURST'"
TOPIC = "mes/v1/porto/estamparia/linha1/BURST/telemetry"


@contextlib.asynccontextmanager
async def host_load(
    path: Path, *, busy: bool, calm_after_s: float | None = None
) -> AsyncIterator[HostCpu]:
    """A /proc/stat whose first line advances 100 jiffies every 10 ms, all busy or all idle
    (busy ones turning idle after `calm_after_s`, when given)."""
    jiffies = {"busy": 0, "idle": 0}
    turns_calm = None if calm_after_s is None else time.monotonic() + calm_after_s

    def write() -> None:
        path.write_text(f"cpu  {jiffies['busy']} 0 0 {jiffies['idle']} 0 0 0 0 0 0\n")

    async def advance() -> None:
        while True:
            calm = turns_calm is not None and time.monotonic() >= turns_calm
            jiffies["busy" if busy and not calm else "idle"] += 100
            write()
            await asyncio.sleep(0.01)

    write()
    task = asyncio.create_task(advance())
    try:
        yield HostCpu(stat=path, min_interval_s=0.02)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def stream(broker_port: int, seconds: float) -> int:
    """Publish telemetry for `seconds` without pause (QoS 1); how many messages went."""
    sent = 0
    async with aiomqtt.Client("127.0.0.1", broker_port) as client:
        ends = time.monotonic() + seconds
        while time.monotonic() < ends:
            body = orjson.dumps({"ts": 1_795_000_000_000 + sent, "metrics": {"m": sent}})
            await client.publish(TOPIC, body, qos=1)
            sent += 1
            if sent % 50 == 0:
                await asyncio.sleep(0.005)
    return sent


async def stored_while_streaming(
    ingestors, broker, mes_dsn, cpu: HostCpu, *, seconds: float = 2.0, **config
) -> tuple[int, int, int]:
    """(spooled, stored) near the end of a stream of `seconds`, and how many were sent."""
    ingestor = await ingestors(**config)
    ingestor._cpu = cpu
    publisher = asyncio.create_task(stream(broker.port, seconds))
    await asyncio.sleep(seconds - 0.3)
    spooled = int(ingestor.metrics.spooled._value.get())
    stored = (await rows(mes_dsn, COUNT))[0][0]
    sent = await publisher
    return spooled, stored, sent


async def test_a_saturated_host_spools_the_burst_first_and_drains_it_after(
    ingestors, broker, mes_dsn, tmp_path
):
    async with host_load(tmp_path / "stat", busy=True) as cpu:
        spooled, stored, sent = await stored_while_streaming(
            ingestors, broker, mes_dsn, cpu, drain_max_lag_s=60.0
        )
        assert spooled > 200  # the reader kept taking messages off the broker
        assert stored < spooled // 4  # ... and the drainer left the processors to it
        # The stream paused: the drainer takes it all.
        assert await wait_for_rows(mes_dsn, COUNT, sent, seconds=30) == sent


@pytest.mark.parametrize(("busy", "lag_s"), [(False, 60.0), (True, 0.2)])
async def test_a_host_with_room_or_a_short_lag_bound_drains_during_the_stream(
    ingestors, broker, mes_dsn, tmp_path, busy, lag_s
):
    async with host_load(tmp_path / "stat", busy=busy) as cpu:
        spooled, stored, sent = await stored_while_streaming(
            ingestors, broker, mes_dsn, cpu, drain_max_lag_s=lag_s
        )
        assert spooled > 200
        assert stored >= spooled // 2
        assert await wait_for_rows(mes_dsn, COUNT, sent, seconds=30) == sent


async def test_a_wait_ends_when_the_host_calms_down_though_the_stream_goes_on(
    ingestors, broker, mes_dsn, tmp_path
):
    """A spike that looked like a burst (or a burst that ended while devices keep sending at
    their usual pace) must not hold PostgreSQL back for INGEST_DRAIN_MAX_LAG_S."""
    async with host_load(tmp_path / "stat", busy=True, calm_after_s=1.0) as cpu:
        spooled, stored, sent = await stored_while_streaming(
            ingestors, broker, mes_dsn, cpu, seconds=4.0, drain_max_lag_s=60.0
        )
        assert spooled > 200
        assert stored >= spooled // 2
        assert await wait_for_rows(mes_dsn, COUNT, sent, seconds=30) == sent

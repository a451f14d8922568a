"""`make run`'s own broker: Mosquitto with deploy/mosquitto's settings, so an ingestor away
for a while finds every message queued (a default Mosquitto keeps 1000 and drops the rest)."""

from __future__ import annotations

import asyncio
import uuid

import aiomqtt
import pytest

from deploy.stack_config import mosquitto_binary
from deploy.supervisor import free_port
from devserver.infra import run_mosquitto


async def test_make_run_broker_queues_beyond_mosquittos_default_limit(tmp_path):
    binary = mosquitto_binary()
    if binary is None:
        pytest.fail("mosquitto is not installed (make test installs it)")
    port = free_port()
    identifier = f"away-{uuid.uuid4().hex[:8]}"
    with run_mosquitto(binary, port, directory=tmp_path):
        async with aiomqtt.Client(
            "127.0.0.1", port, identifier=identifier, clean_session=False
        ) as c:
            await c.subscribe("mes/v1/#", qos=1)
        async with aiomqtt.Client("127.0.0.1", port) as publisher:
            for n in range(3000):
                await publisher.publish("mes/v1/s/a/l/M1/telemetry", str(n).encode(), qos=1)
        received = 0
        async with aiomqtt.Client(
            "127.0.0.1", port, identifier=identifier, clean_session=False
        ) as c:
            try:
                async with asyncio.timeout(5):
                    async for _ in c.messages:
                        received += 1
                        if received == 3000:
                            break
            except TimeoutError:
                pass
        assert received == 3000
    assert "max_queued_messages 0" in (tmp_path / "mosquitto.conf").read_text()

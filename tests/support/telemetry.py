"""Telemetry ingest test support: a private Mosquitto of the test's own (bench/telemetry.py
starts its brokers with it too), fast ingestor settings, publishing and polling helpers."""

from __future__ import annotations

import asyncio
import dataclasses
import subprocess
import uuid
from pathlib import Path
from typing import Any

import aiomqtt
import asyncpg
import orjson

from deploy.stack_config import broker_config
from shared.settings import IngestSettings

ROOT = Path(__file__).resolve().parents[2]  # the repository
# drain_max_lag_s: on a loaded test machine (CI, two workers) the host looks saturated while
# a test streams, and the drainer would wait for the stream to pause up to the production
# default (300 s); tests of that policy set their own.
FAST = IngestSettings(
    batch_size=200, flush_s=0.05, inflight=65535, reconnect_min_s=0.05, reconnect_max_s=0.5,
    broker_managed=True, drain_max_lag_s=1.0,
)  # fmt: skip


@dataclasses.dataclass
class Broker:
    """A Mosquitto of the test's own, restartable."""

    port: int
    directory: Path
    extra: str = ""
    process: subprocess.Popen[bytes] | None = None
    # Mosquitto's own defaults (max_queued_messages 1000, max_inflight_messages 20): a
    # broker this project does not configure, as plants often run.
    defaults: bool = False

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    async def start(self) -> None:
        """deploy/mosquitto's configuration (deploy.stack.broker_config), open to anyone."""
        config = self.directory / "mosquitto.conf"
        if self.defaults:
            config.write_text(
                f"listener {self.port} 127.0.0.1\nallow_anonymous true\n{self.extra}\n"
            )
        else:
            config.write_text(
                broker_config(self.port, self.directory, anonymous=True, extra=self.extra)
            )
        self.process = subprocess.Popen(  # noqa: ASYNC220 - a short-lived test fixture
            ["/usr/sbin/mosquitto", "-c", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(100):
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                writer.close()
                return
            except OSError:
                await asyncio.sleep(0.05)
        raise RuntimeError("mosquitto did not start")

    async def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            await asyncio.to_thread(self.process.wait, 10)


async def publish(
    broker: Broker, messages: list[tuple[str, Any]], *, client_id: str | None = None
) -> None:
    """Publish (topic, payload) pairs at QoS 1; payloads that are not bytes are JSON-encoded."""
    async with aiomqtt.Client(
        "127.0.0.1", broker.port, identifier=client_id or f"plc-{uuid.uuid4().hex[:8]}"
    ) as client:
        for topic, payload in messages:
            body = payload if isinstance(payload, bytes) else orjson.dumps(payload)
            await client.publish(topic, body, qos=1)


async def rows(dsn: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetch(sql, *args)
    finally:
        await conn.close()


async def wait_for_rows(dsn: str, sql: str, expected: int, *, seconds: float = 20) -> int:
    """Poll a count query until it reaches `expected` (bounded)."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        count = (await rows(dsn, sql))[0][0]
        if count >= expected or asyncio.get_running_loop().time() > deadline:
            return count
        await asyncio.sleep(0.05)

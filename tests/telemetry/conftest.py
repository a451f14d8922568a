"""Telemetry fixtures: a private Mosquitto started from deploy/mosquitto's config on a spare
port, a migrated MES database, and a factory of ingestors with test settings."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiomqtt
import asyncpg
import orjson
import pytest
from prometheus_client import CollectorRegistry

from deploy.stack_config import broker_config
from deploy.supervisor import free_port
from services.telemetry.ingest.ingestor import IngestMetrics, Ingestor
from shared.migrations import migrate
from shared.settings import IngestSettings, Settings

ROOT = Path(__file__).resolve().parents[2]
FAST = IngestSettings(
    batch_size=200, flush_s=0.05, inflight=65535, reconnect_min_s=0.05, reconnect_max_s=0.5,
    broker_managed=True,
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
        """deploy/mosquitto's configuration (deploy.stack_config.broker_config), open to anyone."""
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


@pytest.fixture
async def broker(tmp_path) -> AsyncIterator[Broker]:
    b = Broker(port=free_port(), directory=tmp_path)
    await b.start()
    yield b
    await b.stop()


@pytest.fixture
async def mes(fresh_database) -> str:
    dsn = await fresh_database()
    conn = await asyncpg.connect(dsn)
    try:
        await migrate(conn)
    finally:
        await conn.close()
    return dsn


@pytest.fixture
async def ingestors(broker, mes, tmp_path) -> AsyncIterator[Any]:
    """Start ingestors (each its own pool and spool) against the test broker and database."""
    running: list[tuple[Ingestor, asyncpg.Pool]] = []
    client_id = f"ingestor-{uuid.uuid4().hex[:8]}"

    async def start(*, dsn: str | None = None, **overrides: Any) -> Ingestor:
        settings = Settings(
            mes_db_url=dsn or mes, mqtt_url=broker.url, mqtt_client_id=overrides.pop("client_id", client_id),
            mqtt_shared_group=overrides.pop("group", None),
        )  # fmt: skip
        pool = await asyncpg.create_pool(settings.mes_db_url, min_size=0, max_size=4)
        config = dataclasses.replace(FAST, spool_dir=str(tmp_path / "spool"), **overrides)
        ingestor = Ingestor(pool, settings, config, IngestMetrics(CollectorRegistry()))
        await ingestor.start()
        await asyncio.wait_for(ingestor.connected.wait(), 10)
        running.append((ingestor, pool))
        return ingestor

    yield start
    for ingestor, pool in running:
        await ingestor.stop()
        await pool.close()


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


@pytest.fixture
async def private_postgres(tmp_path):
    """A PostgreSQL cluster of this test's own, on a spare port, that the test may stop."""
    bin_dir = sorted(Path("/usr/lib/postgresql").glob("*/bin"))[-1]  # noqa: ASYNC240 - fixture set-up
    # pytest's own temporary folders are root-only; the server runs as postgres.
    tmp_path = Path(tempfile.mkdtemp(prefix="mes-pg-"))
    tmp_path.chmod(0o755)
    data = tmp_path / "pgdata"
    data.mkdir()
    shutil.chown(tmp_path, "postgres")
    shutil.chown(data, "postgres")
    port = free_port()

    def run(*args: str) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", *args], check=True, capture_output=True)

    await asyncio.to_thread(
        run, str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"
    )
    control = (
        str(bin_dir / "pg_ctl"),
        "-D",
        str(data),
        "-o",
        f"-p {port} -k {tmp_path} -c listen_addresses=127.0.0.1",
    )

    class Cluster:
        dsn = f"postgresql://postgres@127.0.0.1:{port}/postgres"

        async def start(self) -> None:
            await asyncio.to_thread(run, *control, "-w", "-l", str(tmp_path / "log"), "start")

        async def stop(self) -> None:
            await asyncio.to_thread(run, *control, "-w", "-m", "fast", "stop")

    cluster = Cluster()
    await cluster.start()
    try:
        yield cluster
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):  # a test may leave it stopped
            await cluster.stop()
        shutil.rmtree(tmp_path, ignore_errors=True)

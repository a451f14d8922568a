"""Telemetry fixtures: a private Mosquitto started from deploy/mosquitto's config on a spare
port, a factory of ingestors with test settings, a PostgreSQL cluster a test may stop, and the query
tests' MES and Protheus rows and clients."""

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

import asyncpg
import pytest
from prometheus_client import CollectorRegistry

from deploy.supervisor import free_port
from services.telemetry.ingest.ingestor import IngestMetrics, Ingestor
from shared.settings import Settings, SparkplugSettings
from tests.support.telemetry import FAST
from tests.support.telemetry_query import ProtheusRows, TelemetryRows, query_app


@pytest.fixture
async def ingestors(broker, mes_dsn, tmp_path) -> AsyncIterator[Any]:
    """Start ingestors (each its own pool and spool) against the test broker and database."""
    running: list[tuple[Ingestor, asyncpg.Pool]] = []
    client_id = f"ingestor-{uuid.uuid4().hex[:8]}"

    async def start(*, dsn: str | None = None, **overrides: Any) -> Ingestor:
        settings = Settings(
            mes_db_url=dsn or mes_dsn, mqtt_url=broker.url, mqtt_client_id=overrides.pop("client_id", client_id),
            mqtt_shared_group=overrides.pop("group", None),
            sparkplug=overrides.pop("sparkplug", SparkplugSettings()),
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


@pytest.fixture
async def mes_rows(mes_dsn) -> AsyncIterator[TelemetryRows]:
    """The test's migrated MES database, with a connection to fill it."""
    rows = TelemetryRows(mes_dsn, await asyncpg.connect(mes_dsn))
    yield rows
    await rows.conn.close()


@pytest.fixture
async def erp(clone_database) -> AsyncIterator[ProtheusRows]:
    """Empty Protheus tables of company 01; SX2 makes SB1 and SH1 shared, SC2, SG2, SH6
    exclusive."""
    dsn = await clone_database("erp01")
    rows = ProtheusRows(dsn, await asyncpg.connect(dsn))
    yield rows
    await rows.conn.close()


@pytest.fixture
def client_for(aiohttp_client, mes_rows):
    """Clients of the telemetry query routes over a Protheus database."""

    async def make(protheus_dsn: str, **overrides: Any) -> Any:
        return await aiohttp_client(query_app(protheus_dsn, mes_rows.dsn, **overrides))

    return make

"""Nothing the broker handed over is lost: an ingestor SIGKILLed mid-stream, a database restart."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import sys
import uuid

import asyncpg

from shared.migrations import migrate
from shared.settings import IngestSettings
from tests.support.telemetry import ROOT, publish, rows, wait_for_rows

BASE = "mes/v1/porto/montagem/linha2"
KILLED = "SELECT count(*) FROM telemetry_samples WHERE machine = 'KILL1'"
PROBED = "SELECT count(*) FROM telemetry_samples WHERE machine = 'PROBE'"
START = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(hours=1)


def stream(machine: str, count: int, offset: int = 0) -> list[tuple[str, dict]]:
    return [
        (
            f"{BASE}/{machine}/telemetry",
            {"ts": (START + dt.timedelta(seconds=n)).isoformat(), "metrics": {"v": n}},
        )
        for n in range(offset, offset + count)
    ]


async def ingestor_process(env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.telemetry.ingest", cwd=ROOT,
        # A loaded test machine looks saturated: no waiting for the stream to pause for the
        # production default (300 s).
        env={**os.environ, "INGEST_DRAIN_MAX_LAG_S": "1", **env},
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip


async def test_sigkill_mid_stream_then_restart_stores_every_message_once(broker, mes_dsn, tmp_path):
    env = {
        "INGEST_SPOOL_DIR": str(tmp_path / "spool"),
        "MES_DB_URL": mes_dsn,
        "MQTT_URL": broker.url,
        "MQTT_CLIENT_ID": f"ingestor-{uuid.uuid4().hex[:8]}",
        "INGEST_BATCH_SIZE": "50",
        "INGEST_FLUSH_S": "0.05",
        "LOG_LEVEL": "WARNING",
    }
    process = await ingestor_process(env)
    # MQTT routes nothing to a session that does not exist yet: wait until the ingestor's
    # persistent session is subscribed (a probe stored) before the stream starts.
    for attempt in range(100):
        await publish(broker, stream("PROBE", 1, offset=attempt))
        if await wait_for_rows(mes_dsn, PROBED, 1, seconds=0.2):
            break
    else:
        raise AssertionError("the ingestor never subscribed")
    total = 3000
    publisher = asyncio.create_task(publish(broker, stream("KILL1", total)))
    await wait_for_rows(mes_dsn, KILLED, 300, seconds=30)
    process.send_signal(signal.SIGKILL)
    await process.wait()
    await publisher
    stored_at_kill = (await rows(mes_dsn, KILLED))[0][0]
    assert stored_at_kill < total  # the kill really landed mid-stream
    restarted = await ingestor_process(env)
    try:
        assert await wait_for_rows(mes_dsn, KILLED, total, seconds=60) == total
    finally:
        restarted.terminate()
        await restarted.wait()
    values = await rows(
        mes_dsn, "SELECT value FROM telemetry_samples WHERE machine = 'KILL1' ORDER BY ts"
    )
    assert [r["value"] for r in values] == [float(n) for n in range(total)]


async def test_a_database_restart_mid_stream_loses_nothing(broker, private_postgres, ingestors):
    conn = await asyncpg.connect(private_postgres.dsn)
    try:
        await migrate(conn)
    finally:
        await conn.close()
    await ingestors(dsn=private_postgres.dsn, **{f: getattr(IngestSettings(), f) for f in ()})
    await publish(broker, stream("DBR1", 500))
    await wait_for_rows(private_postgres.dsn, "SELECT count(*) FROM telemetry_samples", 500)
    await private_postgres.stop()
    await publish(broker, stream("DBR1", 1000, offset=500))  # the broker keeps them unacknowledged
    await asyncio.sleep(0.5)
    await private_postgres.start()
    assert (
        await wait_for_rows(
            private_postgres.dsn, "SELECT count(*) FROM telemetry_samples", 1500, seconds=60
        )
        == 1500
    )
    got = await rows(
        private_postgres.dsn,
        "SELECT min(value), max(value), count(DISTINCT ts) FROM telemetry_samples",
    )
    assert tuple(got[0]) == (0.0, 1499.0, 1500)

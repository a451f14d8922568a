"""The ingestor's spool in the running ingestor: a full spool stops reading (and says so)
without dropping anything it acknowledged; figures in /metrics; what a broker we do not
configure means; dead letters keep the first 64 KiB of a payload and its size."""

from __future__ import annotations

import asyncio
import datetime as dt

from prometheus_client import generate_latest

from shared.migrations import migrate
from tests.support.telemetry import publish, rows, wait_for_rows

BASE = "mes/v1/porto/estamparia/linha1"
START = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(hours=1)


def stream(count: int) -> list[tuple[str, dict]]:
    return [
        (f"{BASE}/FULL1/telemetry", {"ts": (START + dt.timedelta(seconds=n)).isoformat(),
                                     "metrics": {"v": n, "pad": 0}})
        for n in range(count)
    ]  # fmt: skip


async def test_a_full_spool_stops_reading_says_so_and_loses_nothing(
    broker, private_postgres, ingestors
):
    import asyncpg

    conn = await asyncpg.connect(private_postgres.dsn)
    try:
        await migrate(conn)
    finally:
        await conn.close()
    ingestor = await ingestors(dsn=private_postgres.dsn, spool_max_mb=0.05, spool_segment_mb=0.01)
    await asyncio.wait_for(ingestor.position_loaded.wait(), 10)
    await private_postgres.stop()  # nothing drains: the spool fills up
    total = 2000
    await publish(broker, stream(total))
    async with asyncio.timeout(20):
        while not ingestor.full:  # noqa: ASYNC110 - polling a plain flag
            await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)
    spooled = ingestor.metrics.spooled._value.get()
    assert spooled < total  # it stopped reading: the broker keeps the rest, unacknowledged
    assert ingestor._client is not None
    assert ingestor._client.paused
    status = ingestor.status()["spool"]
    assert status["reading"] == "paused"
    assert "Spool cheio" in status["message"]
    metrics = generate_latest(ingestor.metrics.registry).decode()
    assert "telemetry_spool_full 1.0" in metrics
    assert ingestor.metrics.spooled._value.get() == spooled  # still paused
    await private_postgres.start()
    assert (
        await wait_for_rows(
            private_postgres.dsn, "SELECT count(*) FROM telemetry_samples", total * 2, seconds=60
        )
        == total * 2
    )
    got = await rows(private_postgres.dsn, "SELECT count(DISTINCT ts) FROM telemetry_samples")
    assert got[0][0] == total
    assert not ingestor.full
    assert ingestor.status()["spool"]["reading"] == "running"


async def test_metrics_show_spool_depth_age_commit_latency_and_drain_rate(
    broker, mes_dsn, ingestors
):
    ingestor = await ingestors()
    await publish(broker, stream(300))
    await wait_for_rows(mes_dsn, "SELECT count(*) FROM telemetry_samples", 600)
    text = generate_latest(ingestor.metrics.registry).decode()
    for name in (
        "telemetry_spool_messages 0.0",
        "telemetry_spool_bytes 0.0",
        "telemetry_spool_oldest_age_seconds 0.0",
        "telemetry_spool_full 0.0",
        "telemetry_spooled_messages_total 300.0",
        "telemetry_spool_commit_seconds_count",
        "telemetry_drain_messages_per_second",
        "telemetry_spool_disk_bytes",
    ):
        assert name in text, name
    assert ingestor.drain_rate() > 0


async def test_a_broker_we_do_not_configure_gets_a_note(broker, mes_dsn, ingestors, caplog):
    ours = await ingestors(client_id="managed")
    assert "brokerNote" not in ours.status()
    theirs = await ingestors(client_id="unmanaged", broker_managed=False)
    note = theirs.status()["brokerNote"]
    assert "max_queued_messages" in note
    assert "MQTT_BROKER_MANAGED=true" in note
    assert any("max_queued_messages" in r.getMessage() for r in caplog.records)


async def test_dead_letters_keep_the_first_64_kib_and_the_size(broker, mes_dsn, ingestors):
    await ingestors()
    big = b"{" + b"x" * (100 * 1024)  # not JSON, 100 KiB
    await publish(broker, [(f"{BASE}/M1/telemetry", big), (f"{BASE}/M1/telemetry", b"{")])
    assert await wait_for_rows(mes_dsn, "SELECT count(*) FROM telemetry_dead_letters", 2) == 2
    got = await rows(
        mes_dsn,
        "SELECT octet_length(payload) AS kept, payload_size, substring(payload FROM 1 FOR 8) AS head"
        " FROM telemetry_dead_letters ORDER BY id",
    )
    assert [(r["kept"], r["payload_size"]) for r in got] == [(65536, len(big)), (1, 1)]
    assert bytes(got[0]["head"]) == big[:8]


async def test_readyz_shows_the_spool_and_what_the_broker_may_drop(
    aiohttp_client, broker, mes_dsn, tmp_path
):
    import dataclasses

    from services.telemetry.app import create_app
    from shared.settings import Settings
    from tests.helpers import NO_AUDIT
    from tests.support.telemetry import FAST

    settings = Settings(
        mes_db_url=mes_dsn,
        mqtt_url=broker.url,
        mqtt_client_id="readyz-ingestor",
        ingest=dataclasses.replace(FAST, spool_dir=str(tmp_path / "spool"), broker_managed=False),
        audit=NO_AUDIT,
    )
    client = await aiohttp_client(create_app(settings))
    resp = await client.get("/readyz")
    assert resp.status == 200
    check = (await resp.json())["data"]["checks"]["telemetry_ingestor"]
    assert check["required"] is False
    spool = check["spool"]
    assert spool["reading"] == "running"
    assert {"messages", "bytes", "oldestAgeSeconds", "drainRatePerSecond"} <= set(spool)
    assert "max_queued_messages" in check["brokerNote"]

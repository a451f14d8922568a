"""Retention and the lake: a day of raw samples past retention is dropped only once the lake
holds every plant day its rows may belong to (exported closed, no late data pending); with no
lake in use, retention drops it as before. The ingestor's maintenance says what it kept."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import duckdb
import pytest
from prometheus_client import CollectorRegistry

from services.analytics.lake.datasets import select_datasets
from services.analytics.lake.export import LakeExport
from services.telemetry.ingest.ingestor import IngestMetrics, Ingestor
from services.telemetry.partitions import SAMPLES, drop_expired
from shared.settings import Settings
from tests.support.telemetry import FAST

ZONE = "America/Sao_Paulo"  # lake_settings' zone after the migration
TODAY = dt.datetime.now(dt.UTC).date()
# Three UTC days well past the 90 days of retention; each partition touches the plant day
# before it too (00:00 UTC is 21:00 of the previous plant day).
OLD = [TODAY - dt.timedelta(days=100 - n) for n in range(3)]


@pytest.fixture
async def pool(mes_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    async with asyncpg.create_pool(mes_dsn, min_size=1, max_size=2) as p:
        yield p


async def add_sample(conn: asyncpg.Connection, day: dt.date, hour: int, value: float = 1.0) -> None:
    at = dt.datetime.combine(day, dt.time(hour), dt.UTC)
    await conn.execute(
        "INSERT INTO telemetry_samples (machine, metric, ts, value) VALUES ('M1', 'temp', $1, $2)",
        at,
        value,
    )


async def seed(conn: asyncpg.Connection) -> None:
    await SAMPLES.ensure(conn, [*OLD, TODAY])
    for day in OLD:
        await add_sample(conn, day, 12)  # 09:00 plant time: the same plant day


def samples_lake(pool: asyncpg.Pool, root: Path) -> LakeExport:
    return LakeExport(
        pool,
        lake_dir=root,
        zone=ZONE,
        batch_rows=1000,
        datasets=select_datasets(["telemetry_samples"]),
    )


async def test_a_day_is_dropped_only_once_the_lake_holds_its_plant_days(
    pool: asyncpg.Pool, tmp_path: Path
) -> None:
    async with pool.acquire() as conn:
        await seed(conn)
        lake = samples_lake(pool, tmp_path)
        await lake.run(last=OLD[1])  # OLD[0] and OLD[1] exported closed, OLD[2] not yet
        await add_sample(conn, OLD[1], 13, 5.0)  # late data for OLD[1], not yet folded

        first = await drop_expired(conn, TODAY, 90)
        # OLD[0]'s partition also touches the plant day before it, older than the lake's first
        # day (no row of the database can be there): it does not hold the drop.
        assert first.dropped == [OLD[0]]
        assert first.held == [OLD[1], OLD[2]]

        await lake.plan(last=OLD[1])  # folds the late mark; OLD[1] is still behind it
        second = await drop_expired(conn, TODAY, 90)
        assert (second.dropped, second.held) == ([], [OLD[1], OLD[2]])

        await lake.run(last=OLD[2])  # the late row and OLD[2] reach the lake
        third = await drop_expired(conn, TODAY, 90)
        assert (third.dropped, third.held) == ([OLD[1], OLD[2]], [])
        assert await SAMPLES.existing_days(conn) == {TODAY}

    lake_rows = duckdb.sql(
        f"SELECT count(*), sum(value) FROM '{tmp_path}/telemetry_samples/*/*.parquet'"
    ).fetchall()
    assert lake_rows == [(4, 8.0)]  # every sample retention dropped is in the lake


async def test_the_ingestor_keeps_what_the_lake_lacks_and_drops_as_before_without_a_lake(
    mes_dsn: str, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    registry = CollectorRegistry()
    config = dataclasses.replace(FAST, spool_dir=str(tmp_path / "spool"))
    ingestor = Ingestor(pool, Settings(mes_db_url=mes_dsn), config, IngestMetrics(registry))
    held = "telemetry_retention_held_partitions"
    try:
        async with pool.acquire() as conn:
            await seed(conn)
            # No lake in use (no manifest row for the samples): every expired day goes.
            await ingestor._maintain()
            assert not set(OLD) & await SAMPLES.existing_days(conn)
            assert registry.get_sample_value(held) == 0

            # The lake in use: OLD[0] exported closed, OLD[1] never (its export kept failing).
            await SAMPLES.ensure(conn, OLD[1:])
            await add_sample(conn, OLD[1], 12)
            await conn.execute(
                """INSERT INTO lake_manifest (dataset, day, rows, bytes, digest, closed)
                   VALUES ('telemetry_samples', $1, 1, 100, 'x', true)""",
                OLD[0],
            )
            ingestor._last_retention = 0.0  # the next round
            await ingestor._maintain()
            kept = await SAMPLES.existing_days(conn)
            assert OLD[1] in kept  # touches the plant day OLD[1], not in the lake
            assert OLD[2] in kept
            assert registry.get_sample_value(held) == 2
            assert await conn.fetchval("SELECT count(*) FROM telemetry_samples") == 1
    finally:
        ingestor.spool.close()


async def test_retention_stops_at_the_first_day_held_so_what_is_left_has_no_gap(
    pool: asyncpg.Pool, tmp_path: Path
) -> None:
    """A gap would hide from the lake's export that a plant day lost rows to retention (it
    tells that by the day's start against the oldest partition left)."""
    async with pool.acquire() as conn:
        await seed(conn)
        await samples_lake(pool, tmp_path).run(last=OLD[2])  # all three exported closed
        # 22:00 of plant day OLD[0], in OLD[1]'s partition: marks OLD[0], which the partitions
        # of OLD[0] and OLD[1] touch; OLD[2]'s (plant days OLD[1] and OLD[2]) is clean.
        await add_sample(conn, OLD[1], 1)

        retention = await drop_expired(conn, TODAY, 90)

        assert (retention.dropped, retention.held) == ([], OLD)
        assert await SAMPLES.existing_days(conn) == {*OLD, TODAY}

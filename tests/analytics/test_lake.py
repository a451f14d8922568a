"""The Parquet lake read back with DuckDB: the files hold what the database holds per dataset
and plant day, a second run writes nothing, late data rewrites its day only, an interrupted
run leaves the lake as it was, and the export's memory does not grow with the day's size."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg
import duckdb
import pytest

from services.analytics.lake import parquet
from services.analytics.lake.export import LakeExport
from services.analytics.rollups.service import roll_telemetry
from shared.partitions import DailyPartitions

ZONE = "America/Sao_Paulo"
TZ = ZoneInfo(ZONE)
ROOT = Path(__file__).resolve().parents[2]
# Three closed plant days; 01:00 UTC belongs to the previous plant day (UTC-3).
DAYS = [dt.date(2026, 11, 20), dt.date(2026, 11, 21), dt.date(2026, 11, 22)]


def at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), TZ)


@pytest.fixture
async def conn(mes_dsn: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(mes_dsn)
    yield connection
    await connection.close()


@pytest.fixture
async def pool(mes_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    async with asyncpg.create_pool(mes_dsn, min_size=1, max_size=2) as p:
        yield p


def lake(pool: asyncpg.Pool, root: Path, batch_rows: int = 1000) -> LakeExport:
    return LakeExport(pool, lake_dir=root, zone=ZONE, batch_rows=batch_rows)


async def ensure_partitions(conn: asyncpg.Connection, first: dt.date, last: dt.date) -> None:
    days = [first + dt.timedelta(days=n) for n in range(-1, (last - first).days + 2)]
    await DailyPartitions("telemetry_samples").ensure(conn, days)


async def add_samples(conn: asyncpg.Connection, day: dt.date, count: int, *, value: float = 1.0,
                      start_minute: int = 0, metric: str = "temp", step_ms: int = 1000) -> None:  # fmt: skip
    """`count` samples of 3 machines from a minute of the plant day, `step_ms` apart."""
    start = at(day, 0) + dt.timedelta(minutes=start_minute)
    await conn.execute(
        """
        INSERT INTO telemetry_samples (machine, metric, ts, value)
        SELECT 'M' || (i % 3), $4, $1::timestamptz + (i / 3) * $5 * interval '1 millisecond', $2 + i % 7
        FROM generate_series(0, $3 - 1) AS i
        """,
        start,
        value,
        count,
        metric,
        step_ms,
    )


async def seed(conn: asyncpg.Connection) -> None:
    await ensure_partitions(conn, DAYS[0], DAYS[-1])
    for n, day in enumerate(DAYS):
        await add_samples(conn, day, 500 + 100 * n)
        # Late evening plant time: the next UTC day, the same plant day.
        await add_samples(conn, day, 30, start_minute=22 * 60 + 30, value=100.0)
    await conn.executemany(
        "INSERT INTO machine_states (machine, ts, state, reason) VALUES ($1, $2, $3, $4)",
        [("M1", at(d, h), s, r) for d in DAYS for h, s, r in ((6, "running", None), (10, "fault", "E, 1\n\"x\""), (23, "idle", ""))],
    )  # fmt: skip
    await conn.executemany(
        "INSERT INTO machine_counters (machine, ts, good, scrap, order_key) VALUES ($1, $2, $3, $4, $5)",
        [("M1", at(d, h), 10 * h, h % 3, "000123 01 001") for d in DAYS for h in (7, 12, 22)],
    )  # fmt: skip
    await conn.executemany(
        """INSERT INTO stops (id, machine, branch, state, start_at, end_at, status, reason_code)
           VALUES (gen_random_uuid(), 'M1', '01', 'fault', $1, $2, 'unclassified', NULL)""",
        [(at(d, 10), at(d, 10, 30)) for d in DAYS],
    )
    await conn.executemany(
        """INSERT INTO production_reports (id, client, branch, order_key, operation, machine,
               operator, start_at, end_at, good_quantity, scrap_quantity, final)
           VALUES (gen_random_uuid(), 'test', '01', '00012301001', '10', 'M1', 'op', $1, $2, $3, 1, false)""",
        [(at(d, h), at(d, h, 50), 10.5 * h) for d in DAYS for h in (0, 8, 23)],
    )
    await conn.execute(
        "INSERT INTO machines (machine, site, area, line, last_seen) VALUES "
        "('M1', 'S', 'A', 'L1', now()), ('M2', 'S', 'A', 'L2', now())"
    )


def duck(root: Path, dataset: str, select: str) -> dict[dt.date, tuple[object, ...]]:
    """Per plant day (the Hive `date` folder), the aggregates `select` reads from the lake."""
    rows = duckdb.sql(
        f"SELECT date, {select} FROM read_parquet('{root}/{dataset}/*/*.parquet', "
        "hive_partitioning = true) GROUP BY date"
    ).fetchall()
    return {r[0]: tuple(r[1:]) for r in rows}


async def database(conn: asyncpg.Connection, table: str, column: str, select: str) -> dict[dt.date, tuple[object, ...]]:  # fmt: skip
    rows = await conn.fetch(
        f"SELECT ({column} AT TIME ZONE '{ZONE}')::date AS day, {select} FROM {table} GROUP BY 1"
    )
    return {r[0]: tuple(r[1:]) for r in rows}


def files(root: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(root)): (p.stat().st_mtime_ns, p.stat().st_ino)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


MANIFEST = "SELECT dataset, day, rows, digest, closed, written_at FROM lake_manifest ORDER BY 1, 2"


async def test_lake_counts_and_sums_equal_the_database_per_dataset_and_day(
    conn: asyncpg.Connection, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    await seed(conn)
    report = await lake(pool, tmp_path, batch_rows=200).run()

    assert duck(tmp_path, "telemetry_samples", "count(*), sum(value)") == await database(
        conn, "telemetry_samples", "ts", "count(*), sum(value)"
    )
    assert set(duck(tmp_path, "telemetry_samples", "count(*)")) == set(DAYS)
    assert duck(tmp_path, "states", "count(*), count(reason), string_agg(reason, '|' ORDER BY start_utc)") == await database(
        conn, "machine_states", "ts", "count(*), count(reason), string_agg(reason, '|' ORDER BY ts)"
    )  # fmt: skip
    assert duck(tmp_path, "counters", "count(*), sum(good), sum(scrap)") == await database(
        conn, "machine_counters", "ts", "count(*), sum(good), sum(scrap)"
    )
    assert duck(tmp_path, "stops", "count(*), sum(epoch(end_utc) - epoch(start_utc))") == await database(
        conn, "stops", "start_at", "count(*), sum(extract(epoch FROM end_at - start_at))::float8"
    )  # fmt: skip
    assert duck(tmp_path, "production", "count(*), sum(good_quantity), sum(scrap_quantity)") == await database(
        conn, "production_reports", "start_at", "count(*), sum(good_quantity)::float8, sum(scrap_quantity)::float8"
    )  # fmt: skip
    machines = duckdb.sql(f"SELECT machine, line FROM '{tmp_path}/machines/*.parquet' ORDER BY 1")
    assert machines.fetchall() == [("M1", "L1"), ("M2", "L2")]
    assert report.rows["telemetry_samples"] == await conn.fetchval(
        "SELECT count(*) FROM telemetry_samples"
    )
    # Types an analyst's tool reads as such: UTC instants, numbers.
    sample = duckdb.sql(f"SELECT ts, value FROM '{tmp_path}/telemetry_samples/*/*.parquet' LIMIT 1")
    assert [str(t) for t in sample.types] == ["TIMESTAMP WITH TIME ZONE", "DOUBLE"]
    assert (tmp_path / "stops" / "_schema.json").exists()


async def test_a_second_run_writes_nothing_new(
    conn: asyncpg.Connection, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    await seed(conn)
    await lake(pool, tmp_path).run()
    before_files, before_manifest = files(tmp_path), await conn.fetch(MANIFEST)

    report = await lake(pool, tmp_path).run()

    assert report.files == 0
    assert files(tmp_path) == before_files
    assert await conn.fetch(MANIFEST) == before_manifest


async def test_late_data_rewrites_exactly_its_day(
    conn: asyncpg.Connection, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    await seed(conn)
    await lake(pool, tmp_path).run()
    before = files(tmp_path)

    # A sample for the middle day arrives late, through COPY as the ingestor writes.
    late = at(DAYS[1], 23, 59)
    await conn.copy_records_to_table(
        "telemetry_samples", records=[("M9", "temp", late, 1000.0)],
        columns=["machine", "metric", "ts", "value"],
    )  # fmt: skip
    report = await lake(pool, tmp_path).run()

    after = files(tmp_path)
    changed = sorted(name for name in after if after[name] != before.get(name))
    assert changed == [f"telemetry_samples/date={DAYS[1]}/part-0.parquet"]
    assert {name: rows for name, rows in report.rows.items() if rows} == {"telemetry_samples": 631}  # fmt: skip
    assert duck(tmp_path, "telemetry_samples", "count(*), sum(value)") == await database(
        conn, "telemetry_samples", "ts", "count(*), sum(value)"
    )
    # Marked once, exported once: the next run is quiet again.
    assert (await lake(pool, tmp_path).run()).files == 0


class FailingExport(LakeExport):
    """Fails in the middle of writing one day's file, after some batches were written."""

    def __init__(self, *args: object, fail_day: dt.date, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fail_day = fail_day

    async def export(self, conn, task, *, columns, schema):  # type: ignore[no-untyped-def]
        if task.day != self.fail_day:
            return await super().export(conn, task, columns=columns, schema=schema)
        original = parquet.CopyFeed.__call__
        received = 0

        # By bytes, not calls: how the COPY's output is cut into chunks depends on the load.
        # The day holds over 1 MB of COPY text; batches of 1,000 rows are written before this.
        async def failing(feed: parquet.CopyFeed, chunk: bytes) -> None:
            nonlocal received
            received += len(chunk)
            if received >= 400_000:
                raise ConnectionResetError("injected")
            await original(feed, chunk)

        parquet.CopyFeed.__call__ = failing  # type: ignore[method-assign]
        try:
            return await super().export(conn, task, columns=columns, schema=schema)
        finally:
            parquet.CopyFeed.__call__ = original  # type: ignore[method-assign]


async def test_a_failed_run_leaves_the_previous_files_and_manifest(
    conn: asyncpg.Connection, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    await seed(conn)
    await lake(pool, tmp_path).run()
    before_files, before_manifest = files(tmp_path), await conn.fetch(MANIFEST)
    before_rows = duck(tmp_path, "telemetry_samples", "count(*), sum(value)")
    await add_samples(conn, DAYS[1], 20_000, value=5.0, start_minute=60)

    failing = FailingExport(pool, lake_dir=tmp_path, zone=ZONE, batch_rows=1000, fail_day=DAYS[1])
    with pytest.raises(ConnectionResetError):
        await failing.run()

    assert files(tmp_path) == before_files
    assert await conn.fetch(MANIFEST) == before_manifest
    assert duck(tmp_path, "telemetry_samples", "count(*), sum(value)") == before_rows
    # The next run completes the day.
    await lake(pool, tmp_path).run()
    assert duck(tmp_path, "telemetry_samples", "count(*), sum(value)") == await database(
        conn, "telemetry_samples", "ts", "count(*), sum(value)"
    )


def cli(dsn: str, root: Path, *args: str, batch_rows: int = 20_000) -> subprocess.Popen[bytes]:
    env = {**os.environ, "MES_DB_URL": dsn, "LAKE_DIR": str(root), "PLANT_TIMEZONE": ZONE,
           "LAKE_BATCH_ROWS": str(batch_rows), "LOG_LEVEL": "WARNING"}  # fmt: skip
    return subprocess.Popen(
        [sys.executable, "-m", "services.analytics.lake", "export", *args],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip


def rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except FileNotFoundError:
        pass
    return 0


async def test_a_killed_run_leaves_no_partial_file(
    mes_dsn: str, conn: asyncpg.Connection, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    await seed(conn)
    await lake(pool, tmp_path).run()
    before_files, before_manifest = files(tmp_path), await conn.fetch(MANIFEST)
    before_rows = duck(tmp_path, "telemetry_samples", "count(*), sum(value)")
    await add_samples(conn, DAYS[1], 600_000, value=3.0, metric="rpm", step_ms=100)

    process = cli(mes_dsn, tmp_path, "--dataset", "telemetry_samples", batch_rows=5_000)
    folder = tmp_path / "telemetry_samples" / f"date={DAYS[1]}"
    deadline = time.monotonic() + 60
    while not any(p.name.startswith(".part-0.parquet.tmp-") and p.stat().st_size > 0 for p in folder.iterdir()):  # fmt: skip
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.communicate()

    leftovers = [p.name for p in folder.iterdir() if p.name != "part-0.parquet"]
    assert leftovers
    assert all(parquet.TEMP_PATTERN.match(n) for n in leftovers)
    assert {k: v for k, v in files(tmp_path).items() if "/." not in k} == before_files
    assert await conn.fetch(MANIFEST) == before_manifest
    assert duck(tmp_path, "telemetry_samples", "count(*), sum(value)") == before_rows

    # The next run removes the leftover and writes the day whole.
    await lake(pool, tmp_path, batch_rows=50_000).run()
    assert sorted(p.name for p in folder.iterdir()) == ["part-0.parquet"]
    assert duck(tmp_path, "telemetry_samples", "count(*), sum(value)") == await database(
        conn, "telemetry_samples", "ts", "count(*), sum(value)"
    )


async def peak_rss_mb(dsn: str, root: Path, day: dt.date) -> float:
    process = cli(dsn, root, "--dataset", "telemetry_samples", "--from", str(day), "--to", str(day))
    peak = 0
    while process.poll() is None:
        peak = max(peak, rss_kb(process.pid))
        await asyncio.sleep(0.01)
    _, err = process.communicate()
    assert process.returncode == 0, err.decode()
    return peak / 1024


async def test_memory_stays_flat_whatever_the_day_size(
    mes_dsn: str, conn: asyncpg.Connection, tmp_path: Path
) -> None:
    small, large = dt.date(2026, 11, 10), dt.date(2026, 11, 11)
    await ensure_partitions(conn, small, large)
    await add_samples(conn, small, 200_000, step_ms=100)
    await add_samples(conn, large, 1_000_000, step_ms=100)

    small_peak = await peak_rss_mb(mes_dsn, tmp_path, small)
    large_peak = await peak_rss_mb(mes_dsn, tmp_path, large)

    assert duck(tmp_path, "telemetry_samples", "count(*)") == {
        small: (200_000,),
        large: (1_000_000,),
    }
    # Five times the rows (about 60 MB of COPY text more, which a whole-day buffer would hold
    # twice over as text and Arrow columns, 100 MB and more): the streamed export grows by far
    # less. Measured: about 10 MB alone, up to 32 MB during the full parallel suite (the
    # COPY's read-ahead while the writer thread waits for a core).
    assert large_peak < small_peak + 45, (small_peak, large_peak)


async def test_a_day_partly_dropped_by_retention_is_not_rewritten(
    conn: asyncpg.Connection, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    await seed(conn)
    await lake(pool, tmp_path).run()
    before = duck(tmp_path, "telemetry_samples", "count(*), sum(value)")
    # Retention drops the first day's UTC partition; the plant day's last hours live on in the
    # next partition, and a late sample lands there.
    for day in (DAYS[0] - dt.timedelta(days=1), DAYS[0]):  # the oldest first, as retention does
        await conn.execute(f"DROP TABLE telemetry_samples_{day:%Y%m%d}")
    await conn.execute(
        "INSERT INTO telemetry_samples (machine, metric, ts, value) VALUES ('M9', 'temp', $1, 1)",
        at(DAYS[0], 23, 50),
    )

    await lake(pool, tmp_path).run()
    assert duck(tmp_path, "telemetry_samples", "count(*), sum(value)") == before

    await lake(pool, tmp_path).run(first=DAYS[0], force=True)  # forced: still not rewritten
    assert duck(tmp_path, "telemetry_samples", "count(*), sum(value)") == before


async def test_force_rewrites_the_closed_days_of_its_range_after_a_zone_change(
    conn: asyncpg.Connection, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    from services.analytics.lake.__main__ import parse_args
    from services.analytics.lake.datasets import select_datasets

    await seed(conn)
    counters = select_datasets(["counters"])
    await LakeExport(pool, lake_dir=tmp_path, zone=ZONE, batch_rows=1000, datasets=counters).run()
    # PLANT_TIMEZONE becomes UTC: 22:00 of a plant day in São Paulo is 01:00 UTC of the next.
    utc = LakeExport(pool, lake_dir=tmp_path, zone="UTC", batch_rows=1000, datasets=counters)
    await utc.run()  # closed days (to today) keep the old zone's bounds
    assert duck(tmp_path, "counters", "count(*)") == {d: (3,) for d in DAYS}

    after = DAYS[-1] + dt.timedelta(days=1)  # the last evening's row moves to this UTC day
    report = await utc.run(first=DAYS[0], last=after, force=True)

    assert report.files == 4
    rows = await conn.fetch(
        "SELECT (ts AT TIME ZONE 'UTC')::date AS day, count(*) FROM machine_counters GROUP BY 1"
    )
    assert duck(tmp_path, "counters", "count(*)") == {r["day"]: (r["count"],) for r in rows}
    assert (await utc.run(first=DAYS[0], last=after, force=True)).files == 0  # same digests
    # The CLI's flag needs the range's first day.
    assert parse_args(["export", "--force", "--from", str(DAYS[0])]).force
    with pytest.raises(SystemExit):
        parse_args(["export", "--force"])


async def test_marks_follow_rows_moved_between_days_and_plant_days(
    conn: asyncpg.Connection,
) -> None:
    stop = await conn.fetchval(
        """INSERT INTO stops (id, machine, branch, state, start_at, status)
           VALUES (gen_random_uuid(), 'M1', '01', 'fault', $1, 'open') RETURNING id""",
        at(DAYS[0], 23, 30),  # 02:30 UTC of the next day: still the plant's DAYS[0]
    )
    await conn.execute("DELETE FROM lake_dirty_log")
    await conn.execute("UPDATE stops SET start_at = $2 WHERE id = $1", stop, at(DAYS[2], 8))

    marked = await conn.fetch("SELECT source, day FROM lake_dirty_log ORDER BY day")
    assert [(r["source"], r["day"]) for r in marked] == [("stops", DAYS[0]), ("stops", DAYS[2])]


async def test_a_late_state_marks_the_day_of_the_state_it_ends(
    conn: asyncpg.Connection, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    await seed(conn)
    await lake(pool, tmp_path).run()
    # M1 was idle from 23:00 of DAYS[0] to 06:00 of DAYS[1]; a state at 00:30 arrives late.
    await conn.copy_records_to_table(
        "machine_states", records=[("M1", at(DAYS[1], 0, 30), "setup", None)],
        columns=["machine", "ts", "state", "reason"],
    )  # fmt: skip
    marked = await conn.fetch("SELECT DISTINCT day FROM lake_dirty_log WHERE source = 'machine_states' ORDER BY day")  # fmt: skip
    assert [r["day"] for r in marked] == DAYS[:2]  # its own day, and the one it ends a state in

    await lake(pool, tmp_path).run()

    ends = duckdb.sql(
        f"SELECT date, max(end_utc) FILTER (WHERE state = 'idle') FROM read_parquet("
        f"'{tmp_path}/states/*/*.parquet', hive_partitioning = true) GROUP BY date ORDER BY date"
    ).fetchall()
    assert ends[0] == (DAYS[0], at(DAYS[1], 0, 30).astimezone(dt.UTC).replace(tzinfo=None))


async def test_the_service_job_exports_and_reports_on_metrics(
    aiohttp_client, mes_dsn: str, demo_protheus_dsn: str, conn: asyncpg.Connection, tmp_path: Path
) -> None:
    import dataclasses

    from services.analytics.app import create_app
    from services.analytics.keys import JOBS
    from shared.settings import AnalyticsSettings, Settings
    from tests.helpers import NO_AUDIT
    from tests.support.analytics import BI_PASSWORD

    await seed(conn)
    settings = Settings(
        mes_db_url=mes_dsn,
        protheus_db_url=demo_protheus_dsn,
        plant_timezone=ZONE,
        analytics=dataclasses.replace(
            AnalyticsSettings(),
            lake_dir=str(tmp_path),
            export_min=60.0,
            sync_min=60.0,
            bi_password=BI_PASSWORD,
        ),
        audit=NO_AUDIT,
    )
    client = await aiohttp_client(create_app(settings))
    job = client.app[JOBS]["lake_export"]
    for _ in range(500):
        if job.runs:
            break
        await asyncio.sleep(0.02)
    assert job.runs == 1, job.status()

    metrics = await (await client.get("/metrics")).text()
    samples = await conn.fetchval("SELECT count(*) FROM telemetry_samples")
    assert (
        f'analytics_rows_total{{dataset="telemetry_samples",job="lake_export"}} {samples:.1f}'
        in metrics
    )
    assert 'lake_lag_seconds{dataset="telemetry_samples"}' in metrics
    assert "lake_last_run_timestamp " in metrics
    assert duck(tmp_path, "counters", "count(*)") == {d: (3,) for d in DAYS}


async def test_the_cli_prints_plain_lines_off_a_terminal_and_refuses_unknown_datasets(
    mes_dsn: str, conn: asyncpg.Connection, tmp_path: Path
) -> None:
    await seed(conn)
    process = cli(mes_dsn, tmp_path, "--dataset", "counters", "--from", str(DAYS[0]), "--to", str(DAYS[1]))  # fmt: skip
    out, err = process.communicate()
    assert process.returncode == 0, err.decode()
    lines = out.decode().splitlines()
    assert lines == [
        f"1/2 counters {DAYS[0]}: 3 linhas, gravado",
        f"2/2 counters {DAYS[1]}: 3 linhas, gravado",
        "2 arquivo(s) gravado(s), 6 linhas, em 2 tarefa(s)",
    ]

    process = cli(mes_dsn, tmp_path, "--dataset", "nope")
    out, err = process.communicate()
    assert process.returncode == 2
    assert "nope" in err.decode()


async def test_a_file_missing_from_the_lake_is_written_again(
    conn: asyncpg.Connection, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    await seed(conn)
    await lake(pool, tmp_path).run()
    (tmp_path / "states" / f"date={DAYS[1]}" / "part-0.parquet").unlink()

    report = await lake(pool, tmp_path).run()

    assert report.files == 1
    assert duck(tmp_path, "states", "count(*)") == {d: (3,) for d in DAYS}


async def test_writers_marking_the_same_day_never_wait_on_each_other(
    conn: asyncpg.Connection, mes_dsn: str
) -> None:
    """A report pusher or the stop detector holding its transaction open does not make the
    next writer of the same day wait: marks are appended, never a shared row updated."""
    insert = """INSERT INTO stops (id, machine, branch, state, start_at, status)
                VALUES (gen_random_uuid(), $1, '01', 'fault', $2, 'open')"""
    other = await asyncpg.connect(mes_dsn)
    try:
        holding = conn.transaction()
        await holding.start()
        await conn.execute(insert, "M1", at(DAYS[0], 8))
        async with other.transaction():
            await other.execute("SET LOCAL lock_timeout = '1s'")
            await other.execute(insert, "M2", at(DAYS[0], 9))  # no LockNotAvailableError
        await holding.commit()
    finally:
        await other.close()
    marked = await conn.fetch("SELECT source, day FROM lake_dirty_log WHERE source = 'stops'")
    assert [(r["source"], r["day"]) for r in marked] == [("stops", DAYS[0])] * 2


async def test_the_telemetry_rollups_reach_the_lake_and_late_data_rewrites_their_day(
    conn: asyncpg.Connection, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    await seed(conn)
    # The views' plant days follow the zone the dimension sync writes.
    await conn.execute(
        "INSERT INTO analytics_src.plant (timezone) VALUES ($1) "
        "ON CONFLICT (id) DO UPDATE SET timezone = EXCLUDED.timezone",
        ZONE,
    )
    await roll_telemetry(pool)
    await lake(pool, tmp_path).run()
    view = "analytics.telemetry_1m"
    totals = "sum(count)::bigint, round(sum(avg * count)::numeric, 6)"

    async def in_database() -> dict[dt.date, tuple[object, ...]]:
        rows = await conn.fetch(f"SELECT date_local, {totals} FROM {view} GROUP BY 1")
        return {r[0]: tuple(r[1:]) for r in rows}

    def in_lake() -> dict[dt.date, tuple[object, ...]]:
        found = duck(tmp_path, "telemetry_1m", "sum(count)::BIGINT, round(sum(avg * count), 6)")
        return {day: (count, round(total, 6)) for day, (count, total) in found.items()}

    expected = {day: (c, float(t)) for day, (c, t) in (await in_database()).items()}
    assert set(expected) == set(DAYS)
    assert in_lake() == expected
    written = files(tmp_path)

    # A late sample on the middle day: the job rewrites its minute, the lake exactly its day.
    await add_samples(conn, DAYS[1], 3, value=50.0, start_minute=300)
    await roll_telemetry(pool)
    await lake(pool, tmp_path).run()

    expected = {day: (c, float(t)) for day, (c, t) in (await in_database()).items()}
    assert in_lake() == expected
    changed = {path for path, stamp in files(tmp_path).items() if written.get(path) != stamp}
    assert {p for p in changed if "telemetry_1m/" in p or "telemetry_1h/" in p} == {
        f"telemetry_1m/date={DAYS[1]}/part-0.parquet",
        f"telemetry_1h/date={DAYS[1]}/part-0.parquet",
    }


@pytest.mark.parametrize(
    ("dataset", "index"),
    [("states", "machine_states_ts_utc"), ("counters", "machine_counters_ts_utc"),
     ("stops", "stops_start_utc")],
)  # fmt: skip
async def test_a_day_of_a_large_fact_is_read_through_an_index(
    conn: asyncpg.Connection, dataset: str, index: str
) -> None:
    """Each run rewrites today's file: its COPY reads that day, not the whole table."""
    from services.analytics.lake.datasets import select_datasets
    from services.analytics.lake.queries import select_rows

    (found,) = select_datasets([dataset])
    sql = select_rows(found.relation, ["machine"], day_column=found.day_column)
    async with conn.transaction():
        await conn.execute("SET LOCAL enable_seqscan = off")  # tiny tables: ask what it can use
        plan = "\n".join(
            r[0] for r in await conn.fetch(f"EXPLAIN {sql}", at(DAYS[0], 0), at(DAYS[1], 0))
        )
    assert index in plan, plan


async def test_an_export_cancelled_mid_file_leaves_no_thread_waiting(
    conn: asyncpg.Connection, pool: asyncpg.Pool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The service stopping cancels its export: the writer thread must end too (a thread left
    waiting for the next block hangs the shutdown, which waits for the executor's threads),
    even when nothing more can be awaited or handed to a thread (a loop shutting down)."""

    async def unavailable(*_args: object) -> None:
        raise RuntimeError("cannot schedule new futures after shutdown")

    await ensure_partitions(conn, DAYS[0], DAYS[0])
    await add_samples(conn, DAYS[0], 300_000, step_ms=100)
    exporting = asyncio.create_task(lake(pool, tmp_path, batch_rows=1000).run())
    folder = tmp_path / "telemetry_samples" / f"date={DAYS[0]}"
    for _ in range(500):  # until the day's temporary file is being written
        if folder.exists() and any(folder.iterdir()):
            break
        await asyncio.sleep(0.01)
    monkeypatch.setattr(parquet.CopyFeed, "end", unavailable)
    exporting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await exporting
    loop = asyncio.get_running_loop()
    await asyncio.wait_for(loop.shutdown_default_executor(), 10)  # every worker thread ended
    assert not [p for p in folder.iterdir() if p.name.endswith(".parquet")]


async def test_an_export_cancelled_while_ending_its_file_leaves_no_thread_waiting(
    conn: asyncpg.Connection, pool: asyncpg.Pool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The COPY is over and the export hands the writer its last block and the end mark when
    the service stops: the writer thread must end too (it waited for the end mark forever and
    hung the shutdown; seen as a 150 s teardown timeout of the analytics app test)."""
    ending = asyncio.Event()

    async def stopped_while_ending(*_args: object) -> None:
        ending.set()
        await asyncio.Event().wait()  # cancelled here, before the end mark is handed over

    await ensure_partitions(conn, DAYS[0], DAYS[0])
    await add_samples(conn, DAYS[0], 500, step_ms=100)
    monkeypatch.setattr(parquet.CopyFeed, "end", stopped_while_ending)
    exporting = asyncio.create_task(lake(pool, tmp_path, batch_rows=1000).run())
    await asyncio.wait_for(ending.wait(), 30)
    exporting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await exporting
    loop = asyncio.get_running_loop()
    await asyncio.wait_for(loop.shutdown_default_executor(), 10)  # every worker thread ended
    folder = tmp_path / "telemetry_samples" / f"date={DAYS[0]}"
    assert not [p for p in folder.iterdir() if p.name.endswith(".parquet")]

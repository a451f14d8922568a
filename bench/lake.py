"""The lake export of 10M telemetry samples (one plant day) against a bare COPY of the same rows
in the same run (target: export rate >= 0.5 of the COPY's), the export's peak RSS (target
< 300 MB), and the cost of the lake's marking trigger on a COPY into telemetry_samples.

The samples are generated once into their own MES database (BENCH_LAKE_DB_URL); the export
runs in a child process so its peak RSS is its own (ru_maxrss of the children)."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg

from shared.migrations import migrate
from shared.partitions import DailyPartitions

DSN = os.environ.get("BENCH_LAKE_DB_URL", "postgresql://postgres@127.0.0.1:5432/mes_bench_lake")
ROWS = int(os.environ.get("BENCH_LAKE_ROWS", "10000000"))
ZONE = "America/Sao_Paulo"
DAY = dt.date(2026, 1, 15)
MACHINES, METRICS = 100, 10
TRIGGER_ROWS = 500_000
REPEAT = 5


def bounds() -> tuple[dt.datetime, dt.datetime]:
    tz = ZoneInfo(ZONE)
    start = dt.datetime.combine(DAY, dt.time(), tz)
    return start, start + dt.timedelta(days=1)


async def prepare() -> None:
    from devserver.launcher import ensure_database

    await ensure_database(DSN)
    conn = await asyncpg.connect(DSN)
    try:
        await migrate(conn)
        start, end = bounds()
        days = [DAY - dt.timedelta(days=1), DAY, DAY + dt.timedelta(days=1), dt.date(2026, 2, 1)]
        await DailyPartitions("telemetry_samples").ensure(conn, days)
        have = await conn.fetchval(
            "SELECT count(*) FROM telemetry_samples WHERE ts >= $1 AND ts < $2", start, end
        )
        if have != ROWS:
            print(f"generating {ROWS:,} samples of {DAY} (once) ...", flush=True)
            began = time.perf_counter()
            await conn.execute("TRUNCATE telemetry_samples")
            per_series = ROWS // (MACHINES * METRICS)
            step_ms = 86_400_000 // per_series
            # One series (machine, metric) after another, in COPY-sized statements.
            for m in range(MACHINES):
                await conn.execute(
                    """
                    INSERT INTO telemetry_samples (machine, metric, ts, value)
                    SELECT 'MAQ' || lpad($1::int::text, 3, '0'), 'metric_' || k,
                           $2::timestamptz + i * $3 * interval '1 millisecond', random() * 100
                    FROM generate_series(0, $4 - 1) AS k, generate_series(0, $5 - 1) AS i
                    """,
                    m, start, step_ms, METRICS, per_series,
                )  # fmt: skip
            await conn.execute("VACUUM ANALYZE telemetry_samples")
            print(f"  generated in {time.perf_counter() - began:.0f} s", flush=True)
    finally:
        await conn.close()


async def bare_copy() -> tuple[int, float]:
    """A bare COPY (SELECT ...) TO STDOUT of the day's rows, counted and dropped."""
    conn = await asyncpg.connect(DSN)
    try:
        start, end = bounds()
        size = 0

        async def sink(chunk: bytes) -> None:
            nonlocal size
            size += len(chunk)

        began = time.perf_counter()
        await conn.copy_from_query(
            "SELECT machine, metric, ts, value, received_at FROM telemetry_samples "
            "WHERE ts >= $1 AND ts < $2",
            start, end, output=sink,
        )  # fmt: skip
        return size, time.perf_counter() - began
    finally:
        await conn.close()


async def child_export(lake_dir: str) -> None:
    """In the child: export the day, print rows and seconds."""
    from services.analytics.lake.datasets import select_datasets
    from services.analytics.lake.export import LakeExport

    async with asyncpg.create_pool(DSN, min_size=1, max_size=2) as pool:
        export = LakeExport(
            pool,
            lake_dir=Path(lake_dir),
            zone=ZONE,
            batch_rows=int(os.environ.get("LAKE_BATCH_ROWS", "100000")),
            datasets=select_datasets(["telemetry_samples"]),
        )
        began = time.perf_counter()
        report = await export.run(first=DAY, last=DAY)
        print(report.rows["telemetry_samples"], time.perf_counter() - began)


async def export_in_child() -> tuple[int, float, float]:
    lake_dir = tempfile.mkdtemp(prefix="bench-lake-")
    try:
        conn = await asyncpg.connect(DSN)
        await conn.execute("DELETE FROM lake_manifest")
        await conn.close()
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.lake", "--child", lake_dir,
            stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, _ = await process.communicate()
        if process.returncode:
            raise RuntimeError(f"export child failed ({process.returncode})")
        rows, seconds = out.split()
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        size = sum(p.stat().st_size for p in Path(lake_dir).rglob("*.parquet"))  # noqa: ASYNC240
        print(f"  lake files: {size / 1e6:.0f} MB of Parquet (zstd)")
        return int(rows), float(seconds), peak_mb
    finally:
        shutil.rmtree(lake_dir, ignore_errors=True)


async def trigger_cost(chunk: int) -> tuple[float, float]:
    """Seconds to COPY TRIGGER_ROWS samples in statements of `chunk` rows, each in its own
    transaction (the ingestor's flush), with the marking trigger and with it disabled, each
    into an emptied partition; the fastest of REPEAT interleaved runs (the machine is shared:
    the minimum is the least disturbed)."""
    conn = await asyncpg.connect(DSN)
    day = dt.datetime(2026, 2, 1, 6, tzinfo=dt.UTC)
    records = [
        (f"MAQ{i % 100:03d}", "bench_trigger", day + dt.timedelta(milliseconds=40 * (i // 100)), float(i))
        for i in range(TRIGGER_ROWS)
    ]  # fmt: skip
    timings: dict[bool, list[float]] = {True: [], False: []}
    try:
        for _ in range(REPEAT):
            for enabled in (True, False):
                await conn.execute("TRUNCATE telemetry_samples_20260201")
                state = "ENABLE" if enabled else "DISABLE"
                await conn.execute(
                    f"ALTER TABLE telemetry_samples {state} TRIGGER lake_mark_insert"
                )
                began = time.perf_counter()
                for start in range(0, TRIGGER_ROWS, chunk):
                    async with conn.transaction():
                        await conn.copy_records_to_table(
                            "telemetry_samples",
                            records=records[start : start + chunk],
                            columns=["machine", "metric", "ts", "value"],
                        )
                timings[enabled].append(time.perf_counter() - began)
    finally:
        await conn.execute("ALTER TABLE telemetry_samples ENABLE TRIGGER lake_mark_insert")
        await conn.execute("TRUNCATE telemetry_samples_20260201")
        await conn.close()
    return min(timings[True]), min(timings[False])


async def main() -> None:
    await prepare()
    size, copy_s = await bare_copy()
    print(f"lake: bare COPY (SELECT ...) TO STDOUT of {ROWS:,} samples: {copy_s:.1f} s "
          f"({ROWS / copy_s:,.0f} rows/s, {size / 1e6:.0f} MB of text)", flush=True)  # fmt: skip
    rows, export_s, peak_mb = await export_in_child()
    ratio = (rows / export_s) / (ROWS / copy_s)
    print(f"lake: export of {rows:,} samples (one plant day) to Parquet: {export_s:.1f} s "
          f"({rows / export_s:,.0f} rows/s) = {ratio:.2f} of the bare COPY (target >= 0.5); "
          f"peak RSS {peak_mb:.0f} MB (target < 300 MB)", flush=True)  # fmt: skip
    for chunk in (TRIGGER_ROWS, 2_000):
        with_s, without_s = await trigger_cost(chunk)
        print(f"lake: marking trigger, {TRIGGER_ROWS:,} samples copied {chunk:,} per statement: "
              f"{with_s:.2f} s with, {without_s:.2f} s without "
              f"({100 * (with_s / without_s - 1):+.0f}%)", flush=True)  # fmt: skip


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        asyncio.run(child_export(sys.argv[2]))
    else:
        asyncio.run(main())

"""The lake's export: which days of which datasets to write, and writing each one.

Rules (issue 15): a closed day (before today, plant time) is written once and again only when
a dirty mark newer than its manifest row arrives (late data); today is written on every run;
a day exported while still open is written once more after it closes. A file is written
under a temporary name in its own folder, fsynced and renamed; its manifest row follows the
rename, so a run killed at any point leaves the lake and the manifest as before that file.
A file whose content did not change (same digest) is not replaced: a run with nothing new
writes nothing, and a forced one (`force`: every day of a range, closed or not, as after a
PLANT_TIMEZONE change) replaces only the files whose rows differ. Leftover temporary files of
a killed run are removed at the next run.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import json
import logging
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg
import pyarrow as pa

from services.analytics.lake import parquet, queries
from services.analytics.lake.datasets import DATASETS, Dataset
from shared.db.pools import Connection
from shared.partitions import DailyPartitions

log = logging.getLogger(__name__)

# The advisory lock the scheduled job and the CLI share (services.analytics.jobs' namespace).
JOB = "lake_export"
FILE = "part-0.parquet"

# The session the COPY's text is produced under: what the Arrow parser expects.
COPY_SESSION = (
    "SET LOCAL TimeZone = 'UTC'; SET LOCAL DateStyle = 'ISO, YMD'; "
    "SET LOCAL IntervalStyle = 'iso_8601'; SET LOCAL extra_float_digits = 1"
)


@dataclass(frozen=True)
class Task:
    """One file to (re)write: a day of a partitioned dataset, or an unpartitioned dataset."""

    dataset: Dataset
    day: dt.date | None
    closed: bool


@dataclass(frozen=True)
class Step:
    """A finished task, for progress reports."""

    task: Task
    rows: int  # rows in the file
    written: bool  # False: the file was already up to date
    done: int
    total: int


Progress = Callable[[Step], None]


@dataclass
class RunReport:
    rows: dict[str, int] = field(default_factory=dict)  # rows written, per dataset
    files: int = 0  # files replaced or created
    tasks: int = 0


def day_bounds(day: dt.date, zone: ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
    """A plant day as a UTC range [start, end)."""
    start = dt.datetime.combine(day, dt.time(), zone)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), zone)
    return start.astimezone(dt.UTC), end.astimezone(dt.UTC)


def days_between(first: dt.date, last: dt.date) -> list[dt.date]:
    return [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]


class LakeExport:
    """Exports the registry's datasets from the MES database into `lake_dir`."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        lake_dir: Path,
        zone: str,
        batch_rows: int,
        datasets: tuple[Dataset, ...] = DATASETS,
        now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.pool = pool
        self.lake_dir = lake_dir
        self.zone_name = zone
        self.zone = ZoneInfo(zone)
        self.batch_rows = batch_rows
        self.datasets = datasets
        self.now = now
        self.run_id = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"

    def today(self) -> dt.date:
        return self.now().astimezone(self.zone).date()

    async def plan(
        self, *, first: dt.date | None = None, last: dt.date | None = None, force: bool = False
    ) -> list[Task]:
        """The files this run writes, dataset by dataset, days in order. `force` (with `first`):
        every day of the range, whatever the manifest says (closed days included)."""
        if force and first is None:
            raise ValueError("force needs the first day of the range")
        today = self.today()
        last = min(last or today, today)
        tasks: list[Task] = []
        async with self.pool.acquire() as conn:
            await queries.fold_marks(conn)
            if await queries.sync_zone(conn, zone=self.zone_name):
                log.warning(
                    "lake: PLANT_TIMEZONE is now %s; days already exported keep the old zone's "
                    "bounds until exported again (export --force --from <first day>)",
                    self.zone_name,
                )
            for dataset in self.datasets:
                if not dataset.partitioned:
                    tasks.append(Task(dataset, None, True))
                    continue
                days = await self._days(
                    conn, dataset, first=first, last=last, today=today, force=force
                )
                tasks.extend(Task(dataset, day, day < today) for day in sorted(days))
        return tasks

    async def _days(self, conn: Connection, dataset: Dataset, *, first: dt.date | None,
                    last: dt.date, today: dt.date, force: bool = False) -> set[dt.date]:  # fmt: skip
        exported = await queries.manifest(conn, dataset=dataset.name)
        closed = [d for d, e in exported.items() if d is not None and e.closed]
        if first is not None:
            start = first
        elif closed:
            start = max(closed) + dt.timedelta(days=1)
        else:
            assert dataset.day_column is not None
            start = (
                await queries.first_day(
                    conn, relation=dataset.relation, column=dataset.day_column, zone=self.zone_name
                )
                or today
            )
        days = {
            d
            for d in days_between(start, last)
            if force or d not in exported or not exported[d].closed
        }
        # Exported while open, not yet since it closed.
        days |= {d for d, e in exported.items() if d is not None and not e.closed and d <= last}
        dirty = await queries.dirty_days(conn, dataset=dataset.name, sources=dataset.sources)
        days |= {d for d in dirty if d <= last and (first is None or d >= first)}
        if dataset.retained_by is not None:
            # Forced too: a day retention cut into is never rewritten from what is left.
            days -= await self._partly_dropped(conn, dataset.retained_by, days & set(exported))
        # Files the manifest lists but the lake lacks (a new LAKE_DIR, a deleted folder).
        root = self.lake_dir / dataset.name
        listed = [
            d
            for d, e in exported.items()
            if d is not None and e.rows and d <= last and (first is None or d >= first)
        ]
        days |= await asyncio.to_thread(
            lambda: {d for d in listed if not (root / f"date={d.isoformat()}" / FILE).exists()}
        )
        return days

    async def _partly_dropped(
        self, conn: Connection, parent: str, days: set[dt.date]
    ) -> set[dt.date]:
        """Days whose start is older than the oldest partition left: the lake holds more of
        them than the database (a late row at the retention edge must not shrink them)."""
        kept = await DailyPartitions(parent).existing_days(conn)
        if not kept:
            return set()
        floor = dt.datetime.combine(min(kept), dt.time(), dt.UTC)
        dropped = {d for d in days if day_bounds(d, self.zone)[0] < floor}
        if dropped:
            log.warning(
                "lake: %s: not rewriting %s, partly dropped by retention",
                parent,
                ", ".join(str(d) for d in sorted(dropped)),
            )
        return dropped

    async def run(
        self,
        *,
        first: dt.date | None = None,
        last: dt.date | None = None,
        progress: Progress | None = None,
        force: bool = False,
    ) -> RunReport:
        tasks = await self.plan(first=first, last=last, force=force)
        report = RunReport(rows={d.name: 0 for d in self.datasets}, tasks=len(tasks))
        prepared: set[str] = set()
        schemas: dict[str, tuple[list[str], pa.Schema]] = {}
        for index, task in enumerate(tasks, 1):
            name = task.dataset.name
            async with self.pool.acquire() as conn:
                if name not in prepared:
                    schemas[name] = await self._prepare(conn, task.dataset)
                    prepared.add(name)
                columns, schema = schemas[name]
                rows, written = await self.export(conn, task, columns=columns, schema=schema)
            if written:
                report.rows[name] += rows
                report.files += 1
            if progress is not None:
                progress(Step(task, rows, written, index, len(tasks)))
        return report

    async def _prepare(self, conn: Connection, dataset: Dataset) -> tuple[list[str], pa.Schema]:
        """The dataset's columns and schema; its folder cleaned of a killed run's temporary
        files; its _schema.json written when it changed."""
        root = self.lake_dir / dataset.name
        removed = await asyncio.to_thread(parquet.clean_temporaries, root)
        if removed:
            log.info("lake: removed %d temporary file(s) of an interrupted run under %s", len(removed), root)  # fmt: skip
        pg_columns = await queries.relation_columns(conn, relation=dataset.relation)
        schema = parquet.arrow_schema(pg_columns)
        document = schema_document(dataset, pg_columns, schema, zone=self.zone_name)
        await asyncio.to_thread(
            parquet.write_text_atomic, root / "_schema.json", document, run=self.run_id
        )
        return [name for name, _ in pg_columns], schema

    async def export(
        self, conn: Connection, task: Task, *, columns: list[str], schema: pa.Schema
    ) -> tuple[int, bool]:
        """Write one task's file; (rows in it, whether the file was replaced)."""
        dataset = task.dataset
        root = self.lake_dir / dataset.name
        folder = root if task.day is None else root / f"date={task.day.isoformat()}"
        final = folder / FILE
        temp = folder / f".{FILE}.tmp-{self.run_id}"
        sql = queries.select_rows(
            dataset.relation, columns, day_column=dataset.day_column, order_by=dataset.order_by
        )
        args = () if task.day is None else day_bounds(task.day, self.zone)
        previous = await queries.manifest_row(conn, dataset=dataset.name, day=task.day)
        await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
        # One snapshot for the marks and the rows: the watermark recorded is exactly what the
        # file holds (a change committed later bumps a mark past it).
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            await conn.execute(COPY_SESSION)
            watermark = (
                await queries.watermarks(conn, sources=dataset.sources, day=task.day)
                if task.day is not None
                else {}
            )
            written = await self._copy(conn, sql, args, temp, schema, dataset.day_column)
        digest, size, replaced = await asyncio.to_thread(
            parquet.settle,
            temp,
            final,
            rows=written.rows,
            previous_digest=previous.digest if previous is not None else None,
            keep=root,
        )
        unchanged = (
            previous is not None
            and not replaced
            and previous.closed == task.closed
            and previous.watermark == watermark
            and previous.rows == written.rows
        )
        if not unchanged:
            await queries.save_manifest(
                conn,
                dataset=dataset.name,
                day=task.day,
                rows=written.rows,
                size=size,
                digest=digest,
                newest=written.newest,  # type: ignore[arg-type]
                closed=task.closed,
                watermark=watermark,
            )
        return written.rows, replaced

    async def _copy(
        self,
        conn: Connection,
        sql: str,
        args: tuple[dt.datetime, ...] | tuple[()],
        temp: Path,
        schema: pa.Schema,
        day_column: str | None,
    ) -> parquet.Written:
        """Stream the query's rows through COPY into `temp`: the parser and writer run in a
        worker thread while the COPY arrives, the pipe between them bounded."""
        pipe = parquet.BlockPipe()
        feed = parquet.CopyFeed(pipe, parquet.block_bytes(self.batch_rows))
        writer = asyncio.get_running_loop().run_in_executor(
            None,
            functools.partial(
                parquet.write_parquet,
                pipe,
                temp,
                schema,
                batch_rows=self.batch_rows,
                day_column=day_column,
            ),
        )
        try:
            await conn.copy_from_query(sql, *args, output=feed, format="csv")
            await feed.end()  # the last block and the end mark: a cancel may land here too
        except BaseException:
            # First without awaiting: a cancelled export (the service stopping) must never
            # leave the writer thread waiting for a block that will not come.
            pipe.abort(RuntimeError("cópia interrompida"))
            try:
                await writer
            except Exception:
                log.debug("lake: writer stopped after the COPY failed", exc_info=True)
            await asyncio.to_thread(temp.unlink, missing_ok=True)
            raise
        try:
            return await writer
        except BaseException:
            await asyncio.to_thread(temp.unlink, missing_ok=True)
            raise


def schema_document(
    dataset: Dataset, columns: list[tuple[str, str]], schema: pa.Schema, *, zone: str
) -> str:
    """The dataset's _schema.json: what an analyst needs to read it without the database."""
    document = {
        "dataset": dataset.name,
        "description": dataset.description,
        "source": dataset.relation,
        "format": "parquet (zstd)",
        "partitioning": (
            {
                "layout": "date=YYYY-MM-DD/part-0.parquet",
                "column": "date",
                "by": dataset.day_column,
                "timezone": zone,
            }
            if dataset.partitioned
            else None
        ),
        "columns": [
            {"name": name, "type": str(field.type), "postgres_type": pg_type}
            for (name, pg_type), field in zip(columns, schema, strict=True)
        ],
    }
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"

"""Rows of a COPY ... TO STDOUT (CSV) into a Parquet file, streamed: the event loop feeds
blocks of the COPY into a bounded pipe; a worker thread parses them with Arrow's CSV reader
into record batches and writes them with ParquetWriter (zstd). Then fsync, and a rename
makes the file visible complete.

Why COPY and not a cursor of Python rows: decoding every value into a Python object and back
into Arrow costs about four times the COPY itself (measured: a server-side cursor fetching
100,000-row batches reached 0.14 of a bare COPY's rate); Arrow parses the COPY's text in C++.
Memory stays bounded the same way: at most PIPE_BLOCKS blocks wait in the pipe, the reader
holds one block, the writer one row group.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import io
import os
import queue
import re
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from shared.durable import fsync_path

# Arrow's buffers: the bundled mimalloc keeps freed blocks for reuse, so the process's peak
# grew with the day's size (18 MB more for a 1M-row day than a 200k one, 45 MB on a loaded
# machine); jemalloc gives memory back (9 MB) with the lowest peak on the 10M-sample bench
# (193 MB, against 230 MB mimalloc and 296 MB the C library's). Arrow's own switch still wins.
if "ARROW_DEFAULT_MEMORY_POOL" not in os.environ:
    try:
        pa.set_memory_pool(pa.jemalloc_memory_pool())
    except NotImplementedError:  # an Arrow build without jemalloc
        pa.set_memory_pool(pa.system_memory_pool())

PIPE_BLOCKS = 2
POLL_S = 0.2  # how often a waiting reader looks whether the export was abandoned
# Bytes of COPY text per block handed to the parser (about LAKE_BATCH_ROWS rows of a narrow table).
ROW_BYTES_GUESS = 80
MIN_BLOCK = 1 << 20
MAX_BLOCK = 32 << 20

# Temporary files start with a dot and end in .tmp-<run>: Hive, Spark and Arrow skip hidden
# files, and a `*.parquet` glob (DuckDB) does not match them.
TEMP_PATTERN = re.compile(r"^\..+\.tmp-[0-9a-z-]+$")


def arrow_type(pg_type: str) -> pa.DataType:
    """The Arrow type a PostgreSQL column is written as (format_type spelling); anything
    without a faithful Arrow type (json, uuid, interval, arrays) as its text."""
    base = pg_type.split("(")[0]
    simple: dict[str, pa.DataType] = {
        "smallint": pa.int16(),
        "integer": pa.int32(),
        "bigint": pa.int64(),
        "real": pa.float32(),
        "double precision": pa.float64(),
        "boolean": pa.bool_(),
        "date": pa.date32(),
        "timestamp with time zone": pa.timestamp("us", tz="UTC"),
        "timestamp without time zone": pa.timestamp("us"),
    }
    if pg_type in simple:
        return simple[pg_type]
    if base == "numeric":
        match = re.fullmatch(r"numeric\((\d+),(\d+)\)", pg_type)
        if match and int(match.group(1)) <= 38:
            return pa.decimal128(int(match.group(1)), int(match.group(2)))
        return pa.float64()  # unconstrained numeric: quantities, read as doubles
    return pa.string()


def arrow_schema(columns: list[tuple[str, str]]) -> pa.Schema:
    return pa.schema([pa.field(name, arrow_type(pg)) for name, pg in columns])


class BlockPipe(io.RawIOBase):
    """A read-only stream for the parser thread, fed block by block from the event loop
    (at most PIPE_BLOCKS waiting: the COPY waits for the parser, and the server for the COPY)."""

    def __init__(self) -> None:
        super().__init__()
        self._queue: queue.Queue[bytes | BaseException | None] = queue.Queue(PIPE_BLOCKS)
        self._block = memoryview(b"")
        self._ended = False
        self.reader_failed = False
        self._aborted: BaseException | None = None

    def readable(self) -> bool:
        return True

    def at_end(self) -> bool:
        """Whether the stream ended with nothing more to read (waits for the next block)."""
        self._fill()
        return not self._block

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        self._fill()
        size = min(len(buffer), len(self._block))
        buffer[:size] = self._block[:size]
        self._block = self._block[size:]
        return size

    def abort(self, error: BaseException) -> None:
        """Stop the reader from the event loop's side without waiting (a cancelled export may
        not get to await anything more): the reader raises `error` within POLL_S."""
        self._aborted = error

    def _fill(self) -> None:
        while not self._block and not self._ended:
            try:
                item = self._queue.get(timeout=POLL_S)
            except queue.Empty:
                if self._aborted is not None:
                    self._ended = True
                    raise self._aborted from None
                continue
            if item is None:
                self._ended = True
            elif isinstance(item, BaseException):
                self._ended = True
                raise item
            else:
                self._block = memoryview(item)

    def put(self, item: bytes | BaseException | None) -> None:
        """Blocking put from a worker thread; gives up once the reader has failed."""
        while not self.reader_failed:
            try:
                self._queue.put(item, timeout=0.2)
                return
            except queue.Full:
                continue


class CopyFeed:
    """The COPY's output callback: gathers its small chunks into blocks for the pipe."""

    def __init__(self, pipe: BlockPipe, block_bytes: int) -> None:
        self.pipe = pipe
        self.block_bytes = block_bytes
        self.bytes = 0
        self._chunks: list[bytes] = []
        self._size = 0

    async def __call__(self, chunk: bytes) -> None:
        if self.pipe.reader_failed:  # stop the COPY: the writer's error is raised after it
            raise RuntimeError("gravação do arquivo interrompida")
        self._chunks.append(chunk)
        self._size += len(chunk)
        if self._size >= self.block_bytes:
            await self.flush()

    async def flush(self) -> None:
        if self._chunks:
            block = b"".join(self._chunks)
            self._chunks.clear()
            self.bytes += self._size
            self._size = 0
            await asyncio.to_thread(self.pipe.put, block)

    async def end(self, error: BaseException | None = None) -> None:
        if error is None:
            await self.flush()
        await asyncio.to_thread(self.pipe.put, error)


@dataclass(frozen=True)
class Written:
    rows: int
    newest: object  # the day column's newest value (a datetime) or None


def block_bytes(batch_rows: int) -> int:
    return max(MIN_BLOCK, min(MAX_BLOCK, batch_rows * ROW_BYTES_GUESS))


def write_parquet(
    pipe: BlockPipe, path: Path, schema: pa.Schema, *, batch_rows: int, day_column: str | None
) -> Written:
    """Parse the pipe's CSV into `path` (a temporary name), fsync it; the rows written and
    the newest value of the day column. Runs in a worker thread."""
    try:
        return _write(pipe, path, schema, batch_rows=batch_rows, day_column=day_column)
    except BaseException:
        pipe.reader_failed = True
        raise


def _write(
    pipe: BlockPipe, path: Path, schema: pa.Schema, *, batch_rows: int, day_column: str | None
) -> Written:
    if pipe.at_end():  # no rows: no file (Arrow refuses an empty CSV)
        return Written(0, None)
    reader = pacsv.open_csv(
        pipe,
        read_options=pacsv.ReadOptions(
            column_names=schema.names, block_size=block_bytes(batch_rows)
        ),
        # PostgreSQL's CSV: NULL unquoted and empty, an empty string quoted ("").
        parse_options=pacsv.ParseOptions(newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(
            column_types=schema,
            null_values=[""],
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
            true_values=["t"],
            false_values=["f"],
        ),
    )
    rows = 0
    newest = None
    # Arrow writes the file itself (through a Python file object every page would be a copy).
    with pq.ParquetWriter(str(path), schema, compression="zstd") as writer:
        for batch in reader:
            if not batch.num_rows:
                continue
            writer.write_batch(batch, row_group_size=batch_rows)
            rows += batch.num_rows
            if day_column is not None:
                high = pc.max(batch.column(day_column)).as_py()
                if high is not None and (newest is None or high > newest):
                    newest = high
    fsync_path(path)
    if isinstance(newest, dt.datetime) and newest.tzinfo is None:  # a view's `*_utc` column
        newest = newest.replace(tzinfo=dt.UTC)
    return Written(rows, newest)


def file_digest(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def publish(temp: Path, final: Path) -> None:
    """Make a complete temporary file visible under its final name (atomic in one folder)."""
    os.replace(temp, final)
    fsync_path(final.parent)


def remove_published(final: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        final.unlink()
        fsync_path(final.parent)


def settle(
    temp: Path, final: Path, *, rows: int, previous_digest: str | None, keep: Path
) -> tuple[str | None, int, bool]:
    """Publish a written temporary file unless the published one has the same digest; with
    no rows, remove the published file (its rows are gone) and its empty day folder.
    (digest, bytes, whether the visible file changed)."""
    if rows == 0:
        temp.unlink(missing_ok=True)
        replaced = final.exists()
        if replaced:
            remove_published(final)
        if final.parent != keep:
            with contextlib.suppress(OSError):  # not empty
                final.parent.rmdir()
        return None, 0, replaced
    digest = file_digest(temp)
    size = temp.stat().st_size
    if digest == previous_digest and final.exists():
        temp.unlink()
        return digest, size, False
    publish(temp, final)
    return digest, size, True


def clean_temporaries(root: Path) -> list[Path]:
    """Temporary files a killed run left under a dataset's folder, removed."""
    removed = []
    if root.is_dir():
        for path in root.rglob(".*.tmp-*"):
            if TEMP_PATTERN.match(path.name):
                path.unlink(missing_ok=True)
                removed.append(path)
    return removed


def write_text_atomic(path: Path, text: str, *, run: str) -> bool:
    """Write a small file (the dataset's _schema.json) by temp + rename, only if it changed."""
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.tmp-{run}")
    with open(temp, "w", encoding="utf-8") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())
    publish(temp, path)
    return True

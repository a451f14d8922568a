"""The lake's SQL: a dataset's columns, its days and their marks, the manifest, the zone the
marking triggers use (migrations/mes/0022_lake.sql). MES database only."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from shared.db.pools import Connection

COLUMNS = """
SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type
FROM pg_attribute a
WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum
"""

SYNC_ZONE = """
UPDATE lake_settings SET plant_timezone = $1 WHERE plant_timezone IS DISTINCT FROM $1
RETURNING plant_timezone
"""

MANIFEST = """
SELECT day, rows, digest, closed, source_watermark FROM lake_manifest WHERE dataset = $1
"""
MANIFEST_ROW = """
SELECT day, rows, digest, closed, source_watermark FROM lake_manifest
WHERE dataset = $1 AND day IS NOT DISTINCT FROM $2
"""

# Days of the dataset's sources marked after the manifest's export of that day (or never
# exported): the days late data arrived for.
DIRTY_DAYS = """
SELECT DISTINCT d.day FROM lake_dirty d
WHERE d.source = ANY($2::text[])
  AND NOT EXISTS (
      SELECT 1 FROM lake_manifest m
      WHERE m.dataset = $1 AND m.day = d.day
        AND COALESCE((m.source_watermark ->> d.source)::bigint, 0) >= d.marked)
"""

# The marks of one day, read in the export's snapshot (so they match the rows it copies).
# The marks writers appended since the last fold, moved into lake_dirty with a new `marked`
# each (only the export, under its advisory lock, writes lake_dirty: no writer waits on it).
FOLD_MARKS = """
WITH moved AS (DELETE FROM lake_dirty_log RETURNING source, day)
INSERT INTO lake_dirty AS d (source, day, marked)
SELECT source, day, nextval('lake_mark_seq') FROM (SELECT DISTINCT source, day FROM moved) AS m
ORDER BY source, day
ON CONFLICT (source, day) DO UPDATE SET marked = EXCLUDED.marked
"""
WATERMARKS = "SELECT source, marked FROM lake_dirty WHERE source = ANY($1::text[]) AND day = $2"

UPSERT_MANIFEST = """
INSERT INTO lake_manifest AS m (dataset, day, rows, bytes, digest, newest, closed, source_watermark)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb)
ON CONFLICT (dataset, day) DO UPDATE SET rows = EXCLUDED.rows, bytes = EXCLUDED.bytes,
    digest = EXCLUDED.digest, newest = EXCLUDED.newest, closed = EXCLUDED.closed,
    source_watermark = EXCLUDED.source_watermark, written_at = now()
"""

NEWEST = """
SELECT dataset, max(newest) AS newest, max(written_at) AS written_at
FROM lake_manifest GROUP BY dataset
"""


@dataclass(frozen=True)
class Exported:
    """A manifest row: what the lake holds for one day (or the whole unpartitioned dataset)."""

    day: dt.date | None
    rows: int
    digest: str | None
    closed: bool
    watermark: dict[str, int]


async def relation_columns(conn: Connection, *, relation: str) -> list[tuple[str, str]]:
    """(name, PostgreSQL type as format_type spells it) of a table's or view's columns."""
    return [(r["name"], r["type"]) for r in await conn.fetch(COLUMNS, relation)]


async def sync_zone(conn: Connection, *, zone: str) -> bool:
    """Make the marking triggers place rows in days of `zone`; True when it changed."""
    return await conn.fetchval(SYNC_ZONE, zone) is not None


def _exported(row: Any) -> Exported:
    return Exported(
        row["day"], row["rows"], row["digest"], row["closed"], json.loads(row["source_watermark"])
    )


async def manifest(conn: Connection, *, dataset: str) -> dict[dt.date | None, Exported]:
    return {r["day"]: _exported(r) for r in await conn.fetch(MANIFEST, dataset)}


async def manifest_row(conn: Connection, *, dataset: str, day: dt.date | None) -> Exported | None:
    row = await conn.fetchrow(MANIFEST_ROW, dataset, day)
    return None if row is None else _exported(row)


async def dirty_days(conn: Connection, *, dataset: str, sources: tuple[str, ...]) -> set[dt.date]:
    return {r["day"] for r in await conn.fetch(DIRTY_DAYS, dataset, list(sources))}


async def fold_marks(conn: Connection) -> None:
    """Move the writers' appended marks into lake_dirty (its own transaction: committed before
    the export's snapshot reads them)."""
    await conn.execute(FOLD_MARKS)


async def watermarks(conn: Connection, *, sources: tuple[str, ...], day: dt.date) -> dict[str, int]:
    return {r["source"]: r["marked"] for r in await conn.fetch(WATERMARKS, list(sources), day)}


async def first_day(conn: Connection, *, relation: str, column: str, zone: str) -> dt.date | None:
    """The plant day of the dataset's oldest row (a scan on the first export only)."""
    value: Any = await conn.fetchval(
        f"SELECT (min({quote(column)}) AT TIME ZONE $1)::date FROM {relation}", zone
    )
    return value  # type: ignore[no-any-return]


async def save_manifest(
    conn: Connection,
    *,
    dataset: str,
    day: dt.date | None,
    rows: int,
    size: int,
    digest: str | None,
    newest: dt.datetime | None,
    closed: bool,
    watermark: dict[str, int],
) -> None:
    await conn.execute(
        UPSERT_MANIFEST, dataset, day, rows, size, digest, newest, closed, json.dumps(watermark)
    )


async def newest_exported(conn: Connection) -> dict[str, tuple[dt.datetime | None, dt.datetime]]:
    """Per dataset: its newest exported timestamp and its last write."""
    return {r["dataset"]: (r["newest"], r["written_at"]) for r in await conn.fetch(NEWEST)}


def quote(identifier: str) -> str:
    """An identifier quoted for SQL (registry names and catalog column names only)."""
    return '"' + identifier.replace('"', '""') + '"'


def select_rows(relation: str, columns: list[str], *, day_column: str | None,
                order_by: tuple[str, ...] = ()) -> str:  # fmt: skip
    """The SELECT a dataset's COPY runs: its columns, one day's range ($1, $2) when
    partitioned. `relation` comes from the registry, columns from the catalog."""
    sql = f"SELECT {', '.join(quote(c) for c in columns)} FROM {relation}"
    if day_column is not None:
        # Bounds as instants; a view's UTC timestamp compares in the COPY's session zone, UTC.
        day = quote(day_column)
        sql += f" WHERE {day} >= $1::timestamptz AND {day} < $2::timestamptz"
    if order_by:
        sql += f" ORDER BY {', '.join(quote(c) for c in order_by)}"
    return sql

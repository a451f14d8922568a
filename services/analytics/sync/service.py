"""The dimension sync: Protheus SH1, SB1, SC2, SH6 and the stop reasons (CYN, else SX5 '44')
of the plant's branch (PROTHEUS_BRANCH) mirrored into analytics_src, plus the plant's zone and
SHIFT_CALENDAR, for the analytics views.

Each table is synced in one MES transaction (services/analytics/sync/queries.py): its key set
(R_E_C_N_O_ and row hash, paged) is copied in, mirror rows missing from it are deleted, and
rows new or changed are fetched by R_E_C_N_O_ (ranges or lists, in pages) and upserted. A
failure anywhere leaves that table's mirror as it was; the job retries.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from typing import Any

import asyncpg

from services.analytics.sync import queries
from services.analytics.sync.queries import Mirror
from services.telemetry.query.shifts import parse_shift_calendar
from shared.db.pools import Connection
from shared.db.sources import Row
from shared.protheus.context import ProtheusContext
from shared.protheus.dates import dtos
from shared.settings import Settings

log = logging.getLogger(__name__)

KEY_PAGE = 20_000  # key-set rows per Protheus read
FETCH_PAGE = 500  # changed rows per Protheus read (an IN list of at most this many)
DENSE = 4  # a page spanning at most DENSE x its size in R_E_C_N_O_ is read as a range


class SyncFailed(RuntimeError):
    """Some tables could not be synced this run (the others were); the job retries."""


def _count(status: str) -> int:
    """Rows a command touched, from asyncpg's status ('DELETE 3', 'INSERT 0 5')."""
    return int(status.rsplit(" ", 1)[-1])


def shift_rows(text: str | None) -> list[tuple[int, int, int, int]]:
    """(shift, ISO weekday, start minute, end minute) per shift and weekday of SHIFT_CALENDAR
    (the shifts module's parse); no calendar means always planned: 00:00-24:00 every day."""
    shifts = parse_shift_calendar(text)
    if not shifts:
        return [(1, day + 1, 0, 24 * 60) for day in range(7)]
    return [
        (number, day + 1, shift.start, shift.end)
        for number, shift in enumerate(shifts, start=1)
        for day in sorted(shift.weekdays)
    ]


class DimensionSync:
    """One run copies the plant's settings and every mirrored table."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        protheus: ProtheusContext,
        settings: Settings,
        *,
        key_page: int = KEY_PAGE,
        fetch_page: int = FETCH_PAGE,
    ) -> None:
        self.pool = pool
        self.protheus = protheus
        self.settings = settings
        self.key_page = key_page
        self.fetch_page = fetch_page

    @property
    def branch(self) -> str:
        return self.protheus.default_branch

    async def run(self) -> dict[str, int]:
        """Sync everything; rows written (upserted + deleted) per dataset. A table that fails
        leaves its mirror as it was and does not stop the others; the run then raises
        SyncFailed."""
        await self.write_plant()
        written: dict[str, int] = {}
        reasons = await self.protheus.dictionary.stop_reason_table()
        mirrors: list[Mirror] = [
            queries.MACHINES,
            queries.PRODUCTS,
            queries.ORDERS,
            queries.APPOINTMENTS,
        ]
        if reasons == "CYN":
            mirrors.append(queries.STOP_REASONS_CYN)
        elif reasons == "SX5":
            mirrors.append(queries.STOP_REASONS_SX5)
        else:
            written["stop_reasons"] = await self.clear(queries.STOP_REASONS_CYN)
        failed: list[tuple[Mirror, Exception]] = []
        for mirror in mirrors:
            try:
                written[mirror.dataset] = await self.sync(mirror)
            except Exception as exc:  # the other tables still sync; the run fails after them
                log.warning("sync of %s (%s) failed: %s", mirror.dataset, mirror.alias, exc)
                failed.append((mirror, exc))
        if failed:
            names = ", ".join(f"{mirror.alias}" for mirror, _ in failed)
            raise SyncFailed(f"tables not synced: {names}") from failed[0][1]
        return written

    async def write_plant(self) -> None:
        """The plant's zone and shifts, as the settings say now (no Protheus needed)."""
        rows = shift_rows(self.settings.shift_calendar)
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(queries.SET_PLANT, self.settings.plant_timezone)
            await conn.execute(queries.DELETE_SHIFTS)
            await conn.execute(
                queries.INSERT_SHIFTS, *(list(column) for column in zip(*rows, strict=True))
            )

    async def clear(self, mirror: Mirror) -> int:
        async with self.pool.acquire() as conn:
            return _count(await conn.execute(queries.delete_branch(mirror), self.branch))

    async def params(self, mirror: Mirror) -> dict[str, Any]:
        """The Protheus parameters of a table's reads: its FILIAL for the branch, and what the
        order status needs (the SH6 and SD3 FILIALs, the plant's date)."""
        params: dict[str, Any] = {"filial": await self.protheus.filial(mirror.alias)}
        if mirror.activity:
            params["sh6_filial"] = await self.protheus.filial("SH6")
            params["sd3_filial"] = await self.protheus.filial("SD3")
            params["today"] = dtos(dt.datetime.now(self.settings.tz).date())
        if mirror.source == "SX5":
            params.update(queries.SX5_PARAMS)
        return params

    async def sync(self, mirror: Mirror) -> int:
        """One table, in one transaction: deletions, then new and changed rows."""
        params = await self.params(mirror)
        columns = mirror.staging_columns(self.protheus.dialect)
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(queries.CREATE_KEYS)
            await conn.execute(queries.create_staging(columns))
            written = 0
            if mirror.source is not None:
                other = queries.delete_other_source(mirror)
                written += _count(await conn.execute(other, self.branch, mirror.source))
            await self.copy_keys(conn, mirror, params)
            written += _count(await conn.execute(queries.delete_missing(mirror), self.branch))
            after = 0
            while True:
                page = await conn.fetch(queries.changed_page(mirror), after, self.fetch_page)
                if not page:
                    break
                recnos = [row["recno"] for row in page]
                rows = await self.fetch_rows(mirror, params, recnos)
                if rows:
                    records = [self.record(mirror, row, columns) for row in rows]
                    await conn.copy_records_to_table(
                        "sync_rows", records=records, columns=("recno", "row_hash", *columns)
                    )
                    zone = (self.settings.plant_timezone,) if mirror.zoned else ()
                    status = await conn.execute(queries.upsert(mirror), self.branch, *zone)
                    written += _count(status)
                    await conn.execute(queries.TRUNCATE_STAGING)
                after = recnos[-1]
        log.info("synced %s (%s): %d rows written", mirror.dataset, mirror.alias, written)
        return written

    async def copy_keys(self, conn: Connection, mirror: Mirror, params: dict[str, Any]) -> None:
        """The table's key set, a page at a time, into sync_keys."""
        sql = queries.key_page_sql(self.protheus.dialect, self.protheus.tables, mirror)
        after = 0
        while True:
            page = await self.protheus.source.fetch(
                sql, {**params, "after": after, "limit": self.key_page}
            )
            if not page:
                return
            await conn.copy_records_to_table(
                "sync_keys",
                records=[(int(r["recno"]), str(r["row_hash"])) for r in page],
                columns=("recno", "row_hash"),
            )
            if len(page) < self.key_page:
                return
            after = int(page[-1]["recno"])

    async def fetch_rows(
        self, mirror: Mirror, params: dict[str, Any], recnos: Sequence[int]
    ) -> list[Row]:
        """The live rows with these R_E_C_N_O_ (sorted): one range read when they are dense
        (the first sync, a burst of new rows), else one list read."""
        dialect, tables = self.protheus.dialect, self.protheus.tables
        low, high = recnos[0], recnos[-1]
        if high - low + 1 <= DENSE * len(recnos):
            sql = queries.rows_in_range_sql(dialect, tables, mirror)
            rows = await self.protheus.source.fetch(sql, {**params, "low": low, "high": high})
            wanted = set(recnos)
            return [row for row in rows if int(row["recno"]) in wanted]
        sql = queries.rows_in_list_sql(dialect, tables, mirror, len(recnos))
        listed = {f"r{i}": recno for i, recno in enumerate(recnos)}
        return await self.protheus.source.fetch(sql, {**params, **listed})

    @staticmethod
    def record(mirror: Mirror, row: Row, columns: tuple[str, ...]) -> tuple[object, ...]:
        """A fetched row as the staging table takes it: recno, hash, then text values."""
        derived = {name: compute(row) for name, compute in mirror.derived}
        values = [derived[name] if name in derived else row[name] for name in columns]
        return (
            int(row["recno"]),
            str(row["row_hash"]),
            *(None if value is None else str(value) for value in values),
        )

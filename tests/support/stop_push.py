"""Stop delivery test support: crafted stops queued for the pusher, and what SH6 and the MES
database hold of them afterwards."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

import asyncpg

from services.production.stops import queries as stop_queries

STOP_COLUMNS = (
    "id", "machine", "branch", "state", "plc_reason", "start_at", "end_at", "reason_code",
    "classified_by", "operator", "note", "status",
)  # fmt: skip


def stop_row(
    machine: str,
    start_at: dt.datetime,
    end_at: dt.datetime,
    *,
    reason: str,
    branch: str = "01",
    operator: str | None = "OP0001",
    note: str | None = None,
) -> tuple[Any, ...]:
    """A closed stop classified by the mapping, pending (not yet queued)."""
    return (
        uuid.uuid4(), machine, branch, "stopped", "P1", start_at, end_at, reason, "mapping",
        operator, note, "pending",
    )  # fmt: skip


async def queue_stops(conn: asyncpg.Connection, rows: list[tuple[Any, ...]]) -> list[uuid.UUID]:
    """Store pending stops and queue them, in one transaction, as the detector does."""
    ids = [row[0] for row in rows]
    async with conn.transaction():
        await conn.copy_records_to_table("stops", records=rows, columns=STOP_COLUMNS)
        await stop_queries.enqueue(conn, stop_ids=ids)
    return ids


def consecutive(
    machine: str,
    count: int,
    *,
    reason: str,
    start: dt.datetime,
    length_s: float = 225.0,
    gap_s: float = 15.0,
    **fields: Any,
) -> list[tuple[Any, ...]]:
    """`count` stops of one machine in a row, with seconds that round onto the same minute at
    their meeting points (e.g. one ends 10:05:10, the next starts 10:05:25)."""
    rows = []
    at = start
    for _ in range(count):
        end = at + dt.timedelta(seconds=length_s)
        rows.append(stop_row(machine, at, end, reason=reason, **fields))
        at = end + dt.timedelta(seconds=gap_s)
    return rows


async def stop_statuses(mes_dsn: str) -> dict[uuid.UUID, asyncpg.Record]:
    conn = await asyncpg.connect(mes_dsn)
    try:
        rows = await conn.fetch(
            "SELECT id, status, attempts, id_appointment, error, pushed_start, pushed_end,"
            " start_at, end_at, machine FROM stops"
        )
    finally:
        await conn.close()
    return {r["id"]: r for r in rows}


async def stop_history(mes_dsn: str, stop_id: uuid.UUID) -> list[str]:
    conn = await asyncpg.connect(mes_dsn)
    try:
        rows = await conn.fetch(
            "SELECT outcome FROM stop_attempts WHERE stop_id = $1 ORDER BY attempt", stop_id
        )
    finally:
        await conn.close()
    return [r["outcome"] for r in rows]


def stops_final(mes_dsn: str, expected: int) -> Callable[[], Any]:
    async def check() -> bool:
        got = await stop_statuses(mes_dsn)
        return len(got) == expected and all(
            r["status"] in ("delivered", "rejected", "reversed") for r in got.values()
        )

    return check


async def stop_rows_in_sh6(protheus_dsn: str) -> dict[uuid.UUID, list[asyncpg.Record]]:
    """SH6 stop rows (H6_TIPO 'I') carrying a MES marker, by stop id, deleted ones too."""
    conn = await asyncpg.connect(protheus_dsn)
    try:
        rows = await conn.fetch(
            "SELECT h6_filial, rtrim(h6_ident) AS h6_ident, rtrim(h6_recurso) AS h6_recurso,"
            " rtrim(h6_motivo) AS h6_motivo, h6_dataini, h6_horaini, h6_datafin, h6_horafin,"
            " rtrim(h6_observa) AS h6_observa, h6_tipo, d_e_l_e_t_"
            " FROM sh6010 WHERE h6_tipo = 'I' AND upper(h6_observa) LIKE 'MES:%'"
        )
    finally:
        await conn.close()
    found: dict[uuid.UUID, list[asyncpg.Record]] = {}
    for r in rows:
        found.setdefault(uuid.UUID(r["h6_observa"][4:40]), []).append(r)
    return found


async def machines(protheus_dsn: str, count: int, *, branch: str = "01") -> list[str]:
    """Machines SH1 knows in a branch (MATA682 refuses others)."""
    conn = await asyncpg.connect(protheus_dsn)
    try:
        rows = await conn.fetch(
            "SELECT DISTINCT rtrim(h1_codigo) AS code FROM sh1010"
            " WHERE h1_filial IN ($1, '') AND d_e_l_e_t_ = ' ' ORDER BY 1 LIMIT $2",
            branch,
            count,
        )
    finally:
        await conn.close()
    assert len(rows) == count, rows
    return [r["code"] for r in rows]


def recent(hours: float = 6.0) -> dt.datetime:
    """A start some hours ago on a whole minute plus 25 s (consecutive stops from it meet at
    10 s and 25 s past a minute), long after the demo's past stops."""
    at = dt.datetime.now(dt.UTC) - dt.timedelta(hours=hours)
    return at.replace(second=25, microsecond=0)

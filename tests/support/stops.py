"""Stop test support: crafted rows of the MES `stops` table (and their attempts and outbox
rows) with keyword overrides, as detection and the pusher would leave them."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import asyncpg

DEFAULTS: dict[str, Any] = {
    "machine": "M1",
    "branch": "01",
    "state": "stopped",
    "plc_reason": None,
    "end_at": None,
    "reason_code": None,
    "classified_by": None,
    "operator": None,
    "note": None,
    "manual": False,
    "attempts": 0,
    "next_attempt_at": None,
    "pushed_start": None,
    "pushed_end": None,
    "id_appointment": None,
    "error": None,
}


def status_of(row: dict[str, Any]) -> str:
    """The status detection gives a stop: open while it has no end, else pending when it has a
    reason, else unclassified."""
    if row["end_at"] is None:
        return "open"
    return "pending" if row["reason_code"] else "unclassified"


async def insert_stop(
    conn: asyncpg.Connection, *, start_at: dt.datetime, **overrides: Any
) -> uuid.UUID:
    """One stops row (defaults above; `status` from status_of unless given); its id."""
    row = {**DEFAULTS, "id": uuid.uuid4(), "start_at": start_at, **overrides}
    row.setdefault("status", status_of(row))
    columns = list(row)
    await conn.execute(
        f"INSERT INTO stops ({', '.join(columns)}) "
        f"VALUES ({', '.join(f'${n}' for n in range(1, len(columns) + 1))})",
        *row.values(),
    )
    return row["id"]


async def queue_stop(
    conn: asyncpg.Connection,
    stop_id: uuid.UUID,
    *,
    leased_until: dt.datetime | None = None,
    unknown_since: dt.datetime | None = None,
) -> None:
    """The stop's outbox row, as the pusher leaves it (leased, or after an unknown outcome)."""
    await conn.execute(
        """INSERT INTO stop_outbox (stop_id, machine, start_at, leased_until, leased_by,
                                    unknown_since)
           SELECT id, machine, start_at, $2::timestamptz,
                  CASE WHEN $2::timestamptz IS NULL THEN NULL ELSE 'p1' END, $3::timestamptz
           FROM stops WHERE id = $1""",
        stop_id,
        leased_until,
        unknown_since,
    )


async def outbox(conn: asyncpg.Connection) -> set[uuid.UUID]:
    """The stops queued for delivery."""
    return {r["stop_id"] for r in await conn.fetch("SELECT stop_id FROM stop_outbox")}

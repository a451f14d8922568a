"""The anomaly listings: one page of anomaly_events with their filters."""

from __future__ import annotations

from typing import Any

import asyncpg
import orjson

from services.analytics.anomalies import queries
from shared.db.pools import mes_connection
from shared.errors import NotFound
from shared.pagination import Page, split_page


def stored_event(row: Any) -> dict[str, Any]:
    event = dict(row)
    event["status"] = "open" if event["ended_at"] is None else "closed"
    detail = event.get("detail")
    event["detail"] = orjson.loads(detail) if isinstance(detail, str) else (detail or {})
    return event


async def listing(
    pool: asyncpg.Pool,
    *,
    page: Page,
    where: queries.AnomalyFilter,
    line: str | None,
    check_machine: bool = False,
) -> dict[str, Any]:
    """One page of events, newest start first, the filters combined with AND; with
    `check_machine`, an unknown machine is 404."""
    async with mes_connection(pool) as conn:
        known = not check_machine or where.machine is None
        if not known and not await queries.machine_known(conn, machine=str(where.machine)):
            raise NotFound(f"Máquina {where.machine} não encontrada.")
        rows = await queries.list_events(conn, where=where, limit=page.size, offset=page.offset)
    found = split_page(rows, "id")
    filters = {
        "machine": where.machine,
        "line": line,
        "kind": where.kind,
        "status": where.status,
        "from": where.start.isoformat() if where.start else None,
        "to": where.end.isoformat() if where.end else None,
    }
    return page.envelope(found.total, [stored_event(r) for r in found.rows], filters=filters)

"""Reports the MES accepted that are not in Protheus yet, for an order's detail view."""

from __future__ import annotations

from typing import Any

from services.production.reports import queries
from shared.db.pools import Connection


async def pending_for_order(
    conn: Connection, *, branch: str, order_key: str
) -> list[dict[str, Any]]:
    """Undelivered reports of one order (key trimmed, 11 or 14 characters as stored by the MES),
    as rows: the order schemas' PendingReport renames and formats them."""
    return [
        dict(row)
        for row in await queries.pending_for_order(conn, branch=branch, order_key=order_key)
    ]

"""Reports the MES accepted that are not in Protheus yet, for an order's detail view."""

from __future__ import annotations

from typing import Any

import asyncpg

from services.production.reports import queries


async def pending_for_order(
    conn: asyncpg.Connection, *, branch: str, order_key: str
) -> list[dict[str, Any]]:
    """Undelivered reports of one order (key trimmed, 11 or 14 characters as stored by the MES)."""
    rows = await queries.pending_for_order(conn, branch=branch, order_key=order_key)
    return [
        {
            "id": str(r["id"]),
            "operation": r["operation"],
            "machine": r["machine"],
            "operator": r["operator"],
            "start": r["start_at"].isoformat(),
            "end": r["end_at"].isoformat(),
            "goodQuantity": float(r["good_quantity"]),
            "scrapQuantity": float(r["scrap_quantity"]),
            "final": r["final"],
            "status": r["status"],
            "attempts": r["attempts"],
            "nextAttemptAt": r["next_attempt_at"].isoformat() if r["next_attempt_at"] else None,
            "createdAt": r["created_at"].isoformat(),
        }
        for r in rows
    ]

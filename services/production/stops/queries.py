"""MES SQL of machine stops: the connection first, every value by name."""

from __future__ import annotations

import uuid

from shared.db.pools import Connection

# A classified, closed stop enters the outbox once (a second enqueue of a queued stop is a
# no-op); the pusher takes stops of one machine in start order.
ENQUEUE = """
INSERT INTO stop_outbox (stop_id, machine, start_at)
SELECT id, machine, start_at FROM stops WHERE id = ANY($1::uuid[]) AND status = 'pending'
ON CONFLICT (stop_id) DO NOTHING
"""


async def enqueue(conn: Connection, *, stop_ids: list[uuid.UUID]) -> None:
    """Queue these stops for delivery (those in status `pending`; others are left alone)."""
    await conn.execute(ENQUEUE, stop_ids)

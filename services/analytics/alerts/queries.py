"""SQL of the alert publisher (alert_outbox, migration 0026): the unpublished alerts in id order
with their machine's site/area/line (telemetry `machines`), and marking them published."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from shared.db.pools import Connection

# NOTIFY on this channel after inserting alerts (in the writer's transaction: delivered at
# commit) wakes the publisher at once; without it the publisher polls ANALYTICS_ALERT_POLL_S.
CHANNEL = "alert_outbox"

NOTIFY = "SELECT pg_notify($1, '')"


async def notify_publisher(conn: Connection) -> None:
    """Wake the publisher when the caller's transaction commits."""
    await conn.execute(NOTIFY, CHANNEL)


# The second key of the publisher's transaction-level advisory lock (the first is the
# analytics jobs' namespace): one replica publishes at a time, so alerts leave in id order.
LOCK = "SELECT pg_try_advisory_xact_lock(20015, hashtext('alert_publisher'))"


async def try_lock(conn: Connection) -> bool:
    return bool(await conn.fetchval(LOCK))


UNPUBLISHED = """
SELECT o.id, o.machine, o.payload || jsonb_build_object('alertId', o.id) AS payload,
       COALESCE(m.site, 'unknown') AS site, COALESCE(m.area, 'unknown') AS area,
       COALESCE(m.line, 'unknown') AS line
FROM alert_outbox o LEFT JOIN machines m ON m.machine = o.machine
WHERE o.published_at IS NULL
ORDER BY o.id LIMIT $1
"""
"""The oldest unpublished alerts (the partial index alert_outbox_unpublished), each payload with
its outbox id as `alertId` (consumers drop a repeat: QoS 1 is at least once)."""


async def unpublished(conn: Connection, *, limit: int) -> list[asyncpg.Record]:
    return await conn.fetch(UNPUBLISHED, limit)


MARK_PUBLISHED = """
UPDATE alert_outbox SET published_at = now() WHERE id = ANY($1::bigint[])
"""


async def mark_published(conn: Connection, *, ids: Sequence[int]) -> None:
    if ids:
        await conn.execute(MARK_PUBLISHED, list(ids))

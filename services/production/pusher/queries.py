"""MES SQL of the report pusher: claiming the outbox, recording attempts and outcomes."""

from __future__ import annotations

import datetime as dt
import uuid

import asyncpg

from shared.db.pools import Connection

# Rows whose time has come and whose lease (if any) ran out, skipping rows another pusher
# holds. Only the head of each branch, order and operation may go (reports of one operation
# reach Protheus in the order accepted; a rejected report has left the outbox and holds
# nothing back, a retrying one stays the head and holds back the rest): the claim walks
# report_outbox_heads in acceptance order, one row per key, so its cost follows the batch
# and the number of keys, never the depth of the backlog (migration 0003 keeps the heads).
# The reports come back with the claim (no second read per report; while leased, only the
# lease holder changes them).
CLAIM = """
WITH claim AS (
    SELECT o.report_id
    FROM report_outbox_heads h
    JOIN report_outbox o ON o.report_id = h.report_id
    WHERE o.available_at <= now()
      AND (o.leased_until IS NULL OR o.leased_until < now())
    ORDER BY h.seq
    LIMIT $1
    FOR UPDATE OF o SKIP LOCKED
)
UPDATE report_outbox o
SET leased_until = now() + make_interval(secs => $2), leased_by = $3
FROM claim JOIN production_reports r ON r.id = claim.report_id
WHERE o.report_id = claim.report_id
RETURNING r.*, o.report_id, o.unknown_since, now() AS now
"""


REPORT = """
SELECT r.*, o.unknown_since FROM production_reports r
JOIN report_outbox o ON o.report_id = r.id WHERE r.id = $1
"""

# Before the request leaves: only while this pusher still holds the lease (a slower one
# whose lease ran out must not send what another has claimed), the lease is extended for
# the call, the attempt recorded and its outcome presumed unknown, so a pusher killed
# mid-call leaves a report the next one checks in SH6 before resending.
START_ATTEMPT = """
WITH o AS (
    UPDATE report_outbox SET unknown_since = now(), leased_until = now() + make_interval(secs => $3)
    WHERE report_id = $1 AND leased_by = $2 AND leased_until > now()
    RETURNING report_id
), r AS (
    UPDATE production_reports SET status = 'sending', attempts = attempts + 1, updated_at = now()
    WHERE id = (SELECT report_id FROM o) RETURNING attempts, request_id
)
INSERT INTO report_attempts (report_id, attempt, request_id)
SELECT $1, attempts, request_id FROM r RETURNING attempt
"""

FINISH_ATTEMPT = """
UPDATE report_attempts SET finished_at = now(), outcome = $3, http_status = $4, message = $5
WHERE report_id = $1 AND attempt = $2
"""

RECORD_CHECK = """
INSERT INTO report_attempts (report_id, attempt, finished_at, outcome, message, request_id)
SELECT $1, attempts, now(), $2, $3, request_id FROM production_reports WHERE id = $1
ON CONFLICT (report_id, attempt) DO UPDATE SET outcome = EXCLUDED.outcome, message = EXCLUDED.message,
    finished_at = EXCLUDED.finished_at
"""

# Final states: the report leaves the outbox in the same statement, only by the lease holder.
FINISH = """
WITH o AS (DELETE FROM report_outbox WHERE report_id = $1 AND leased_by = $5 RETURNING report_id)
UPDATE production_reports
SET status = $2, id_appointment = $3, error = $4, next_attempt_at = NULL, updated_at = now()
WHERE id = (SELECT report_id FROM o)
"""

RETRY = """
WITH o AS (
    UPDATE report_outbox
    SET available_at = $2, leased_until = NULL, leased_by = NULL,
        unknown_since = CASE WHEN $3 THEN unknown_since ELSE NULL END
    WHERE report_id = $1 AND leased_by = $4
    RETURNING report_id
)
UPDATE production_reports SET status = 'retrying', next_attempt_at = $2, updated_at = now()
WHERE id = (SELECT report_id FROM o)
"""

# Not yet time to look for the marker: give the row back without counting an attempt.
POSTPONE = """
UPDATE report_outbox SET available_at = $2, leased_until = NULL, leased_by = NULL
WHERE report_id = $1 AND leased_by = $3
"""

SAVE_ORDER_DATA = "UPDATE production_reports SET item_code = $2, warehouse = $3 WHERE id = $1"

# From the heads (one row per key), not the whole backlog: the depth is kept per key, and the
# oldest report waiting is a head (the earliest of its key).
OUTBOX_STATS = """
SELECT COALESCE(sum(h.depth), 0) AS depth, EXTRACT(EPOCH FROM now() - min(r.created_at)) AS oldest_s
FROM report_outbox_heads h JOIN production_reports r ON r.id = h.report_id
"""


# --- query functions: the connection first, every value by name -----------------------------


async def claim(
    conn: Connection, *, batch: int, lease_s: float, pusher: str
) -> list[asyncpg.Record]:
    """Lease up to `batch` heads of the outbox to `pusher`; the reports come back with them."""
    return await conn.fetch(CLAIM, batch, lease_s, pusher)


async def report(conn: Connection, *, report_id: uuid.UUID) -> asyncpg.Record | None:
    """A report still in the outbox, as the claim returns it (with `unknown_since`)."""
    return await conn.fetchrow(REPORT, report_id)


async def start_attempt(
    conn: Connection, *, report_id: uuid.UUID, pusher: str, lease_s: float
) -> int | None:
    """The number of the attempt about to leave, or None when `pusher` lost the lease."""
    attempt: int | None = await conn.fetchval(START_ATTEMPT, report_id, pusher, lease_s)
    return attempt


async def finish_attempt(
    conn: Connection,
    *,
    report_id: uuid.UUID,
    attempt: int,
    outcome: str,
    http_status: int | None,
    message: str | None,
) -> None:
    await conn.execute(FINISH_ATTEMPT, report_id, attempt, outcome, http_status, message)


async def record_check(
    conn: Connection, *, report_id: uuid.UUID, outcome: str, message: str
) -> None:
    """What looking for the marker in SH6 found, as the outcome of the report's last attempt."""
    await conn.execute(RECORD_CHECK, report_id, outcome, message)


async def finish(
    conn: Connection,
    *,
    report_id: uuid.UUID,
    status: str,
    id_appointment: str | None,
    error: str | None,
    pusher: str,
) -> None:
    await conn.execute(FINISH, report_id, status, id_appointment, error, pusher)


async def retry(
    conn: Connection,
    *,
    report_id: uuid.UUID,
    available_at: dt.datetime,
    keep_unknown: bool,
    pusher: str,
) -> None:
    await conn.execute(RETRY, report_id, available_at, keep_unknown, pusher)


async def postpone(
    conn: Connection, *, report_id: uuid.UUID, available_at: dt.datetime, pusher: str
) -> None:
    await conn.execute(POSTPONE, report_id, available_at, pusher)


async def save_order_data(
    conn: Connection, *, report_id: uuid.UUID, item_code: str, warehouse: str
) -> None:
    await conn.execute(SAVE_ORDER_DATA, report_id, item_code, warehouse)


async def outbox_stats(conn: Connection) -> asyncpg.Record:
    """`depth` and `oldest_s` (NULL when the outbox is empty)."""
    row = await conn.fetchrow(OUTBOX_STATS)
    assert row is not None  # an aggregate without GROUP BY answers one row
    return row

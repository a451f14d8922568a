"""MES SQL of the pusher: claiming an outbox, recording attempts and outcomes, for each kind of
document (production reports, stops).

Both outboxes follow one protocol (lease, attempt presumed unknown, final states leaving
the outbox, retry, postpone), so each kind is an `Outbox` of SQL texts with the same
parameters, and one set of query functions runs either. The stops' outbox SQL lives here,
beside the reports', rather than in stops/queries.py: it is the pusher's protocol, and a
change to it (a lease rule, a column of the attempt) must be made to both kinds at once.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

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

# After a call, its attempt's outcome and the report's next state in one statement (one
# commit per call, not two): the attempt row is written whoever holds the lease now ($6..$9:
# attempt, outcome, HTTP status, message; a pusher killed in between leaves the attempt
# `started` and its outcome unknown, which the marker check settles).
FINISH_AFTER_ATTEMPT = """
WITH a AS (
    UPDATE report_attempts SET finished_at = now(), outcome = $7, http_status = $8, message = $9
    WHERE report_id = $1 AND attempt = $6
), o AS (DELETE FROM report_outbox WHERE report_id = $1 AND leased_by = $5 RETURNING report_id)
UPDATE production_reports
SET status = $2, id_appointment = $3, error = $4, next_attempt_at = NULL, updated_at = now()
WHERE id = (SELECT report_id FROM o)
"""

RETRY_AFTER_ATTEMPT = """
WITH a AS (
    UPDATE report_attempts SET finished_at = now(), outcome = $6, http_status = $7, message = $8
    WHERE report_id = $1 AND attempt = $5
), o AS (
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


# --- stops: the same protocol on stop_outbox, stops and stop_attempts -----------------------

# The heads are the earliest queued stop of each machine (stops of one machine reach Protheus
# in start order; a retrying head holds back the rest, a rejected one has left the outbox).
# No heads table: the machines with queued stops are walked by a loose index scan of
# stop_outbox (machine, start_at), one index probe per machine, so the claim costs the number
# of machines with stops waiting, never the depth of the backlog. A head leased by another
# pusher, or not yet due, holds its machine back for this round.
CLAIM_STOPS = """
WITH RECURSIVE machines AS (
    (SELECT machine FROM stop_outbox ORDER BY machine LIMIT 1)
    UNION ALL
    SELECT (SELECT o.machine FROM stop_outbox o WHERE o.machine > m.machine
            ORDER BY o.machine LIMIT 1)
    FROM machines m WHERE m.machine IS NOT NULL
), heads AS (
    SELECT h.stop_id FROM machines m
    CROSS JOIN LATERAL (
        SELECT o.stop_id FROM stop_outbox o WHERE o.machine = m.machine
        ORDER BY o.start_at LIMIT 1
    ) h
    WHERE m.machine IS NOT NULL
), claim AS (
    SELECT o.stop_id
    FROM heads h JOIN stop_outbox o ON o.stop_id = h.stop_id
    WHERE o.available_at <= now()
      AND (o.leased_until IS NULL OR o.leased_until < now())
    ORDER BY o.start_at
    LIMIT $1
    FOR UPDATE OF o SKIP LOCKED
)
UPDATE stop_outbox o
SET leased_until = now() + make_interval(secs => $2), leased_by = $3
FROM claim JOIN stops s ON s.id = claim.stop_id
WHERE o.stop_id = claim.stop_id
RETURNING s.*, o.stop_id, o.unknown_since, now() AS now
"""

STOP = """
SELECT s.*, o.unknown_since FROM stops s
JOIN stop_outbox o ON o.stop_id = s.id WHERE s.id = $1
"""

# As for reports, and more: a queued stop that was never sent may still change (the detector
# rebuilds a pending stop it computed, a person reclassifies or splits one), so the attempt
# starts only if the stop still has the bounds, reason, operator and note the payload was
# built from ($6..$12); otherwise nothing is recorded, and the caller gives the row back to
# be claimed again as it is now. The bounds sent (in whole minutes) are kept with the attempt.
START_STOP_ATTEMPT = """
WITH lease AS (
    SELECT stop_id FROM stop_outbox
    WHERE stop_id = $1 AND leased_by = $2 AND leased_until > now()
    FOR UPDATE
), s AS (
    UPDATE stops SET status = 'sending', attempts = attempts + 1, pushed_start = $4,
        pushed_end = $5, updated_at = now()
    WHERE id = (SELECT stop_id FROM lease) AND status IN ('pending', 'sending', 'retrying')
      AND (machine, branch, start_at, end_at, reason_code, operator, note)
          IS NOT DISTINCT FROM ($6::text, $7::text, $8::timestamptz, $9::timestamptz, $10::text,
                                $11::text, $12::text)
    RETURNING id, attempts
), o AS (
    UPDATE stop_outbox SET unknown_since = now(), leased_until = now() + make_interval(secs => $3)
    WHERE stop_id = (SELECT id FROM s)
)
INSERT INTO stop_attempts (stop_id, attempt) SELECT id, attempts FROM s RETURNING attempt
"""


RECORD_STOP_CHECK = """
INSERT INTO stop_attempts (stop_id, attempt, finished_at, outcome, message)
SELECT $1, attempts, now(), $2, $3 FROM stops WHERE id = $1
ON CONFLICT (stop_id, attempt) DO UPDATE SET outcome = EXCLUDED.outcome, message = EXCLUDED.message,
    finished_at = EXCLUDED.finished_at
"""

FINISH_STOP = """
WITH o AS (DELETE FROM stop_outbox WHERE stop_id = $1 AND leased_by = $5 RETURNING stop_id)
UPDATE stops
SET status = $2, id_appointment = $3, error = $4, next_attempt_at = NULL, updated_at = now()
WHERE id = (SELECT stop_id FROM o)
"""

RETRY_STOP = """
WITH o AS (
    UPDATE stop_outbox
    SET available_at = $2, leased_until = NULL, leased_by = NULL,
        unknown_since = CASE WHEN $3 THEN unknown_since ELSE NULL END
    WHERE stop_id = $1 AND leased_by = $4
    RETURNING stop_id
)
UPDATE stops SET status = 'retrying', next_attempt_at = $2, updated_at = now()
WHERE id = (SELECT stop_id FROM o)
"""

FINISH_STOP_AFTER_ATTEMPT = """
WITH a AS (
    UPDATE stop_attempts SET finished_at = now(), outcome = $7, http_status = $8, message = $9
    WHERE stop_id = $1 AND attempt = $6
), o AS (DELETE FROM stop_outbox WHERE stop_id = $1 AND leased_by = $5 RETURNING stop_id)
UPDATE stops
SET status = $2, id_appointment = $3, error = $4, next_attempt_at = NULL, updated_at = now()
WHERE id = (SELECT stop_id FROM o)
"""

RETRY_STOP_AFTER_ATTEMPT = """
WITH a AS (
    UPDATE stop_attempts SET finished_at = now(), outcome = $6, http_status = $7, message = $8
    WHERE stop_id = $1 AND attempt = $5
), o AS (
    UPDATE stop_outbox
    SET available_at = $2, leased_until = NULL, leased_by = NULL,
        unknown_since = CASE WHEN $3 THEN unknown_since ELSE NULL END
    WHERE stop_id = $1 AND leased_by = $4
    RETURNING stop_id
)
UPDATE stops SET status = 'retrying', next_attempt_at = $2, updated_at = now()
WHERE id = (SELECT stop_id FROM o)
"""

POSTPONE_STOP = """
UPDATE stop_outbox SET available_at = $2, leased_until = NULL, leased_by = NULL
WHERE stop_id = $1 AND leased_by = $3
"""

# The whole outbox: stops wait in thousands at most (a plant's stops of an ERP outage), not
# in the reports' millions, so a count is cheap enough for a gauge.
STOP_OUTBOX_STATS = """
SELECT count(*) AS depth, EXTRACT(EPOCH FROM now() - min(s.created_at)) AS oldest_s
FROM stop_outbox o JOIN stops s ON s.id = o.stop_id
"""


def attempt_history(attempts: str, owner: str) -> str:
    """The `history` column of one document: its attempts (`attempts` table, the rows where
    `owner` holds, alias `a`) as the API lists them, oldest first (pusher/schemas.py)."""
    return f"""COALESCE((SELECT json_agg(json_build_object(
             'attempt', a.attempt, 'startedAt', a.started_at, 'finishedAt', a.finished_at,
             'outcome', a.outcome, 'httpStatus', a.http_status, 'message', a.message,
             'requestId', a.request_id)
             ORDER BY a.attempt)
          FROM {attempts} a WHERE {owner}), '[]') AS history"""


@dataclass(frozen=True)
class Outbox:
    """One kind's outbox SQL: the same statements with the same parameters for every kind,
    except `start_attempt`, whose parameters after the first three are the kind's own."""

    claim: str  # $1 batch, $2 lease seconds, $3 pusher; the documents with `unknown_since`
    document: str  # $1 id: one queued document, as the claim returns it
    start_attempt: str  # $1 id, $2 pusher, $3 lease seconds, then the kind's: the attempt
    record_check: str  # $1 id, $2 outcome, $3 message
    finish: str  # $1 id, $2 status, $3 id_appointment, $4 error, $5 pusher
    retry: str  # $1 id, $2 available at, $3 keep unknown, $4 pusher
    # The same, the call's attempt recorded in the statement: then attempt, outcome, HTTP
    # status, message.
    finish_after_attempt: str
    retry_after_attempt: str
    postpone: str  # $1 id, $2 available at, $3 pusher
    stats: str  # depth, oldest_s


REPORTS = Outbox(
    claim=CLAIM,
    document=REPORT,
    start_attempt=START_ATTEMPT,
    record_check=RECORD_CHECK,
    finish=FINISH,
    retry=RETRY,
    finish_after_attempt=FINISH_AFTER_ATTEMPT,
    retry_after_attempt=RETRY_AFTER_ATTEMPT,
    postpone=POSTPONE,
    stats=OUTBOX_STATS,
)

STOPS = Outbox(
    claim=CLAIM_STOPS,
    document=STOP,
    start_attempt=START_STOP_ATTEMPT,
    record_check=RECORD_STOP_CHECK,
    finish=FINISH_STOP,
    retry=RETRY_STOP,
    finish_after_attempt=FINISH_STOP_AFTER_ATTEMPT,
    retry_after_attempt=RETRY_STOP_AFTER_ATTEMPT,
    postpone=POSTPONE_STOP,
    stats=STOP_OUTBOX_STATS,
)


# --- query functions: the connection first, every value by name; reports by default ----------


async def claim(
    conn: Connection, *, batch: int, lease_s: float, pusher: str, outbox: Outbox = REPORTS
) -> list[asyncpg.Record]:
    """Lease up to `batch` heads of the outbox to `pusher`; the documents come back with them."""
    return await conn.fetch(outbox.claim, batch, lease_s, pusher)


async def document(
    conn: Connection, *, document_id: uuid.UUID, outbox: Outbox = REPORTS
) -> asyncpg.Record | None:
    """A document still in the outbox, as the claim returns it (with `unknown_since`)."""
    return await conn.fetchrow(outbox.document, document_id)


async def start_attempt(
    conn: Connection,
    *,
    document_id: uuid.UUID,
    pusher: str,
    lease_s: float,
    outbox: Outbox = REPORTS,
    checks: tuple[object, ...] = (),
) -> int | None:
    """The number of the attempt about to leave, or None when `pusher` lost the lease (or,
    with the kind's `checks`, the document changed since it was claimed)."""
    attempt: int | None = await conn.fetchval(
        outbox.start_attempt, document_id, pusher, lease_s, *checks
    )
    return attempt


async def record_check(
    conn: Connection,
    *,
    document_id: uuid.UUID,
    outcome: str,
    message: str,
    outbox: Outbox = REPORTS,
) -> None:
    """What looking for the marker in SH6 found, as the outcome of the document's last attempt."""
    await conn.execute(outbox.record_check, document_id, outcome, message)


@dataclass(frozen=True)
class AttemptEnd:
    """How a call ended, recorded on its attempt row with the document's next state."""

    attempt: int
    outcome: str
    http_status: int | None
    message: str | None


async def finish(
    conn: Connection,
    *,
    document_id: uuid.UUID,
    status: str,
    id_appointment: str | None,
    error: str | None,
    pusher: str,
    outbox: Outbox = REPORTS,
    attempt: AttemptEnd | None = None,
) -> None:
    """A final state (delivered, rejected, reversed): the document leaves the outbox; with
    `attempt`, the call's outcome is recorded in the same statement."""
    if attempt is None:
        await conn.execute(outbox.finish, document_id, status, id_appointment, error, pusher)
        return
    await conn.execute(
        outbox.finish_after_attempt, document_id, status, id_appointment, error, pusher,
        attempt.attempt, attempt.outcome, attempt.http_status, attempt.message,
    )  # fmt: skip


async def retry(
    conn: Connection,
    *,
    document_id: uuid.UUID,
    available_at: dt.datetime,
    keep_unknown: bool,
    pusher: str,
    outbox: Outbox = REPORTS,
    attempt: AttemptEnd | None = None,
) -> None:
    """Back to the outbox at `available_at`; with `attempt`, the call's outcome is recorded
    in the same statement."""
    if attempt is None:
        await conn.execute(outbox.retry, document_id, available_at, keep_unknown, pusher)
        return
    await conn.execute(
        outbox.retry_after_attempt, document_id, available_at, keep_unknown, pusher,
        attempt.attempt, attempt.outcome, attempt.http_status, attempt.message,
    )  # fmt: skip


async def postpone(
    conn: Connection,
    *,
    document_id: uuid.UUID,
    available_at: dt.datetime,
    pusher: str,
    outbox: Outbox = REPORTS,
) -> None:
    """Give the row back without counting an attempt (a no-op once the lease is another's)."""
    await conn.execute(outbox.postpone, document_id, available_at, pusher)


async def save_order_data(
    conn: Connection, *, report_id: uuid.UUID, item_code: str, warehouse: str
) -> None:
    await conn.execute(SAVE_ORDER_DATA, report_id, item_code, warehouse)


async def outbox_stats(conn: Connection, *, outbox: Outbox = REPORTS) -> asyncpg.Record:
    """`depth` and `oldest_s` (NULL when the outbox is empty)."""
    row = await conn.fetchrow(outbox.stats)
    assert row is not None  # an aggregate without GROUP BY answers one row
    return row

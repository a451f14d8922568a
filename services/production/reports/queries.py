"""SQL of production reports: checks against Protheus (read-only) and the MES's own tables."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import asyncpg
import orjson

from services.production.pusher.queries import attempt_history
from shared.db.dialect import Dialect
from shared.db.pools import Connection
from shared.protheus.naming import Tables
from shared.protheus.sql import live, operpad_sql, routing_sql


@lru_cache(maxsize=8)
def order_for_report(dialect: Dialect, tables: Tables, alternatives: bool = False) -> str:
    """The order a report names (SC2, branch-filtered, live), looked up by its key columns
    (`:num`, `:item`, `:sequen`, `:itemgrd`, split by the dictionary's widths) so SC2's index
    on FILIAL+NUM+ITEM+SEQUEN+ITEMGRD serves it (no function wraps a column), with its
    product's default routing (SB1.B1_OPERPAD) and, for `:operation` in the order's routing
    (SG2 on C2_ROTEIRO, else B1_OPERPAD, else '01'): whether it is there, its machine
    (G2_RECURSO), and whether `:machine` may run it: the operation's G2_RECURSO or, with
    `alternatives` (the database has SH3), a live alternative resource of it (H3_TIPO 'A';
    a secondary resource 'S' works beside the main one, it does not replace it)."""
    sc2, sb1, sg2, sh3 = tables.sc2, tables.sb1, tables.sg2, tables.sh3
    routing = routing_sql(operpad_sql("b1"), "c2")
    operation = (
        f"FROM {sg2} g2 WHERE g2.g2_filial = :sg2_filial AND g2.g2_produto = c2.c2_produto "
        f"AND {live('g2')} AND g2.g2_codigo = {routing} AND g2.g2_operac = :operation"
    )
    alternative = (
        f" + (SELECT count(*) FROM {sh3} h3 WHERE h3.h3_filial = :sh3_filial "
        f"AND h3.h3_produto = c2.c2_produto AND h3.h3_codigo = {routing} "
        f"AND h3.h3_operac = :operation AND h3.h3_recalte = :machine AND h3.h3_tipo = 'A' "
        f"AND {live('h3')})"
        if alternatives
        else ""
    )
    return f"""
SELECT c2.c2_produto, c2.c2_local, c2.c2_tpop, c2.c2_datrf, c2.c2_status,
       (SELECT count(*) {operation}) AS operation_found,
       (SELECT MIN(g2.g2_recurso) {operation}) AS operation_machine,
       ((SELECT count(*) {operation} AND g2.g2_recurso = :machine){alternative}) AS machine_found
FROM {sc2} c2
LEFT JOIN {sb1} b1 ON b1.b1_filial = :sb1_filial AND b1.b1_cod = c2.c2_produto AND {live("b1")}
WHERE c2.c2_filial = :sc2_filial AND c2.c2_num = :num AND c2.c2_item = :item
  AND c2.c2_sequen = :sequen AND c2.c2_itemgrd = :itemgrd AND {live("c2")}
"""


# --- MES database --------------------------------------------------------------------------

REPORT_COLUMNS = """
    r.id, r.client, r.branch, r.order_key, r.operation, r.machine, r.operator, r.start_at, r.end_at,
    r.good_quantity, r.scrap_quantity, r.scrap_reason, r.final, r.lot, r.item_code, r.warehouse,
    r.status, r.attempts, r.next_attempt_at, r.id_appointment, r.error, r.created_at, r.updated_at
"""

INSERT_REPORT = """
INSERT INTO production_reports (
    id, client, branch, order_key, operation, machine, operator, start_at, end_at,
    good_quantity, scrap_quantity, scrap_reason, final, lot, item_code, warehouse, next_attempt_at,
    request_id
) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, now(), $17)
"""

INSERT_OUTBOX = "INSERT INTO report_outbox (report_id) VALUES ($1)"

GET_IDEMPOTENT = """
SELECT request_hash, status, body FROM idempotency_keys
WHERE client = $1 AND key = $2 AND created_at > now() - make_interval(days => $3)
FOR UPDATE
"""

# Only an expired row: a concurrent request with the same key may have just committed a
# fresh one (this request's lookup ran before that commit), and it must be replayed, not
# deleted (deleting it let the next retry store a second report).
DROP_EXPIRED_IDEMPOTENT = """
DELETE FROM idempotency_keys
WHERE client = $1 AND key = $2 AND created_at <= now() - make_interval(days => $3)
"""

SAVE_IDEMPOTENT = """
INSERT INTO idempotency_keys (client, key, request_hash, status, body) VALUES ($1, $2, $3, $4, $5)
"""

GET_REPORT = f"""
SELECT {REPORT_COLUMNS}, {attempt_history("report_attempts", "a.report_id = r.id")}
FROM production_reports r WHERE r.id = $1
"""

LIST_REPORTS = f"""
WITH matches AS (
    SELECT r.* FROM production_reports r
    WHERE ($1::text IS NULL OR r.status = $1) AND ($2::text IS NULL OR r.order_key = $2)
)
SELECT h.total, p.* FROM (SELECT count(*) AS total FROM matches) h
LEFT JOIN LATERAL (
    SELECT {REPORT_COLUMNS.replace("r.", "m.")}, '[]'::json AS history
    FROM matches m ORDER BY m.seq DESC LIMIT $3 OFFSET $4
) p ON TRUE
"""

CORRECT_REPORT = """
UPDATE production_reports SET
    order_key = $2, operation = $3, machine = $4, operator = $5, start_at = $6, end_at = $7,
    good_quantity = $8, scrap_quantity = $9, scrap_reason = $10, final = $11, lot = $12,
    branch = $13, item_code = $14, warehouse = $15, request_id = $16,
    status = 'pending', error = NULL, next_attempt_at = now(), updated_at = now()
WHERE id = $1 AND status = 'rejected'
"""

PENDING_FOR_ORDER = """
SELECT id, operation, machine, operator, start_at, end_at, good_quantity, scrap_quantity,
       final, status, attempts, next_attempt_at, created_at
FROM production_reports
WHERE branch = $1 AND order_key = $2 AND status IN ('pending', 'sending', 'retrying')
ORDER BY seq
"""


# --- query functions: the connection first, every value by name -----------------------------


@dataclass(frozen=True)
class ReportValues:
    """A report's columns as the MES stores them: what a POST sets and a PATCH corrects."""

    branch: str
    order_key: str
    operation: str
    machine: str
    operator: str
    start_at: dt.datetime
    end_at: dt.datetime
    good_quantity: float
    scrap_quantity: float
    scrap_reason: str | None
    final: bool
    lot: str | None
    item_code: str | None  # the order's product (C2_PRODUTO); None while Protheus is unread
    warehouse: str | None  # the order's warehouse (C2_LOCAL); likewise


async def insert_report(
    conn: Connection,
    *,
    report_id: uuid.UUID,
    client: str,
    report: ReportValues,
    request_id: str | None,
) -> None:
    """A new report, due at once (`next_attempt_at` now); its outbox row is `insert_outbox`."""
    await conn.execute(
        INSERT_REPORT,
        report_id, client, report.branch, report.order_key, report.operation, report.machine,
        report.operator, report.start_at, report.end_at, report.good_quantity,
        report.scrap_quantity, report.scrap_reason, report.final, report.lot, report.item_code,
        report.warehouse, request_id,
    )  # fmt: skip


async def correct_report(
    conn: Connection,
    *,
    report_id: uuid.UUID,
    report: ReportValues,
    request_id: str | None,
) -> bool:
    """Overwrite a rejected report and make it pending again; False when it is not rejected."""
    updated = await conn.execute(
        CORRECT_REPORT,
        report_id, report.order_key, report.operation, report.machine, report.operator,
        report.start_at, report.end_at, report.good_quantity, report.scrap_quantity,
        report.scrap_reason, report.final, report.lot, report.branch, report.item_code,
        report.warehouse, request_id,
    )  # fmt: skip
    return bool(updated == "UPDATE 1")


async def insert_outbox(conn: Connection, *, report_id: uuid.UUID) -> None:
    await conn.execute(INSERT_OUTBOX, report_id)


async def get_report(conn: Connection, *, report_id: uuid.UUID) -> asyncpg.Record | None:
    """A report with its `history` of attempts (JSON, oldest first)."""
    return await conn.fetchrow(GET_REPORT, report_id)


async def list_reports(
    conn: Connection,
    *,
    status: str | None,
    order_key: str | None,
    limit: int,
    offset: int,
) -> list[asyncpg.Record]:
    """The header row (`total`) with one page of reports, newest first (`history` empty)."""
    return await conn.fetch(LIST_REPORTS, status, order_key, limit, offset)


async def pending_for_order(
    conn: Connection, *, branch: str, order_key: str
) -> list[asyncpg.Record]:
    """Reports of one order not yet delivered (pending, sending, retrying), oldest first."""
    return await conn.fetch(PENDING_FOR_ORDER, branch, order_key)


async def get_idempotent(
    conn: Connection, *, client: str, key: str, days: int
) -> asyncpg.Record | None:
    """The answer kept for a client's key younger than `days`, locked until the transaction ends."""
    return await conn.fetchrow(GET_IDEMPOTENT, client, key, days)


async def drop_idempotent(conn: Connection, *, client: str, key: str, days: int) -> None:
    """Forget a client's key kept longer than `days`, so it can be used again."""
    await conn.execute(DROP_EXPIRED_IDEMPOTENT, client, key, days)


async def save_idempotent(
    conn: Connection,
    *,
    client: str,
    key: str,
    request_hash: str,
    status: int,
    body: Any,
) -> None:
    """Keep the first answer to a key; raises UniqueViolationError when another request did."""
    await conn.execute(
        SAVE_IDEMPOTENT, client, key, request_hash, status, orjson.dumps(body).decode()
    )

"""Production reports: accepted durably (report + outbox in one transaction), idempotent per key."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import asyncpg
import marshmallow as ma
import orjson

from services.production.reports import queries
from services.production.reports.schemas import report_rules
from shared.audit.middleware import InTransaction
from shared.db.pools import Connection, mes_connection
from shared.db.sources import Row
from shared.errors import (
    ApiError,
    Conflict,
    DependencyUnavailable,
    Detail,
    InvalidBody,
    NotFound,
    Unprocessable,
)
from shared.pagination import Page, split_page
from shared.protheus.context import ProtheusContext
from shared.protheus.keys import OrderKeyLayout
from shared.validation import invalid_body

REPLAYABLE = (202, 422)


@dataclass(frozen=True)
class ReportInput:
    """A report as a client sends it (POST), or as a correction leaves it (PATCH over the
    stored report): the body's fields, validated."""

    order: str
    operation: str
    machine: str
    operator: str
    start: dt.datetime
    end: dt.datetime
    good_quantity: float
    scrap_quantity: float
    scrap_reason: str | None
    final: bool
    branch: str | None  # None: PROTHEUS_BRANCH
    lot: str | None

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> ReportInput:
        """From a body loaded by ReportBody (camelCase names, defaults applied)."""
        return cls(
            order=body["order"],
            operation=body["operation"],
            machine=body["machine"],
            operator=body["operator"],
            start=body["start"],
            end=body["end"],
            good_quantity=body["goodQuantity"],
            scrap_quantity=body["scrapQuantity"],
            scrap_reason=body["scrapReason"],
            final=body["final"],
            branch=body["branch"],
            lot=body["lot"],
        )

    def values(
        self, *, branch: str, item_code: str | None, warehouse: str | None
    ) -> queries.ReportValues:
        """The columns the MES stores, with the branch resolved and the order's product and
        warehouse (None when Protheus could not be read: the pusher reads them later)."""
        return queries.ReportValues(
            branch=branch,
            order_key=self.order,
            operation=self.operation,
            machine=self.machine,
            operator=self.operator,
            start_at=self.start,
            end_at=self.end,
            good_quantity=self.good_quantity,
            scrap_quantity=self.scrap_quantity,
            scrap_reason=self.scrap_reason,
            final=self.final,
            lot=self.lot,
            item_code=item_code,
            warehouse=warehouse,
        )


def request_hash(payload: Any) -> str:
    return hashlib.sha256(orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)).hexdigest()


def stored_report(row: asyncpg.Record | Mapping[str, Any]) -> dict[str, Any]:
    """A production_reports row as the report schemas dump it (they rename and format):
    `next_attempt_at` only while retrying, `history` parsed from its JSON."""
    report = dict(row)
    if report["status"] != "retrying":
        report["next_attempt_at"] = None
    if isinstance(report.get("history"), str):
        report["history"] = orjson.loads(report["history"])
    return report


def order_parts(layout: OrderKeyLayout, order: str) -> tuple[str, str, str, str]:
    """The key split by the dictionary's widths; a key of neither allowed length is a 400 on
    `order`."""
    parts = layout.split(order)
    if parts is None:
        message = f"a ordem tem {layout.describe()}; recebidos {len(order.rstrip())} caracteres."
        raise InvalidBody(
            f"Campo 'order' inválido: {message}", details=[Detail("order", "length", message)]
        )
    return parts


async def order_for_report(
    protheus: ProtheusContext,
    *,
    branch: str,
    parts: tuple[str, str, str, str],
    operation: str,
    machine: str,
    alternatives: bool = False,
) -> Row | None:
    """The order a report names (`queries.order_for_report`, one bound value per SC2 key
    column), with its operation and machine checks; None when the branch has no such order."""
    params = {
        **dict(zip(("num", "item", "sequen", "itemgrd"), parts, strict=True)),
        "sc2_filial": await protheus.filial("SC2", branch),
        "sb1_filial": await protheus.filial("SB1", branch),
        "sg2_filial": await protheus.filial("SG2", branch),
        "operation": operation,
        "machine": machine,
    }
    if alternatives:
        params["sh3_filial"] = await protheus.filial("SH3", branch)
    rows = await protheus.source.fetch(
        queries.order_for_report(protheus.dialect, protheus.tables, alternatives), params
    )
    return rows[0] if rows else None


async def check_order(
    protheus: ProtheusContext, report: ReportInput, branch: str
) -> tuple[str | None, str | None]:
    """Refuse up front (422) what Protheus would refuse when we can tell; return the order's
    product and warehouse. With the ERP database down the report is still accepted (and the
    routine validates it when it is sent)."""
    order = report.order
    try:
        layout = await protheus.dictionary.order_key()
        alternatives = await protheus.dictionary.has_alternative_resources()
        row = await order_for_report(
            protheus,
            branch=branch,
            parts=order_parts(layout, order),
            operation=report.operation,
            machine=report.machine,
            alternatives=alternatives,
        )
    except DependencyUnavailable:
        return None, None
    if row is None:
        raise Unprocessable(f"Ordem de produção {order} não encontrada na filial {branch}.")
    if row["c2_tpop"] == "P":
        raise Unprocessable(f"Ordem {order} é prevista (não firme) e não aceita apontamentos.")
    if row["c2_datrf"]:
        raise Unprocessable(f"Ordem {order} já foi encerrada em {row['c2_datrf']}.")
    if row["c2_status"] == "U":
        raise Unprocessable(f"Ordem {order} está suspensa.")
    if row["c2_status"] == "S":
        raise Unprocessable(f"Ordem {order} está encerrada definitivamente.")
    if not row["operation_found"]:
        raise Unprocessable(
            f"Operação {report.operation} não pertence ao roteiro da ordem {order}."
        )
    if not row["machine_found"]:
        # MATA681 refuses a resource the routing does not name for the operation.
        message = (
            f"a máquina {report.machine} não é o recurso da operação {report.operation} "
            f"no roteiro da ordem {order} (G2_RECURSO {row['operation_machine']})"
            + (" nem um recurso alternativo dela (SH3)." if alternatives else ".")
        )
        raise Unprocessable(
            f"Apontamento recusado: {message}",
            details=[Detail("machine", "routing", message)],
        )
    return row["c2_produto"], row["c2_local"]


async def _replay(
    conn: Connection, *, client: str, key: str, digest: str, days: int
) -> tuple[int, Any] | None:
    row = await queries.get_idempotent(conn, client=client, key=key, days=days)
    if row is None:
        await queries.drop_idempotent(conn, client=client, key=key, days=days)
        return None
    if row["request_hash"] != digest:
        raise Unprocessable(
            "Idempotency-Key já usada com outro corpo; use uma chave nova para outro apontamento."
        )
    return row["status"], orjson.loads(row["body"])


async def accept(
    protheus: ProtheusContext,
    mes_pool: asyncpg.Pool,
    *,
    idempotency_days: int,
    client: str,
    report: ReportInput,
    raw: Any,
    idempotency_key: str | None,
    request_id: str | None = None,
    audit: InTransaction | None = None,
) -> tuple[int, Any]:
    """Store a report and its outbox row in one transaction; answer (status, data or error body).

    With an Idempotency-Key, the first answer (202 or 422) is kept and replayed for the same
    body; a different body under the same key is refused. The audit row (when given) is
    inserted in the same transaction as the report and its outbox row. Keys are kept
    `idempotency_days` (IDEMPOTENCY_DAYS).
    """
    digest = request_hash(raw)
    async with mes_connection(mes_pool) as conn:
        if idempotency_key:
            async with conn.transaction():
                replay = await _replay(
                    conn, client=client, key=idempotency_key, digest=digest, days=idempotency_days
                )
            if replay:
                return replay
        branch = report.branch or protheus.default_branch
        try:
            item_code, warehouse = await check_order(protheus, report, branch)
        except Unprocessable as exc:
            body = {"message": exc.message, "code": exc.code}
            if idempotency_key:
                await _save(conn, client, idempotency_key, digest, 422, body)
            raise
        report_id = uuid.uuid4()
        data = {"id": str(report_id), "status": "pending"}
        try:
            async with conn.transaction():
                await queries.insert_report(
                    conn,
                    report_id=report_id,
                    client=client,
                    report=report.values(branch=branch, item_code=item_code, warehouse=warehouse),
                    request_id=request_id,
                )
                await queries.insert_outbox(conn, report_id=report_id)
                if audit is not None:
                    await audit.write(conn, str(report_id))
                if idempotency_key:
                    await queries.save_idempotent(
                        conn,
                        client=client,
                        key=idempotency_key,
                        request_hash=digest,
                        status=202,
                        body=data,
                    )
        except asyncpg.UniqueViolationError:
            # A concurrent request with the same key won; answer what it answered.
            if audit is not None:
                audit.rolled_back()
            async with conn.transaction():
                replay = await _replay(
                    conn,
                    client=client,
                    key=idempotency_key or "",
                    digest=digest,
                    days=idempotency_days,
                )
            if replay is None:
                raise
            return replay
    if audit is not None:
        audit.committed()
    return 202, data


async def _save(
    conn: Connection, client: str, key: str, digest: str, status: int, body: Any
) -> None:
    # A concurrent request with the same key may have stored its answer first.
    with contextlib.suppress(asyncpg.UniqueViolationError):
        await queries.save_idempotent(
            conn, client=client, key=key, request_hash=digest, status=status, body=body
        )


def replay_error(body: dict[str, Any]) -> ApiError:
    return Unprocessable(body.get("message"))


async def get(mes_pool: asyncpg.Pool, report_id: uuid.UUID) -> dict[str, Any]:
    async with mes_connection(mes_pool) as conn:
        row = await queries.get_report(conn, report_id=report_id)
    if row is None:
        raise NotFound(f"Apontamento {report_id} não encontrado.")
    return stored_report(row)


async def listing(
    mes_pool: asyncpg.Pool, *, page: Page, status: str | None, order: str | None
) -> dict[str, Any]:
    """One page of reports, newest first, optionally of one status and one order."""
    async with mes_connection(mes_pool) as conn:
        rows = await queries.list_reports(
            conn, status=status, order_key=order, limit=page.size, offset=page.offset
        )
    found = split_page(rows, "id")
    items = [stored_report(r) for r in found.rows]  # ReportSummary leaves `history` out
    return page.envelope(found.total, items, filters={"status": status, "order": order})


def _stored_fields(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "order": row["order_key"], "operation": row["operation"], "machine": row["machine"],
        "operator": row["operator"], "start": row["start_at"], "end": row["end_at"],
        "goodQuantity": float(row["good_quantity"]), "scrapQuantity": float(row["scrap_quantity"]),
        "scrapReason": row["scrap_reason"], "final": row["final"], "lot": row["lot"], "branch": row["branch"],
    }  # fmt: skip


async def correct(
    protheus: ProtheusContext,
    mes_pool: asyncpg.Pool,
    report_id: uuid.UUID,
    patch: dict[str, Any],
    *,
    request_id: str | None = None,
    audit: InTransaction | None = None,
) -> dict[str, Any]:
    """Correct a rejected report and send it again with the same id; its history is kept
    (with the audit row, when given, in the same transaction)."""
    async with mes_connection(mes_pool) as conn:
        row = await queries.get_report(conn, report_id=report_id)
        if row is None:
            raise NotFound(f"Apontamento {report_id} não encontrado.")
        if row["status"] != "rejected":
            raise Conflict(
                f"Só um apontamento rejeitado pode ser corrigido; este está '{row['status']}'."
            )
        merged = {**_stored_fields(row), **patch}
        try:
            report_rules(merged)
        except ma.ValidationError as exc:
            raise invalid_body(exc) from None
        report = ReportInput.from_body(merged)
        branch = report.branch or protheus.default_branch
        item_code, warehouse = await check_order(protheus, report, branch)
        async with conn.transaction():
            updated = await queries.correct_report(
                conn,
                report_id=report_id,
                report=report.values(branch=branch, item_code=item_code, warehouse=warehouse),
                request_id=request_id,
            )
            if not updated:
                raise Conflict(
                    "O apontamento mudou de estado durante a correção; consulte-o de novo."
                )
            await queries.insert_outbox(conn, report_id=report_id)
            if audit is not None:
                await audit.write(conn, str(report_id))
        if audit is not None:
            audit.committed()
        row = await queries.get_report(conn, report_id=report_id)
    assert row is not None  # corrected in this transaction, never deleted
    return stored_report(row)

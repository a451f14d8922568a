"""Machine stops as the API serves them: listing, one stop with its attempts, a person's
classification or split, the reason mapping and the downtime Pareto.

Rules of a change (PATCH), as STOPS.md settles them:
- allowed on `unclassified`, `pending` not leased by the pusher, `retrying` whose last attempt
  surely did not reach Protheus (no unknown outcome), and `rejected`; `open` (not over yet),
  `sending`, `delivered`, `reversed` (and a leased or possibly-delivered one) are 409;
- a classification sets the reason (validated against Protheus's stop reasons: unknown is
  422), the operator and the note; the stop becomes manual (detection leaves it alone); an
  `unclassified` or `rejected` stop becomes `pending` and is queued for delivery;
- a split cuts a closed stop at an instant strictly inside it: [start, at) keeps the id (its
  history and outbox row), [at, end) is a new stop with the same classification; both are
  manual; a part with a reason is `pending` and queued, a rejected first part is due again.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
import uuid
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import asyncpg
import orjson

from services.production.stops import queries
from services.production.stops.schemas import MAX_PARETO_DAYS, MAX_PLC_REASON, STATUS_FILTERS
from shared.audit.middleware import InTransaction
from shared.db.pools import Connection, mes_connection
from shared.errors import (
    Conflict,
    DependencyUnavailable,
    Detail,
    InvalidBody,
    NotFound,
    Unprocessable,
    invalid_parameter,
)
from shared.pagination import Page, split_page
from shared.protheus.context import ProtheusContext
from shared.protheus.stop_reasons import stop_reasons

# Why a stop in each status cannot change (409).
FROZEN = {
    "open": "a parada ainda está em curso; classifique-a quando terminar.",
    "sending": "a parada está sendo enviada ao Protheus agora.",
    "delivered": "a parada já foi entregue ao Protheus.",
    "reversed": "a parada foi estornada no Protheus.",
}
STATE_LABELS = {
    "stopped": "Parada",
    "fault": "Falha",
    "setup": "Setup",
    "idle": "Ociosa",
    "offline": "Sem comunicação",
}


def stored_stop(
    row: asyncpg.Record | Mapping[str, Any], descriptions: Mapping[str, str]
) -> dict[str, Any]:
    """A stops row as the stop schemas dump it (they rename and format): the reason's
    description when Protheus has it, `next_attempt_at` only while retrying, `history`
    parsed from its JSON."""
    stop = dict(row)
    stop["reason_description"] = descriptions.get(stop["reason_code"] or "")
    if stop["status"] != "retrying":
        stop["next_attempt_at"] = None
    if isinstance(stop.get("history"), str):
        stop["history"] = orjson.loads(stop["history"])
    return stop


async def reason_descriptions(
    protheus: ProtheusContext, *, branch: str | None = None
) -> dict[str, str]:
    """Protheus's stop reasons of a branch by code; empty when the ERP database is down
    (descriptions are a courtesy of reads, not a reason to fail them)."""
    try:
        return {r.code: r.description for r in await stop_reasons(protheus, branch=branch)}
    except DependencyUnavailable:
        return {}


def change_conflict(lock: queries.Lock) -> str | None:
    """Why a locked stop cannot change now (a 409's message), None when it can."""
    status = lock.stop["status"]
    if status in FROZEN:
        return FROZEN[status]
    if status == "pending" and lock.leased:
        return "a parada acabou de ser tomada para envio ao Protheus."
    if status == "retrying" and lock.unknown:
        return (
            "uma tentativa anterior pode ter chegado ao Protheus (resposta perdida); aguarde "
            "a verificação do marcador."
        )
    return None


def check_split(start: dt.datetime, end: dt.datetime, at: dt.datetime) -> None:
    """`splitAt` strictly inside a closed stop [start, end), else a 400 on it."""
    if not start < at < end:
        message = (
            f"deve estar estritamente entre o início ({start.isoformat()}) e o fim "
            f"({end.isoformat()}) da parada."
        )
        raise InvalidBody(
            f"Campo 'splitAt' inválido: {message}", details=[Detail("splitAt", "range", message)]
        )


async def listing(
    mes_pool: asyncpg.Pool,
    protheus: ProtheusContext,
    *,
    page: Page,
    where: queries.StopFilter,
    line: str | None,
    status: str | None,
) -> dict[str, Any]:
    """One page of stops, latest start first, with the filters combined with AND."""
    async with mes_connection(mes_pool) as conn:
        rows = await queries.list_stops(
            conn,
            where=where,
            statuses=STATUS_FILTERS[status] if status else None,
            limit=page.size,
            offset=page.offset,
        )
    found = split_page(rows, "id")
    descriptions = await reason_descriptions(protheus) if found.rows else {}
    items = [stored_stop(r, descriptions) for r in found.rows]
    filters = {
        "machine": where.machine,
        "line": line,
        "from": where.start.isoformat() if where.start else None,
        "to": where.end.isoformat() if where.end else None,
        "status": status,
    }
    return page.envelope(found.total, items, filters=filters)


async def get(
    mes_pool: asyncpg.Pool, protheus: ProtheusContext, stop_id: uuid.UUID
) -> dict[str, Any]:
    """One stop with its history of attempts."""
    async with mes_connection(mes_pool) as conn:
        row = await queries.get_stop(conn, stop_id=stop_id)
    if row is None:
        raise NotFound(f"Parada {stop_id} não encontrada.")
    return stored_stop(row, await reason_descriptions(protheus, branch=row["branch"]))


async def known_reason(
    conn: Connection, protheus: ProtheusContext, *, stop_id: uuid.UUID, reason: str
) -> dict[str, str]:
    """The stop's branch's reasons by code (404 without such a stop), when `reason` is one of
    them; else 422 on `reason`."""
    branch = await queries.stop_branch(conn, stop_id=stop_id)
    if branch is None:
        raise NotFound(f"Parada {stop_id} não encontrada.")
    descriptions = {r.code: r.description for r in await stop_reasons(protheus, branch=branch)}
    if reason not in descriptions:
        message = f"o motivo {reason} não existe no Protheus (CYN / SX5 44) da filial {branch}."
        raise Unprocessable(
            f"Motivo de parada recusado: {message}",
            details=[Detail("reason", "unknown", message)],
        )
    return descriptions


async def change(
    mes_pool: asyncpg.Pool,
    protheus: ProtheusContext,
    stop_id: uuid.UUID,
    *,
    reason: str | None,
    operator: str | None,
    note: str | None,
    sent: Sequence[str],
    split_at: dt.datetime | None,
    audit: InTransaction | None = None,
) -> dict[str, Any]:
    """Classify (reason, with operator and note when `sent` names them; absent ones keep the
    stored values) or split (split_at) a stop, by the rules of the module docstring; the
    answer is the stop (the first part of a split, with `split_into`)."""
    descriptions: dict[str, str] = {}
    new_id: uuid.UUID | None = None
    async with mes_connection(mes_pool) as conn:
        if reason is not None:
            # Checked before the transaction: no lock is held while Protheus answers.
            descriptions = await known_reason(conn, protheus, stop_id=stop_id, reason=reason)
        async with conn.transaction():
            lock = await queries.lock_stop(conn, stop_id=stop_id)
            if lock is None:
                raise NotFound(f"Parada {stop_id} não encontrada.")
            conflict = change_conflict(lock)
            if conflict is not None:
                raise Conflict(f"A parada não pode ser alterada: {conflict}")
            stop = lock.stop
            if split_at is not None:
                check_split(stop["start_at"], stop["end_at"], split_at)
                new_id = uuid.uuid4()
                await queries.split(
                    conn, stop_id=stop_id, new_id=new_id, at=split_at, end=stop["end_at"]
                )
                queued = [stop_id, new_id]
            else:
                assert reason is not None  # the body schema asks for one of the two
                await queries.classify(
                    conn,
                    stop_id=stop_id,
                    reason_code=reason,
                    operator=operator if "operator" in sent else stop["operator"],
                    note=note if "note" in sent else stop["note"],
                )
                queued = [stop_id]
            await queries.enqueue(conn, stop_ids=queued)
            if audit is not None:
                await audit.write(conn, str(stop_id))
        if audit is not None:
            audit.committed()
        row = await queries.get_stop(conn, stop_id=stop_id)
    assert row is not None  # changed in this transaction, never deleted (manual now)
    if not descriptions:
        descriptions = await reason_descriptions(protheus, branch=row["branch"])
    data = stored_stop(row, descriptions)
    if new_id is not None:
        data["split_into"] = [stop_id, new_id]
    return data


def reason_items(reasons: Mapping[str, str], mapping: Mapping[str, str]) -> list[dict[str, Any]]:
    """Protheus's reasons in code order, each with the PLC reasons mapped to it; codes the
    mapping names but Protheus no longer has come last, without description."""
    by_code: dict[str, list[str]] = {}
    for plc, code in sorted(mapping.items()):
        by_code.setdefault(code, []).append(plc)
    items: list[dict[str, Any]] = [
        {"code": code, "description": description, "plc_reasons": by_code.get(code, [])}
        for code, description in reasons.items()
    ]
    items.extend(
        {"code": code, "description": None, "plc_reasons": plcs}
        for code, plcs in sorted(by_code.items())
        if code not in reasons
    )
    return items


async def reasons(mes_pool: asyncpg.Pool, protheus: ProtheusContext) -> list[dict[str, Any]]:
    """GET /stop-reasons: Protheus's reasons (default branch) with the mapping."""
    listed = {r.code: r.description for r in await stop_reasons(protheus)}
    async with mes_connection(mes_pool) as conn:
        mapping = await queries.mapping(conn)
    return reason_items(listed, mapping)


def plc_reason_problem(plc: str) -> str | None:
    """Why a mapping key can be no PLC's reason (None when it can): empty, too long, or with a
    control character (the ingestor stores the reason as sent; none of those reach it)."""
    if not plc.strip():
        return "o motivo do CLP não pode ser vazio."
    if len(plc) > MAX_PLC_REASON:
        return f"o motivo do CLP deve ter no máximo {MAX_PLC_REASON} caracteres."
    if any(unicodedata.category(ch) == "Cc" for ch in plc):
        return "o motivo do CLP não pode conter caracteres de controle."
    return None


def mapping_refusals(mapping: Mapping[str, str], known: Collection[str]) -> list[Detail]:
    """One detail per entry that cannot be stored: a key no PLC can send (rule
    `plc_reason`), a Protheus code the ERP does not have (rule `unknown`)."""
    details = []
    for plc, code in sorted(mapping.items()):
        problem = plc_reason_problem(plc)
        if problem is not None:
            details.append(Detail(f"mapping.{plc}", "plc_reason", problem))
        elif code not in known:
            details.append(
                Detail(f"mapping.{plc}", "unknown", f"o motivo {code} não existe no Protheus.")
            )
    return details


async def replace_mapping(
    mes_pool: asyncpg.Pool,
    protheus: ProtheusContext,
    *,
    mapping: Mapping[str, str],
    updated_by: str | None,
    audit: InTransaction | None = None,
) -> dict[str, Any]:
    """Replace the whole mapping, each Protheus code checked first (422 naming every unknown
    entry), then classify the waiting stops it now names (queries.apply_mapping, detection's:
    closed ones go pending and are queued, open ones take the reason), in the same
    transaction."""
    known = {r.code for r in await stop_reasons(protheus)}
    mapping = {plc: code.strip() for plc, code in mapping.items()}
    refused = mapping_refusals(mapping, known)
    if refused:
        raise Unprocessable(
            f"Mapeamento recusado: {len(refused)} entrada(s) inválida(s).", details=refused
        )
    async with mes_connection(mes_pool) as conn:
        async with conn.transaction():
            await queries.replace_mapping(conn, mapping=mapping, updated_by=updated_by)
            reclassified = await queries.apply_mapping(conn)
            if audit is not None:
                await audit.write(conn, None)
        if audit is not None:
            audit.committed()
        stored = dict(sorted((await queries.mapping(conn)).items()))
    return {"mapping": stored, "reclassified": reclassified}


def pareto_rows(
    rows: Sequence[Mapping[str, Any]], descriptions: Mapping[str, str | None]
) -> list[dict[str, Any]]:
    """Pareto rows by seconds, largest first (ties: key, no key last), with each row's share
    of the total and the running (cumulative) share; shares come from the exact seconds,
    then rounded (6 decimals; seconds 3)."""
    ordered = sorted(rows, key=lambda r: (-r["seconds"], r["key"] is None, r["key"] or ""))
    total = sum(r["seconds"] for r in ordered)
    running = 0.0
    result = []
    for row in ordered:
        running += row["seconds"]
        result.append(
            {
                "key": row["key"],
                "description": descriptions.get(row["key"]) if row["key"] else None,
                "seconds": round(row["seconds"], 3),
                "count": int(row["count"]),
                "share": round(row["seconds"] / total, 6) if total else 0.0,
                "cumulative_share": round(running / total, 6) if total else 0.0,
            }
        )
    return result


async def downtime_pareto(
    mes_pool: asyncpg.Pool,
    protheus: ProtheusContext,
    *,
    where: queries.StopFilter,
    line: str | None,
    by: str,
) -> dict[str, Any]:
    """Stop time in the window by reason, machine or state, largest first (pareto_rows)."""
    # Both bounds are required by the query schema.
    assert where.start is not None
    assert where.end is not None
    if where.end - where.start > dt.timedelta(days=MAX_PARETO_DAYS):
        raise invalid_parameter(
            "to", "range", f"a janela pode ter no máximo {MAX_PARETO_DAYS} dias."
        )
    async with mes_connection(mes_pool) as conn:
        rows = await queries.pareto(conn, where=where, by=by)
    descriptions: Mapping[str, str | None]
    if by == "reason":
        descriptions = await reason_descriptions(protheus) if rows else {}
    elif by == "state":
        descriptions = STATE_LABELS
    else:
        descriptions = {}
    items = pareto_rows([dict(r) for r in rows], descriptions)
    return {
        "by": by,
        "machine": where.machine,
        "line": line,
        "from": where.start.isoformat(),
        "to": where.end.isoformat(),
        "total_seconds": round(sum(r["seconds"] for r in rows), 3),
        "total_count": sum(int(r["count"]) for r in rows),
        "rows": items,
    }

"""GET /api/v1/audit (scope admin); the writer is a resource of every app (shared.app)."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from shared.audit import queries, schemas
from shared.db import mes_connection
from shared.endpoint import endpoint
from shared.envelope import success
from shared.keys import MES_POOL
from shared.pagination import Page
from shared.validation import load_query

log = logging.getLogger(__name__)


def present(row: Any) -> dict[str, Any]:
    return {
        "at": row["at"].isoformat(),
        "requestId": row["request_id"],
        "key": row["key_name"],
        "method": row["method"],
        "route": row["route"],
        "path": row["path"],
        "status": row["status"],
        "client": row["client"],
        "peer": row["peer"],
        "durationMs": row["duration_ms"],
        "subject": row["subject"],
        "service": row["service"],
    }


@endpoint(
    service="production",
    scope="admin",
    summary="Trilha de auditoria das requisições autenticadas",
    description=(
        "Uma linha por requisição autenticada (chave, método, rota, status, requestId, endereço "
        "do cliente, hora), mais recentes primeiro. Escritas (POST/PATCH de apontamentos) são "
        "gravadas na mesma transação da alteração; leituras em lotes, em segundo plano (alguns "
        "segundos de atraso). As tentativas de envio ao Protheus levam o requestId do "
        "apontamento (history[].requestId). Requisições sem chave válida (401) não são "
        "auditadas; 403 sim. Filtros: key, route, status, from (inclusive), to (exclusive), "
        "requestId."
    ),
    query=schemas.AuditQuery,
    response=schemas.AuditResponse,
)
async def list_audit(request: web.Request) -> web.Response:
    params = load_query(request, schemas.AuditQuery())
    page = Page.from_params(params)
    async with mes_connection(request.app[MES_POOL]) as conn:
        rows = await conn.fetch(
            queries.LIST,
            params["key"],
            params["route"],
            params["status"],
            params["from_"],
            params["to"],
            params["request_id"],
            page.size,
            page.offset,
        )
    total = rows[0]["total"] if rows else 0
    items = [present(r) for r in rows if r["request_id"] is not None]
    filters = {
        "key": params["key"],
        "route": params["route"],
        "status": params["status"],
        "from": params["from_"].isoformat() if params["from_"] else None,
        "to": params["to"].isoformat() if params["to"] else None,
        "requestId": params["request_id"],
    }
    data = page.envelope(total, items, filters=filters)
    return success(data, f"Registros de auditoria retornados ({page.label(total)}).")


def register_audit_routes(app: web.Application) -> None:
    """GET /api/v1/audit, served by the production service (it owns the MES writes)."""
    app.router.add_get("/api/v1/audit", list_audit, name="audit_list")

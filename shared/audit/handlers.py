"""GET /api/v1/audit (scope admin); the writer is a resource of every app (shared.app)."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from shared.audit import queries, schemas
from shared.db.pools import mes_connection
from shared.endpoint import endpoint
from shared.envelope import Reply
from shared.keys import MES_POOL
from shared.pagination import Page, split_page

log = logging.getLogger(__name__)


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
async def list_audit(request: web.Request, *, query: dict[str, Any], page: Page) -> Reply:
    async with mes_connection(request.app[MES_POOL]) as conn:
        rows = await conn.fetch(
            queries.LIST,
            query["key"],
            query["route"],
            query["status"],
            query["from_"],
            query["to"],
            query["request_id"],
            page.size,
            page.offset,
        )
    found = split_page(rows, "request_id")
    filters = {
        "key": query["key"],
        "route": query["route"],
        "status": query["status"],
        "from": query["from_"].isoformat() if query["from_"] else None,
        "to": query["to"].isoformat() if query["to"] else None,
        "requestId": query["request_id"],
    }
    # The rows are dumped by schemas.AuditEntry (the response schema declared above).
    data = page.envelope(found.total, found.rows, filters=filters)
    return Reply(data, f"Registros de auditoria retornados ({page.label(found.total)}).")


def register_audit_routes(app: web.Application) -> None:
    """GET /api/v1/audit, served by the production service (it owns the MES writes)."""
    app.router.add_get("/api/v1/audit", list_audit, name="audit_list")

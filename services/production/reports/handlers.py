"""Report handlers: @endpoint loads and validates, one service call, a Reply the response schema
dumps into the envelope."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from services.production.reports import schemas, service
from shared.audit.middleware import in_transaction
from shared.csv_export import Csv
from shared.endpoint import endpoint
from shared.envelope import Reply
from shared.keys import (
    CALLER,
    REQUEST_ID,
    get_mes_pool,
    get_protheus_context,
    get_settings,
)
from shared.pagination import Page
from shared.validation import read_json


@endpoint(
    service="production",
    scope="production:write",
    summary="Registra um apontamento de produção (enviado ao Protheus pelo MATA681)",
    description=(
        "Valida contra a ordem (existe, firme, aberta, operação no roteiro, máquina = G2_RECURSO "
        "da operação ou um recurso alternativo dela no SH3: 422 se não) e guarda "
        "o apontamento de forma durável; responde 202 com `id` e `status` e o envia ao Protheus "
        "em segundo plano, exatamente uma vez. Envie `Idempotency-Key` para que uma repetição "
        "devolva a primeira resposta em vez de criar outro apontamento (mesma chave com outro "
        "corpo: 422). Acompanhe em GET /api/v1/production-reports/{id}."
    ),
    headers=schemas.ReportHeaders,
    body=schemas.ReportBody,
    response=schemas.ReportAcceptedResponse,
    status=202,
    errors=(400, 401, 403, 413, 415, 422, 503),
)
async def create_report(
    request: web.Request, *, headers: dict[str, Any], body: dict[str, Any]
) -> Reply:
    key: str | None = headers["idempotency_key"]
    status, payload = await service.accept(
        get_protheus_context(request.app),
        get_mes_pool(request.app),
        idempotency_days=get_settings(request.app).pusher.idempotency_days,
        client=request[CALLER].name,
        report=service.ReportInput.from_body(body),
        raw=await read_json(request),  # what the idempotency hash covers: the body as sent
        idempotency_key=key,
        request_id=request.get(REQUEST_ID),
        audit=in_transaction(request, 202),
    )
    if status != 202:
        raise service.replay_error(payload)
    return Reply(payload, "Apontamento recebido; será enviado ao Protheus.")


@endpoint(
    service="production",
    scope="production:read",
    summary="Consulta um apontamento e o seu envio ao Protheus",
    description=(
        "status: pending, sending, retrying (com nextAttemptAt), delivered (com idAppointment = "
        "H6_IDENT), rejected (com error = mensagem do Protheus) ou reversed (estornado no "
        "Protheus); attempts e history contam as tentativas."
    ),
    path=schemas.ReportPath,
    response=schemas.ReportResponse,
    errors=(400, 401, 403, 404, 503),
)
async def get_report(request: web.Request, *, path: dict[str, Any]) -> Reply:
    data = await service.get(get_mes_pool(request.app), path["id"])
    return Reply(data, "Apontamento localizado.")


@endpoint(
    service="production",
    scope="production:read",
    summary="Lista apontamentos, mais recentes primeiro",
    query=schemas.ReportListQuery,
    response=schemas.ReportListResponse,
    csv=Csv(
        rows="data", name="apontamentos", description="Uma linha por apontamento, todas as páginas."
    ),
)
async def list_reports(request: web.Request, *, query: dict[str, Any], page: Page) -> Reply:
    data = await service.listing(
        get_mes_pool(request.app), page=page, status=query["status"], order=query["order"]
    )
    return Reply(data, f"Apontamentos retornados com sucesso ({page.label(data['total'])}).")


@endpoint(
    service="production",
    scope="production:write",
    summary="Corrige um apontamento rejeitado e o reenvia (mesmo id, histórico mantido)",
    description="Só para status rejected (senão 409). Envie apenas os campos a corrigir.",
    path=schemas.ReportPath,
    body=schemas.ReportBody,
    response=schemas.ReportResponse,
    errors=(400, 401, 403, 404, 409, 415, 422, 503),
    partial=True,
)
async def correct_report(
    request: web.Request, *, path: dict[str, Any], body: dict[str, Any]
) -> Reply:
    data = await service.correct(
        get_protheus_context(request.app),
        get_mes_pool(request.app),
        path["id"],
        body,
        request_id=request.get(REQUEST_ID),
        audit=in_transaction(request, 200),
    )
    return Reply(data, "Apontamento corrigido; será reenviado ao Protheus.")

"""Order handlers: @endpoint loads and validates, one service call, a Reply the response schema
dumps into the envelope."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from services.production.orders import schemas, service
from shared.endpoint import endpoint
from shared.envelope import Reply
from shared.keys import get_mes_pool, get_protheus_context, get_settings
from shared.pagination import Page

SCOPE = "production:read"
STATUS_RULES = (
    "Status (como a API de ordens da TOTVS): planned = C2_TPOP 'P'; open = firme, C2_DATRF "
    "vazio, sem apontamento (SH6) nem movimento (SD3) vivo; started = firme, C2_DATRF vazio, "
    "com apontamentos SH6 vivos ou movimentos SD3 não estornados (D3_ESTORNO <> 'S'); idle = "
    "started com C2_DIASOCI > 0 e a atividade mais recente (H6_DTAPONT, senão H6_DATAFIN; "
    "D3_EMISSAO) anterior a hoje - C2_DIASOCI dias (hoje no fuso da planta); partially_closed = "
    "C2_DATRF preenchido e C2_QUJE < C2_QUANT; closed = C2_DATRF preenchido e C2_QUJE >= "
    "C2_QUANT. `situation` é separada: suspended (C2_STATUS 'U'), sacramented ('S') ou normal."
)


@endpoint(
    service="production",
    scope=SCOPE,
    summary="Lista ordens de produção (SC2) com status, filtros e paginação",
    description=(
        "Ordens de uma filial em ordem de C2_NUM, C2_ITEM, C2_SEQUEN. Filtros combinados com E: "
        "status, product (C2_PRODUTO), machine (o roteiro da ordem tem operação nessa máquina), "
        "planned_from/planned_to (C2_DATPRI, YYYY-MM-DD) e branch (ausente = PROTHEUS_BRANCH, "
        "a filial padrão do serviço). Cada item traz `order` (use-o em "
        "/api/v1/production-orders/{order} e nos apontamentos), `status`, `situation`, "
        "`lastActivity`, `routing` e os campos C2_ como gravados (datas YYYYMMDD). "
        + STATUS_RULES
        + " Pagine com page e page_size (1 a 500, padrão 50)."
    ),
    query=schemas.OrderListQuery,
    response=schemas.OrderListResponse,
)
async def list_orders(request: web.Request, *, query: dict[str, Any], page: Page) -> Reply:
    data = await service.list_orders(
        get_protheus_context(request.app),
        tz=get_settings(request.app).tz,
        page=page,
        branch=query["branch"],
        status=query["status"],
        product=query["product"],
        machine=query["machine"],
        planned_from=query["planned_from"],
        planned_to=query["planned_to"],
    )
    return Reply(data, f"Ordens de produção retornadas com sucesso ({page.label(data['total'])}).")


@endpoint(
    service="production",
    scope=SCOPE,
    summary="Consulta uma ordem de produção com operações, progresso e apontamentos pendentes",
    description=(
        "A ordem (mesmos campos da listagem) com `operations`: as operações do seu roteiro "
        "(C2_ROTEIRO, senão B1_OPERPAD do produto, senão '01') em ordem de operação, cada uma "
        "com máquina, tempo padrão (G2_TEMPAD para G2_LOTEPAD unidades) e o progresso: "
        "goodQuantity e scrapQuantity somam os apontamentos SH6 vivos da operação. "
        "`pendingReports` lista os apontamentos aceitos pelo MES ainda não entregues ao "
        "Protheus (pending, sending, retrying): some-os ao progresso para a visão do chão de "
        "fábrica. 404 se a ordem não existe na filial (branch ausente = PROTHEUS_BRANCH)."
    ),
    path=schemas.OrderPath,
    query=schemas.OrderDetailQuery,
    response=schemas.OrderDetailResponse,
    errors=(400, 401, 403, 404, 503),
)
async def get_order(request: web.Request, *, path: dict[str, Any], query: dict[str, Any]) -> Reply:
    key = path["order"]
    data = await service.get_order(
        get_protheus_context(request.app),
        get_mes_pool(request.app),
        tz=get_settings(request.app).tz,
        key=key,
        branch=query["branch"],
    )
    return Reply(data, f"Ordem de produção {key} localizada com sucesso.")

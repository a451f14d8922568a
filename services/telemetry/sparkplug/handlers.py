"""Sparkplug handlers: @endpoint loads and validates, one service call, a Reply the response
schema dumps into the envelope."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from services.telemetry.sparkplug import schemas, service
from shared.audit.middleware import in_transaction
from shared.endpoint import endpoint
from shared.envelope import Reply
from shared.keys import get_mes_pool, get_settings
from shared.pagination import Page

SERVICE = "telemetry"
CONVENTION = (
    "Sem linha no mapeamento vale a convenção: site = group, area = SPARKPLUG_AREA, line = "
    "edge node, machine = device (as métricas do próprio nó: machine = edge node). "
)


@endpoint(
    service=SERVICE,
    scope="telemetry:read",
    summary="Lista os edge nodes Sparkplug B vistos, com seus devices e destino",
    description=(
        "Cada edge node que já publicou em spBv1.0/ (em ordem de group e edge node): online, "
        "bdSeq do NBIRTH atual, birthAt/deathAt/lastSeen, rebirthRequests (NCMD Node "
        "Control/Rebirth enviados), seqGap (um seq faltando) e todos os devices já vistos, "
        "mesmo sem mapeamento, cada um com a máquina que recebe seus dados (site, area, line, "
        "machine, mapped). " + CONVENTION + "Filtros: group e online. Pagine com page e "
        "page_size (1 a 500, padrão 50)."
    ),
    query=schemas.SparkplugNodeQuery,
    response=schemas.NodeListResponse,
)
async def list_nodes(request: web.Request, *, query: dict[str, Any], page: Page) -> Reply:
    app = request.app
    settings = get_settings(app)
    data = await service.list_nodes(
        get_mes_pool(app),
        page=page,
        group=query["group"],
        online=query["online"],
        area=settings.sparkplug.area,
        tz=settings.tz,
    )
    return Reply(
        data, f"Edge nodes Sparkplug retornados com sucesso ({page.label(data['total'])})."
    )


@endpoint(
    service=SERVICE,
    scope="telemetry:read",
    summary="Mapeamento Sparkplug: (group, edge node, device) para site/area/line/machine",
    description=(
        "A tabela inteira, em ordem de group, edgeNode, device (device '' = as métricas do "
        "próprio edge node); o corpo que o PUT aceita. " + CONVENTION
    ),
    response=schemas.MappingResponse,
    errors=(401, 403, 503),
)
async def get_mapping(request: web.Request) -> Reply:
    data = await service.mapping(get_mes_pool(request.app))
    return Reply(data, f"{len(data['mappings'])} linha(s) no mapeamento Sparkplug.")


@endpoint(
    service=SERVICE,
    scope="admin",
    summary="Substitui o mapeamento Sparkplug",
    description=(
        "O corpo é o mapeamento inteiro e substitui a tabela; responde a tabela nova. Vale para "
        "as mensagens processadas depois do PUT (os dados já gravados ficam onde foram). "
        + CONVENTION
    ),
    body=schemas.SparkplugMappingBody,
    response=schemas.MappingResponse,
    errors=(400, 401, 403, 413, 415, 503),
)
async def replace_mapping(request: web.Request, *, body: dict[str, Any]) -> Reply:
    data = await service.replace_mapping(
        get_mes_pool(request.app),
        entries=body["mappings"],
        audit=in_transaction(request, 200),
    )
    return Reply(data, f"Mapeamento Sparkplug substituído: {len(data['mappings'])} linha(s).")

"""Stop handlers: @endpoint loads and validates, one service call, a Reply the response schema
dumps into the envelope."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from services.production.stops import queries, schemas, service
from shared.audit.middleware import in_transaction
from shared.csv_export import Csv
from shared.endpoint import endpoint
from shared.envelope import Reply
from shared.keys import CALLER, get_mes_pool, get_protheus_context
from shared.lines import split_line
from shared.pagination import Page

STATUS_RULES = (
    "status: open (em curso, não é enviada), unclassified (aguarda um motivo), pending/"
    "sending/retrying (a caminho do Protheus), delivered (idAppointment = H6_IDENT), rejected "
    "(error = mensagem do Protheus; corrija com PATCH) ou reversed (estornada no Protheus)."
)


def stop_filter(query: dict[str, Any]) -> queries.StopFilter:
    """The machine, line and window of a stop query."""
    line = query["line"]
    return queries.StopFilter(
        machine=query["machine"],
        line=split_line(line) if line is not None else None,
        start=query["from_"],
        end=query["to"],
    )


# The grouping, as the message says it.
PARETO_BY = {"reason": "motivo", "machine": "máquina", "state": "estado"}


@endpoint(
    service="production",
    scope="production:read",
    summary="Lista paradas de máquina, início mais recente primeiro",
    description=(
        "Paradas detectadas dos estados das máquinas (STOP_STATES por pelo menos STOP_MIN_S), "
        "com motivo do CLP, motivo do Protheus e envio. Filtros combinados com E: machine ou "
        "line (site/area/line), from/to (paradas que tocam a janela; uma aberta vai até "
        "agora) e status (pending = pending, sending e retrying). " + STATUS_RULES
    ),
    query=schemas.StopListQuery,
    response=schemas.StopListResponse,
    csv=Csv(rows="data", name="paradas", description="Uma linha por parada, todas as páginas."),
)
async def list_stops(request: web.Request, *, query: dict[str, Any], page: Page) -> Reply:
    data = await service.listing(
        get_mes_pool(request.app),
        get_protheus_context(request.app),
        page=page,
        where=stop_filter(query),
        line=query["line"],
        status=query["status"],
    )
    return Reply(data, f"Paradas retornadas com sucesso ({page.label(data['total'])}).")


@endpoint(
    service="production",
    scope="production:read",
    summary="Consulta uma parada e o seu envio ao Protheus",
    description=STATUS_RULES + " `history` lista as tentativas de envio.",
    path=schemas.StopPath,
    response=schemas.StopResponse,
    errors=(400, 401, 403, 404, 503),
)
async def get_stop(request: web.Request, *, path: dict[str, Any]) -> Reply:
    data = await service.get(
        get_mes_pool(request.app), get_protheus_context(request.app), path["id"]
    )
    return Reply(data, "Parada localizada.")


@endpoint(
    service="production",
    scope="production:write",
    summary="Classifica, reclassifica ou divide uma parada",
    description=(
        "Com `reason` (e opcionalmente `operator` e `note`): o motivo do Protheus da parada; "
        "motivo desconhecido = 422. Com `splitAt`: divide a parada fechada em [início, "
        "splitAt) (mesmo id) e [splitAt, fim) (nova; `splitInto` = [id, novoId]). A parada "
        "passa a manual (a detecção não a altera); sem motivo ou rejeitada, com motivo vai a "
        "pending e é enviada ao Protheus. Permitido em unclassified, pending (ainda não "
        "tomada para envio), retrying (sem resposta perdida) e rejected; open, sending, "
        "delivered e reversed = 409."
    ),
    path=schemas.StopPath,
    body=schemas.StopPatchBody,
    response=schemas.StopResponse,
    errors=(400, 401, 403, 404, 409, 413, 415, 422, 503),
)
async def change_stop(request: web.Request, *, path: dict[str, Any], body: dict[str, Any]) -> Reply:
    data = await service.change(
        get_mes_pool(request.app),
        get_protheus_context(request.app),
        path["id"],
        reason=body["reason"],
        operator=body.get("operator"),
        note=body.get("note"),
        sent=tuple(body),
        split_at=body["splitAt"],
        audit=in_transaction(request, 200),
    )
    if "split_into" in data:
        return Reply(data, "Parada dividida em duas.")
    return Reply(data, "Parada classificada.")


@endpoint(
    service="production",
    scope="production:read",
    summary="Motivos de parada do Protheus com o mapeamento dos motivos do CLP",
    description=(
        "Os motivos vivos da filial padrão (CYN, ou SX5 tabela 44 onde não há CYN), em ordem "
        "de código, cada um com os motivos do CLP mapeados para ele (`plcReasons`); códigos "
        "mapeados que o Protheus não tem mais vêm por último, sem descrição."
    ),
    response=schemas.StopReasonsResponse,
    errors=(401, 403, 503),
)
async def list_stop_reasons(request: web.Request) -> Reply:
    data = await service.reasons(get_mes_pool(request.app), get_protheus_context(request.app))
    return Reply(data, f"{len(data)} motivo(s) de parada.")


@endpoint(
    service="production",
    scope="admin",
    summary="Substitui o mapeamento de motivos do CLP para motivos de parada do Protheus",
    description=(
        "O corpo é o mapeamento inteiro; cada motivo do Protheus deve existir (senão 422 com "
        "um detalhe por entrada). Na mesma transação, as paradas sem motivo (não manuais, "
        "não offline) cujo motivo do CLP agora está mapeado são classificadas e enviadas."
    ),
    body=schemas.MappingBody,
    response=schemas.MappingResponse,
    errors=(400, 401, 403, 413, 415, 422, 503),
)
async def replace_mapping(request: web.Request, *, body: dict[str, Any]) -> Reply:
    data = await service.replace_mapping(
        get_mes_pool(request.app),
        get_protheus_context(request.app),
        mapping=body["mapping"],
        updated_by=request[CALLER].name,
        audit=in_transaction(request, 200),
    )
    return Reply(data, f"Mapeamento substituído; {data['reclassified']} parada(s) classificada(s).")


@endpoint(
    service="production",
    scope="production:read",
    summary="Pareto do tempo de parada por motivo, máquina ou estado",
    description=(
        "As paradas de uma máquina, de uma linha (site/area/line) ou de todas, recortadas à "
        "janela [from, to) (uma aberta até o menor entre to e agora), somadas por `by`: "
        "reason (motivo do Protheus; null = sem motivo), machine ou state. Linhas em ordem "
        "decrescente de segundos, com a participação (share) e a acumulada "
        "(cumulativeShare). Não paginado."
    ),
    query=schemas.ParetoQuery,
    response=schemas.ParetoResponse,
    csv=Csv(
        rows="rows",
        name=lambda params: f"pareto_paradas_{params['by'] or 'reason'}",
        description="Uma linha por grupo (rows), na ordem do Pareto.",
    ),
)
async def downtime_pareto(request: web.Request, *, query: dict[str, Any]) -> Reply:
    data = await service.downtime_pareto(
        get_mes_pool(request.app),
        get_protheus_context(request.app),
        where=stop_filter(query),
        line=query["line"],
        by=query["by"] or "reason",
    )
    word = PARETO_BY[data["by"]]
    return Reply(data, f"Pareto de paradas por {word}: {len(data['rows'])} linha(s).")

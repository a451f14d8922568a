"""Catalog handlers: @endpoint loads what each declares, one service call, a Reply its schema dumps."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from aiohttp import web

from services.catalog import schemas, service
from shared.endpoint import endpoint
from shared.envelope import Reply
from shared.keys import get_protheus_context, get_settings
from shared.pagination import Page, PageQuery

SCOPE = "catalog:read"
ERRORS_WITH_404 = (400, 401, 403, 404, 503)
RANKING_RULES = (
    "Ranking: +50 se a descrição contém o texto inteiro; com um termo, +30 se a descrição "
    "começa com ele, senão +20 se alguma palavra começa com ele, senão +10 se aparece em "
    "qualquer posição; com vários termos, por termo +25/+15/+5 pela mesma regra; mais 0 a 10 "
    "pela semelhança de tamanho: floor(10 * (1 - |len(d) - len(q)| / max(len(d), len(q)))). "
    "Ordem: relevance_score DESC, B1_COD. Textos comparados sem acentos e em maiúsculas."
)


def _today(request: web.Request) -> dt.date:
    """Today in the plant's time zone: the date BOM lines must be valid on by default."""
    return dt.datetime.now(get_settings(request.app).tz).date()


def _max_bom_rows(request: web.Request) -> int:
    return get_settings(request.app).catalog_max_bom_rows


@endpoint(
    service="catalog",
    scope=SCOPE,
    summary="Lista produtos (SB1) em ordem de código",
    description="Os primeiros `limit` produtos ativos em ordem de B1_COD; `total` é quantos vieram.",
    query=schemas.ListQuery,
    response=schemas.ListResponse,
)
async def list_products(request: web.Request, *, query: dict[str, Any]) -> Reply:
    data = await service.list_products(
        get_protheus_context(request.app),
        limit=query["limit"],
        include_blocked=query["include_blocked"],
    )
    return Reply(data, "Listagem realizada com sucesso!")


@endpoint(
    service="catalog",
    scope=SCOPE,
    summary="Busca avançada por descrição, com pontuação de relevância",
    description=(
        "Encontra produtos cuja descrição contém ao menos um termo do texto e os ordena por "
        "relevância. " + RANKING_RULES + " Use para perguntas como 'liste terminais bandeira'."
    ),
    query=schemas.DescriptionSearchQuery,
    response=schemas.DescriptionSearchResponse,
)
async def search_description(request: web.Request, *, query: dict[str, Any], page: Page) -> Reply:
    data = await service.search_by_description(
        get_protheus_context(request.app),
        description=query["description"],
        include_blocked=query["include_blocked"],
        page=page,
    )
    return Reply(data, "Busca por descrição realizada com sucesso.")


@endpoint(
    service="catalog",
    scope=SCOPE,
    summary="Pesquisa produtos por código, descrição e grupo",
    description=(
        "Filtros combinados com E: `code` (B1_COD contém), `group` (B1_GRUPO igual), "
        "`description` (a frase ou qualquer termo aparece). Pontuação: +50 frase inteira, "
        "+10 por termo presente, mais 0 a 10 pela semelhança de tamanho. "
        "Ordem: relevance_score DESC, B1_COD."
    ),
    query=schemas.ProductSearchQuery,
    response=schemas.ProductSearchResponse,
)
async def search_products(request: web.Request, *, query: dict[str, Any], page: Page) -> Reply:
    data = await service.search_products(
        get_protheus_context(request.app),
        code=query["code"],
        description=query["description"],
        group=query["group"],
        include_blocked=query["include_blocked"],
        page=page,
    )
    return Reply(data, f"Pesquisa de produtos realizada com sucesso ({page.label(data['total'])}).")


@endpoint(
    service="catalog",
    scope=SCOPE,
    summary="Consulta um produto pelo código",
    description="Dados do produto (SB1); `blocked` indica B1_MSBLQL = '1'. 404 se não existe.",
    path=schemas.CodePath,
    response=schemas.ProductResponse,
    errors=ERRORS_WITH_404,
)
async def get_product(request: web.Request, *, path: dict[str, Any]) -> Reply:
    data = await service.get_product(get_protheus_context(request.app), code=path["code"])
    return Reply(data, "Produto localizado com sucesso!")


TREE_ADVICE = (
    " Linhas em ordem de profundidade são paginadas (`total` conta as linhas abaixo da raiz); "
    "a página vem aninhada em `data.components` (trate recursivamente); um nó cujo pai está em "
    "página anterior aparece no topo com `parentCode`. `cycle: true` marca onde um ciclo foi "
    "cortado. Sempre pagine respostas grandes e mantenha max_depth entre 5 e 10."
)


@endpoint(
    service="catalog",
    scope=SCOPE,
    summary="Estrutura do produto (explosão da BOM, SG1)",
    description=(
        "Árvore de montagem do produto: componentes válidos na data (G1_INI..G1_FIM) e na "
        "revisão atual do pai (G1_REVINI..G1_REVFIM), com quantidade por pai (G1_QUANT) e "
        "acumulada para uma unidade da raiz (base B1_QB, perda G1_PERDA)." + TREE_ADVICE
    ),
    path=schemas.CodePath,
    query=schemas.TreeQuery,
    response=schemas.TreeResponse,
    errors=ERRORS_WITH_404,
)
async def structure(
    request: web.Request, *, path: dict[str, Any], query: dict[str, Any], page: Page
) -> Reply:
    data = await _tree(request, path, query, page, upward=False)
    return Reply(
        data,
        f"Estrutura do produto {path['code']} retornada com sucesso ({page.label(data['total'])}).",
    )


@endpoint(
    service="catalog",
    scope=SCOPE,
    summary="Onde é usado: produtos pai do item (SG1 inversa)",
    description=(
        "Todos os produtos que usam o item, direta ou indiretamente, até max_depth níveis, "
        "com `cumulativeQuantity` = quanto do item uma unidade daquele ancestral consome."
        + TREE_ADVICE
    ),
    path=schemas.CodePath,
    query=schemas.TreeQuery,
    response=schemas.TreeResponse,
    errors=ERRORS_WITH_404,
)
async def parents(
    request: web.Request, *, path: dict[str, Any], query: dict[str, Any], page: Page
) -> Reply:
    data = await _tree(request, path, query, page, upward=True)
    return Reply(
        data,
        f"Produtos pai de {path['code']} retornados com sucesso ({page.label(data['total'])}).",
    )


@endpoint(
    service="catalog",
    scope=SCOPE,
    summary="Fornecedores do produto (SA5 + SA2)",
    description="Amarrações produto x fornecedor: A5_FORNECE, A5_LOJA, A2_NOME, A5_CODPRF (código no fornecedor).",
    path=schemas.CodePath,
    query=PageQuery,
    response=schemas.SuppliersResponse,
    errors=ERRORS_WITH_404,
)
async def suppliers(request: web.Request, *, path: dict[str, Any], page: Page) -> Reply:
    code = path["code"]
    data = await service.suppliers(get_protheus_context(request.app), code=code, page=page)
    return Reply(
        data, f"Fornecedores de {code} retornados com sucesso ({page.label(data['total'])})."
    )


@endpoint(
    service="catalog",
    scope=SCOPE,
    summary="Itens de notas fiscais de entrada do produto (SD1)",
    description=(
        "Itens de NF de entrada, mais recentes primeiro. `supplier_name` nomeia o parceiro: "
        "fornecedor (SA2) nas notas normais, cliente (SA1) nas de tipo D (devolução) e B "
        "(beneficiamento); `partnerType` diz qual. `supplier` filtra as notas normais daquele "
        "fornecedor, `customer` as de tipo D/B daquele cliente (o mesmo código pode existir nos dois)."
    ),
    path=schemas.CodePath,
    query=schemas.InboundQuery,
    response=schemas.InboundResponse,
    errors=ERRORS_WITH_404,
)
async def inbound_invoice_items(
    request: web.Request, *, path: dict[str, Any], query: dict[str, Any], page: Page
) -> Reply:
    return await _invoice_items(request, path, query, page, "inbound")


@endpoint(
    service="catalog",
    scope=SCOPE,
    summary="Itens de notas fiscais de saída do produto (SD2)",
    description=(
        "Itens de NF de saída, mais recentes primeiro. `customer_name` nomeia o parceiro: "
        "cliente (SA1) nas notas normais, fornecedor (SA2) nas de tipo D e B; `partnerType` diz qual. "
        "`customer` filtra as notas normais daquele cliente, `supplier` as de tipo D/B daquele "
        "fornecedor."
    ),
    path=schemas.CodePath,
    query=schemas.OutboundQuery,
    response=schemas.OutboundResponse,
    errors=ERRORS_WITH_404,
)
async def outbound_invoice_items(
    request: web.Request, *, path: dict[str, Any], query: dict[str, Any], page: Page
) -> Reply:
    return await _invoice_items(request, path, query, page, "outbound")


@endpoint(
    service="catalog",
    scope=SCOPE,
    summary="Estoque do produto por filial e armazém (SB2)",
    description=(
        "Saldos por filial e armazém. Chaves do guia preenchidas das colunas reais: "
        "B2_QPEDI = B2_SALPEDI (entrada prevista), B2_QTREC = B2_QACLASS (a classificar), "
        "B2_SEGUM = B1_SEGUM. `available` = B2_QATU - B2_RESERVA - B2_QEMP - B2_QACLASS."
    ),
    path=schemas.CodePath,
    query=schemas.StockQuery,
    response=schemas.StockResponse,
    errors=ERRORS_WITH_404,
)
async def stock(
    request: web.Request, *, path: dict[str, Any], query: dict[str, Any], page: Page
) -> Reply:
    code = path["code"]
    data = await service.stock(
        get_protheus_context(request.app),
        code=code,
        branch=query["branch"],
        location=query["location"],
        page=page,
    )
    return Reply(data, f"Estoque de {code} retornado com sucesso ({page.label(data['total'])}).")


@endpoint(
    service="catalog",
    scope=SCOPE,
    summary="Roteiro de produção (SG2) do produto e, opcionalmente, dos componentes",
    description=(
        "Operações do roteiro do produto (B1_OPERPAD, senão '01'). Com include_components=true, "
        "também dos componentes da estrutura até max_depth, com bomLevel. Ordem: bomLevel, "
        "G2_PRODUTO, operação. G2_OPER = G2_OPERAC e G2_TEMPO = G2_TEMPAD (horas), como gravados."
    ),
    path=schemas.CodePath,
    query=schemas.GuideQuery,
    response=schemas.GuideResponse,
    errors=ERRORS_WITH_404,
)
async def guide(
    request: web.Request, *, path: dict[str, Any], query: dict[str, Any], page: Page
) -> Reply:
    code = path["code"]
    data = await service.guide(
        get_protheus_context(request.app),
        code=code,
        branch=query["branch"],
        include_components=query["include_components"],
        max_depth=query["max_depth"],
        page=page,
        date=_today(request),
        max_rows=_max_bom_rows(request),
    )
    return Reply(data, f"Roteiro de produção retornado com sucesso ({page.label(data['total'])}).")


INVOICE_KIND = {"inbound": "entrada", "outbound": "saída"}


async def _invoice_items(
    request: web.Request,
    path: dict[str, Any],
    query: dict[str, Any],
    page: Page,
    direction: Literal["inbound", "outbound"],
) -> Reply:
    """Both invoice routes: the same filters, SD1 or SD2 by direction."""
    code = path["code"]
    data = await service.invoice_items(
        get_protheus_context(request.app),
        code=code,
        direction=direction,
        branch=query["branch"],
        supplier=query["supplier"],
        customer=query["customer"],
        issue_date_start=query["issue_date_start"],
        issue_date_end=query["issue_date_end"],
        page=page,
    )
    kind = INVOICE_KIND[direction]
    return Reply(
        data,
        f"Notas fiscais de {kind} de {code} retornadas com sucesso ({page.label(data['total'])}).",
    )


async def _tree(
    request: web.Request, path: dict[str, Any], query: dict[str, Any], page: Page, *, upward: bool
) -> dict[str, Any]:
    """Both BOM routes: the same parameters, down the structure or up to the parents."""
    return await service.tree(
        get_protheus_context(request.app),
        upward=upward,
        code=path["code"],
        max_depth=query["max_depth"],
        date=query["date"] or _today(request),
        shape=query["format"],
        page=page,
        max_rows=_max_bom_rows(request),
    )

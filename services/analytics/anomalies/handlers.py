"""Anomaly handlers: @endpoint loads and validates, one service call, a Reply the response
schema dumps into the envelope."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from services.analytics.anomalies import queries, schemas, service
from shared.endpoint import endpoint
from shared.envelope import Reply
from shared.keys import get_mes_pool
from shared.lines import split_line
from shared.pagination import Page

KINDS_RULES = (
    "Tipos: spike (salto isolado que volta), stuck (valor parado por ANOMALY_STUCK_S com a "
    "máquina rodando), out_of_range (fora de ANOMALY_LIMITS) e drift (deriva lenta de uma ou "
    "mais métricas da máquina). Eventos abertos têm end = null."
)


def anomaly_filter(query: dict[str, Any], *, machine: str | None) -> queries.AnomalyFilter:
    line = query.get("line")
    return queries.AnomalyFilter(
        machine=machine,
        line=split_line(line) if line is not None else None,
        kind=query["kind"],
        status=query["status"],
        start=query["from_"],
        end=query["to"],
    )


@endpoint(
    service="analytics",
    scope="telemetry:read",
    summary="Lista anomalias detectadas na telemetria, início mais recente primeiro",
    description=(
        "Eventos do detector de anomalias (leitura contínua da telemetria gravada). Filtros "
        "combinados com E: machine, line (site/area/line), kind, status (open/closed), "
        "from/to (eventos que tocam a janela). " + KINDS_RULES
    ),
    query=schemas.AnomalyQuery,
    response=schemas.AnomalyListResponse,
)
async def list_anomalies(request: web.Request, *, query: dict[str, Any], page: Page) -> Reply:
    data = await service.listing(
        get_mes_pool(request.app),
        page=page,
        where=anomaly_filter(query, machine=query["machine"]),
        line=query["line"],
    )
    return Reply(data, f"Anomalias retornadas com sucesso ({page.label(data['total'])}).")


@endpoint(
    service="analytics",
    scope="telemetry:read",
    summary="Lista as anomalias de uma máquina, início mais recente primeiro",
    description=(
        "Os filtros de /api/v1/anomalies exceto machine e line; máquina desconhecida (nem no "
        "SH1 nem na telemetria) = 404. " + KINDS_RULES
    ),
    path=schemas.MachinePath,
    query=schemas.MachineAnomalyQuery,
    response=schemas.AnomalyListResponse,
    errors=(400, 401, 403, 404, 503),
)
async def machine_anomalies(
    request: web.Request, *, path: dict[str, Any], query: dict[str, Any], page: Page
) -> Reply:
    data = await service.listing(
        get_mes_pool(request.app),
        page=page,
        where=anomaly_filter(query, machine=path["machine"]),
        line=None,
        check_machine=True,
    )
    return Reply(data, f"Anomalias da máquina retornadas ({page.label(data['total'])}).")

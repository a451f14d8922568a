"""Risk handlers: @endpoint loads and validates, one service call, a Reply the response schema
dumps into the envelope."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from services.analytics.risk import schemas, service
from shared.endpoint import endpoint
from shared.envelope import Reply
from shared.keys import SETTINGS, get_mes_pool
from shared.lines import split_line
from shared.pagination import Page

RISK_RULES = (
    "risk é a probabilidade de um estado fault começar nas horizonH horas seguintes à hora "
    "avaliada (hour), segundo o modelo ativo (python -m services.analytics.risk train); null "
    "enquanto não há modelo ou a máquina não foi avaliada. topFeatures: as variáveis que mais "
    "elevam o risco. alert: aberto ao atingir threshold (RISK_ALERT), fechado abaixo de "
    "RISK_ALERT - RISK_ALERT_HYSTERESIS."
)


@endpoint(
    service="analytics",
    scope="telemetry:read",
    summary="Risco de falha de uma máquina nas próximas horas",
    description=RISK_RULES,
    path=schemas.MachinePath,
    response=schemas.MachineRiskResponse,
    errors=(400, 401, 403, 404, 503),
)
async def machine_risk(request: web.Request, *, path: dict[str, Any]) -> Reply:
    data = await service.machine_risk(
        get_mes_pool(request.app), request.app[SETTINGS], path["machine"]
    )
    return Reply(data, f"Risco de falha da máquina {path['machine']}.")


@endpoint(
    service="analytics",
    scope="telemetry:read",
    summary="Máquinas ordenadas pelo risco de falha",
    description="Maior risco primeiro; máquinas sem avaliação por último. " + RISK_RULES,
    query=schemas.RankingQuery,
    response=schemas.RankingResponse,
)
async def maintenance_risk(request: web.Request, *, query: dict[str, Any], page: Page) -> Reply:
    line = query["line"]
    data = await service.ranking(
        get_mes_pool(request.app),
        request.app[SETTINGS],
        page=page,
        line=split_line(line) if line is not None else None,
        line_text=line,
    )
    return Reply(data, f"Risco de falha por máquina ({page.label(data['total'])}).")

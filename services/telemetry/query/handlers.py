"""Telemetry query handlers: validate, call one service function, answer in the envelope."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from services.telemetry.query import plant as plant_service
from services.telemetry.query import schemas, service
from services.telemetry.query.keys import get_shift_calendar
from services.telemetry.query.oee import service as oee
from services.telemetry.query.oee.present import oee_csv_rows
from services.telemetry.query.schemas import (
    MAX_BUCKETS,
    MAX_OEE_DAYS,
    MAX_PAYLOAD_BYTES,
    MAX_POINTS,
    MAX_RAW_HOURS,
    MAX_STATE_INTERVALS,
)
from shared.csv_export import Csv
from shared.endpoint import endpoint
from shared.envelope import Reply
from shared.keys import get_mes_pool, get_protheus_context, get_settings
from shared.pagination import Page

SERVICE = "telemetry"
SCOPE = "telemetry:read"
KNOWN = (
    "Uma máquina é conhecida se está no cadastro de recursos do Protheus (SH1, H1_CODIGO) ou "
    "já enviou dados por MQTT; senão 404. "
)
WINDOW = (
    "`from` e `to` são obrigatórios, ISO-8601 com fuso (ex.: 2024-05-01T08:00:00-03:00 ou ...Z; "
    "sem fuso = 400), janela [from, to) com to > from. Horários da resposta vêm no fuso da "
    "planta (PLANT_TIMEZONE), com offset. "
)
MACHINE_ERRORS = (400, 401, 403, 404, 503)


@endpoint(
    service=SERVICE,
    scope=SCOPE,
    summary="Lista as máquinas conhecidas com estado atual",
    description=(
        "Todas as máquinas conhecidas: as do cadastro SH1 do Protheus e as que já enviaram "
        "dados por MQTT, em ordem de código. Cada item traz machine, site, area, line (do "
        "tópico MQTT; null se nunca enviou), description (H1_DESCRI; null fora do SH1), "
        "inProtheus, lastSeen (hora da última mensagem), state (estado atual: a última "
        "mensagem de estado; null se nenhuma), stateReason e stateSince. values=true acrescenta "
        "`metrics` (último valor de cada métrica). Filtros: line (site/area/line) e state. "
        "Pagine com page e page_size (1 a 500, padrão 50). Com o Protheus fora do ar a lista "
        "traz só as máquinas do MES e a mensagem avisa."
    ),
    query=schemas.MachineListQuery,
    response=schemas.MachineListResponse,
)
async def list_machines(request: web.Request, *, query: dict[str, Any], page: Page) -> Reply:
    app = request.app
    data, note = await service.list_machines(
        get_mes_pool(app),
        get_protheus_context(app),
        page=page,
        line=query["line"],
        state=query["state"],
        values=query["values"],
        tz=get_settings(app).tz,
    )
    message = f"Máquinas retornadas com sucesso ({page.label(data['total'])})."
    return Reply(data, f"{message} {note}" if note else message)


@endpoint(
    service=SERVICE,
    scope=SCOPE,
    summary="Último valor de cada métrica de uma máquina e seu estado atual",
    description=(
        "Para cada métrica já enviada pela máquina, o último valor e sua hora ({metric, value, "
        "ts}; booleanos como 0/1), em ordem de nome, mais o estado atual (state, stateReason, "
        "stateSince) e site/area/line/lastSeen. " + KNOWN + "Uma máquina só do SH1 responde "
        "200 com metrics vazio e state null."
    ),
    path=schemas.MachinePath,
    response=schemas.LatestResponse,
    errors=MACHINE_ERRORS,
)
async def latest(request: web.Request, *, path: dict[str, Any]) -> Reply:
    app, machine = request.app, path["machine"]
    data = await service.latest(
        get_mes_pool(app), get_protheus_context(app), machine=machine, tz=get_settings(app).tz
    )
    return Reply(data, f"Últimos valores da máquina {machine} retornados com sucesso.")


@endpoint(
    service=SERVICE,
    scope=SCOPE,
    summary="Série temporal de uma métrica: pontos brutos ou agregados por balde",
    description=(
        "Sem bucket: pontos brutos {ts, value} em ordem de tempo; janela de no máximo "
        f"{MAX_RAW_HOURS} h e {MAX_POINTS} pontos (acima disso 400 com a contagem: use bucket). "
        "Com bucket (1m, 15m, 1h, 1d): uma linha por balde não vazio {bucket, <agregações>}, "
        "bucket = início do balde; 1m/15m/1h alinhados à época em UTC, 1d à meia-noite da "
        "planta; baldes sem pontos são omitidos; agg escolhe as agregações (avg, min, max, "
        f"last, count; padrão avg). No máximo {MAX_BUCKETS} baldes por consulta (senão 400: "
        "use um balde maior). " + WINDOW + KNOWN
    ),
    path=schemas.MachinePath,
    query=schemas.SeriesQuery,
    response=schemas.SeriesResponse,
    errors=MACHINE_ERRORS,
    csv=Csv(
        rows="points",
        name=lambda params: f"telemetria_{params['machine']}_{params['metric']}",
        columns=schemas.series_columns,
        description="Uma linha por ponto: ts, value (brutos) ou bucket e as agregações de agg.",
    ),
)
async def series(request: web.Request, *, path: dict[str, Any], query: dict[str, Any]) -> Reply:
    app, machine = request.app, path["machine"]
    data = await service.series(
        get_mes_pool(app),
        get_protheus_context(app),
        machine=machine,
        metric=query["metric"],
        start=query["from_"],
        end=query["to"],
        bucket=query["bucket"],
        aggregates=query["agg"],
        tz=get_settings(app).tz,
    )
    return Reply(
        data,
        f"Série de {query['metric']} da máquina {machine} retornada com sucesso "
        f"({len(data['points'])} linha(s)).",
    )


@endpoint(
    service=SERVICE,
    scope=SCOPE,
    summary="Linha do tempo de estados de uma máquina",
    description=(
        "Intervalos {state, reason, start, end}: cada mensagem de estado vale até a próxima "
        "mensagem de estado da máquina. O estado em vigor em `from` (última mensagem antes "
        "dele) entra recortado a partir de `from`; o último intervalo termina no menor entre "
        "`to` e agora (data.to traz esse fim efetivo); mensagens seguidas com o mesmo estado e "
        "motivo formam um só intervalo. Antes da primeira mensagem conhecida não há intervalo. "
        f"No máximo {MAX_STATE_INTERVALS} intervalos (senão 400). " + WINDOW + KNOWN
    ),
    path=schemas.MachinePath,
    query=schemas.WindowQuery,
    response=schemas.StatesResponse,
    errors=MACHINE_ERRORS,
)
async def states(request: web.Request, *, path: dict[str, Any], query: dict[str, Any]) -> Reply:
    app, machine = request.app, path["machine"]
    data = await service.states(
        get_mes_pool(app),
        get_protheus_context(app),
        machine=machine,
        start=query["from_"],
        end=query["to"],
        tz=get_settings(app).tz,
    )
    return Reply(
        data,
        f"Estados da máquina {machine} retornados com sucesso "
        f"({len(data['intervals'])} intervalo(s)).",
    )


@endpoint(
    service=SERVICE,
    scope=SCOPE,
    summary="Contagens de peças boas e refugo de uma máquina por balde",
    description=(
        "Linhas {bucket, good, scrap}: soma das mensagens de contador (cada uma traz as peças "
        "desde a anterior e conta no balde do seu ts) por balde não vazio. bucket é "
        "obrigatório (1m, 15m, 1h alinhados à época em UTC; 1d à meia-noite da planta), "
        f"no máximo {MAX_BUCKETS} baldes. " + WINDOW + KNOWN
    ),
    path=schemas.MachinePath,
    query=schemas.CounterQuery,
    response=schemas.CountersResponse,
    errors=MACHINE_ERRORS,
)
async def counters(request: web.Request, *, path: dict[str, Any], query: dict[str, Any]) -> Reply:
    app, machine = request.app, path["machine"]
    data = await service.counters(
        get_mes_pool(app),
        get_protheus_context(app),
        machine=machine,
        start=query["from_"],
        end=query["to"],
        bucket=query["bucket"],
        tz=get_settings(app).tz,
    )
    return Reply(data, f"Contadores da máquina {machine} retornados com sucesso.")


@endpoint(
    service=SERVICE,
    scope=SCOPE,
    summary="Mensagens MQTT recusadas (dead letters), mais recentes primeiro",
    description=(
        "Mensagens que não cabiam no contrato MQTT (tópico, JSON, campo ou horário inválido), "
        "guardadas com o motivo: {id, receivedAt, topic, payload, payloadSize, reason}, da mais "
        "recente para a mais antiga. payload é decodificado como UTF-8 (bytes inválidos viram "
        f"U+FFFD) e cortado em {MAX_PAYLOAD_BYTES} bytes; payloadSize é o tamanho original. "
        "Pagine com page e page_size (1 a 500, padrão 50)."
    ),
    query=schemas.DeadLetterQuery,
    response=schemas.DeadLetterResponse,
)
async def dead_letters(request: web.Request, *, page: Page) -> Reply:
    data = await service.dead_letters(
        get_mes_pool(request.app), page=page, tz=get_settings(request.app).tz
    )
    return Reply(data, f"Mensagens recusadas retornadas com sucesso ({page.label(data['total'])}).")


@endpoint(
    service=SERVICE,
    scope=SCOPE,
    summary="OEE de uma máquina ou linha numa janela",
    description=(
        "Informe machine ou line (site/area/line; não ambos) e a janela. Tempo planejado = "
        "SHIFT_CALENDAR (turnos no fuso da planta; ausente = sempre planejado) dentro de "
        "[from, min(to, agora)). Estados recortados à janela e ao tempo planejado, o estado em "
        "vigor em `from` incluído. availability = runningTime / plannedTime; performance = "
        "soma dos tempos ideais das ordens / runningTime (G2_TEMPAD em horas conforme "
        "PROTHEUS_TIME_FORMAT; G2_TEMPAD 0 = sem tempo padrão: performance e oee null); "
        "quality = good / "
        "(good + scrap) dos contadores MQTT; oee = produto. Frações entre 0 e 1 (limitadas a "
        "1); denominador zero dá null. Contagens valem quando o ts do contador cai no tempo "
        "planejado. losses = [{state, reason, seconds}] dos estados não-running no tempo "
        "planejado (state `unknown` = tempo planejado sem estado conhecido), maior primeiro. "
        "Uma linha soma os tempos e contagens de suas máquinas antes das razões e traz "
        "byMachine. Um contador sem `order` pertence à ordem do apontamento de produção (SH6) da "
        "máquina que cobre o seu horário, senão do último iniciado antes dele na janela; a "
        "operação é a do apontamento (H6_OPERAC); com `order`, a do apontamento dessa ordem "
        "nesse horário, senão a primeira do roteiro na máquina. Tempo ideal por G2_TPOPER: "
        "1/vazio/4 = "
        "G2_TEMPAD / G2_LOTEPAD por unidade, dividido por H1_MAOOBRA; 2/3 = G2_TEMPAD uma vez "
        "por ordem/operação na janela. "
        "`orders` mostra a ordem, operação e tempo ideal usados; sem tempo ideal ou "
        "com o Protheus fora do ar, performance e oee são null e a mensagem explica. "
        f"Janela de no máximo {MAX_OEE_DAYS} dias. " + WINDOW
    ),
    query=schemas.OeeQuery,
    response=schemas.OeeResponse,
    errors=MACHINE_ERRORS,
    csv=Csv(
        rows=oee_csv_rows,
        item=schemas.OeeCsvRow,
        name=lambda params: f"oee_{params['machine'] or params['line']}",
        description=(
            "A primeira linha traz os números da máquina ou da linha (losses numa célula JSON, "
            "notes unidas por ' | '); para uma linha, seguem as suas máquinas (byMachine), uma "
            "por linha, sem idealTime, losses e notes. orders só no JSON."
        ),
    ),
)
async def overall_equipment_effectiveness(request: web.Request, *, query: dict[str, Any]) -> Reply:
    app = request.app
    settings = get_settings(app)
    data, notes = await oee.overall_equipment_effectiveness(
        get_mes_pool(app),
        get_protheus_context(app),
        calendar=get_shift_calendar(app),
        tz=settings.tz,
        time_format=settings.protheus_time_format,
        start=query["from_"],
        end=query["to"],
        machine=query["machine"],
        line=query["line"],
    )
    subject = f"da máquina {query['machine']}" if query["machine"] else f"da linha {query['line']}"
    return Reply(data, " ".join([f"OEE {subject} calculado com sucesso.", *notes]))


@endpoint(
    service=SERVICE,
    scope=SCOPE,
    summary="Resumo da planta: máquinas por linha, estado, ordem e OEE do turno",
    description=(
        "Todas as máquinas agrupadas por linha (site, area, line; as do SH1 que nunca enviaram "
        "dados vêm por último, num grupo com line null), cada uma com description (H1_DESCRI), "
        "state, stateSince, lastSeen, order (a ordem do último contador), product (C2_PRODUTO "
        "da ordem) e oee {availability, performance, quality, oee} do turno atual até agora — "
        "os mesmos números que /api/v1/oee dá para a máquina e essa janela (null nos mesmos "
        "casos). `shift` é o turno atual pelo SHIFT_CALENDAR, no fuso da planta (entre turnos, "
        "o último encerrado); sem SHIFT_CALENDAR, o dia inteiro da planta. Um número fixo de "
        "consultas, qualquer que seja o tamanho da planta."
    ),
    response=schemas.PlantResponse,
    errors=(401, 403, 503),
)
async def plant(request: web.Request) -> Reply:
    app = request.app
    settings = get_settings(app)
    data, notes = await plant_service.plant_summary(
        get_mes_pool(app),
        get_protheus_context(app),
        calendar=get_shift_calendar(app),
        tz=settings.tz,
        time_format=settings.protheus_time_format,
    )
    return Reply(data, " ".join(["Resumo da planta retornado.", *notes]))

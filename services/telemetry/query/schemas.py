"""Request schemas of the telemetry query routes (they validate and feed OpenAPI) and response
schemas (they document the answers; a test dumps every answer through its schema)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import marshmallow as ma
from marshmallow import fields

from services.telemetry.query.queries import AGGREGATES, BUCKETS
from shared.csv_export import FormatQuery
from shared.envelope import envelope, paged_envelope
from shared.lines import MACHINE_MAX, NOT_BOTH, check_machine_or_line, line_rule, machine_filter
from shared.pagination import PageQuery
from shared.validation import (
    CONTROLS,
    SPACES,
    WINDOW_ORDER,
    Boolean,
    Refusal,
    Schema,
    String,
    Timestamp,
    char_class,
    check_window_order,
    max_length,
    one_of,
    tagged,
    window_from,
)

STATES = ("running", "idle", "setup", "stopped", "fault", "offline")
MAX_POINTS = 100_000
MAX_BUCKETS = 100_000
MAX_STATE_INTERVALS = 100_000
MAX_RAW_HOURS = 24
MAX_OEE_DAYS = 366
MAX_PAYLOAD_BYTES = 65_536

INSTANT = "ISO-8601 com fuso, no fuso da planta (PLANT_TIMEZONE)."


class AggregateList(String):
    """A comma list of aggregates, loaded as a tuple without repeats, in the order asked."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        text = super()._deserialize(value, attr, data, **kwargs)
        if text is None:
            return None
        names = [name.strip().lower() for name in text.split(",") if name.strip()]
        unknown = [name for name in names if name not in AGGREGATES]
        if unknown or not names:
            raise ma.ValidationError(
                tagged(
                    "choice",
                    f"agregação desconhecida {', '.join(unknown) or text!r}; use uma lista "
                    f"separada por vírgulas de: {', '.join(AGGREGATES)}.",
                )
            )
        return tuple(dict.fromkeys(names))

    def openapi_properties(self) -> dict[str, Any]:
        """Names in any case, blanks around each, empty items skipped, at least one name."""
        blank = f"[{char_class(''.join(ch for ch in SPACES if ch not in CONTROLS))}]*"
        name = "|".join("".join(f"[{c.lower()}{c.upper()}]" for c in n) for n in AGGREGATES)
        item = f"{blank}(?:{name})?{blank}"
        listed = f"(?:{item},)*{blank}(?:{name}){blank}(?:,{item})*"
        spaces = f"[{char_class(SPACES)}]*"
        return {"pattern": f"^{spaces}(?:{listed})?{spaces}$"}


def _to(
    description: str = "Fim da janela (exclusivo), ISO-8601 com fuso; deve ser > from.",
) -> Timestamp:
    return Timestamp(required=True, metadata={"description": description})


def _bucket(required: bool) -> String:
    absent = "obrigatório" if required else "ausente = pontos brutos"
    return String(
        required=required,
        load_default=ma.missing if required else None,
        validate=one_of(BUCKETS, optional=True),
        metadata={
            "description": (
                f"Tamanho do balde: {', '.join(BUCKETS)} ({absent}). 1m, 15m e 1h alinham à "
                "época em UTC; 1d segue o dia da planta (meia-noite em PLANT_TIMEZONE). "
                "Baldes vazios são omitidos."
            )
        },
    )


class WindowQuery(Schema):
    """`from` and `to`, both with an offset, `to` after `from`."""

    from_ = window_from("Início da janela (inclusive), ISO-8601 com fuso.", required=True)
    to = _to()

    refusals: ClassVar[tuple[Refusal, ...]] = (WINDOW_ORDER,)

    @ma.validates_schema
    def window_in_order(self, data: dict[str, Any], **_: Any) -> None:
        check_window_order(data)


class MachinePath(Schema):
    machine = String(
        required=True,
        validate=max_length(MACHINE_MAX),
        metadata={"description": "Código da máquina (H1_CODIGO do SH1, o mesmo do tópico MQTT)."},
    )


class MachineListQuery(PageQuery):
    line = String(
        load_default=None,
        validate=line_rule,
        metadata={"description": "Só as máquinas da linha site/area/line (como no tópico MQTT)."},
    )
    state = String(
        load_default=None,
        validate=one_of(STATES, optional=True),
        metadata={"description": f"Só as máquinas no estado atual: {', '.join(STATES)}."},
    )
    values = Boolean(
        load_default=False,
        metadata={
            "description": "true: cada máquina traz também `metrics`, o último valor de cada métrica."
        },
    )


class SeriesQuery(WindowQuery, FormatQuery):
    metric = String(
        required=True,
        validate=max_length(200),
        metadata={"description": "Nome da métrica, como enviada em `metrics` no MQTT."},
    )
    bucket = _bucket(required=False)
    agg = AggregateList(
        load_default=None,
        metadata={
            "description": (
                f"Agregações por balde, lista separada por vírgulas de {', '.join(AGGREGATES)} "
                "(padrão avg). Só vale com bucket. last = valor do ponto mais recente do balde."
            )
        },
    )

    refusals = (
        Refusal("agg", "requires", "agg só vale com bucket."),
        Refusal("to", "range", f"sem bucket, a janela pode ter no máximo {MAX_RAW_HOURS} h."),
        Refusal("to", "limit", f"sem bucket, no máximo {MAX_POINTS} pontos brutos na janela."),
        Refusal("bucket", "limit", f"no máximo {MAX_BUCKETS} baldes na janela."),
    )

    @ma.validates_schema
    def aggregates_need_buckets(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("agg") and not data.get("bucket"):
            raise ma.ValidationError(
                tagged(
                    "requires", "só vale com `bucket`; sem bucket a resposta são pontos brutos."
                ),
                field_name="agg",
            )


class CounterQuery(WindowQuery):
    bucket = _bucket(required=True)

    refusals = (Refusal("bucket", "limit", f"no máximo {MAX_BUCKETS} baldes na janela."),)


class DeadLetterQuery(PageQuery):
    pass


class OeeQuery(WindowQuery, FormatQuery):
    machine = machine_filter()
    line = String(
        load_default=None,
        validate=line_rule,
        metadata={
            "description": (
                "Uma linha site/area/line: as máquinas dela são somadas antes das razões. "
                "Informe machine ou line, não ambos."
            )
        },
    )

    refusals = (
        NOT_BOTH,
        Refusal("machine", "required", "informe machine ou line."),
        Refusal("to", "range", f"a janela do OEE pode ter no máximo {MAX_OEE_DAYS} dias."),
    )

    @ma.validates_schema
    def machine_or_line(self, data: dict[str, Any], **_: Any) -> None:
        check_machine_or_line(data, required=True)


# --- responses (OpenAPI documentation) ---------------------------------------------------------


class MetricValue(ma.Schema):
    metric = fields.String()
    value = fields.Float()
    ts = fields.String(metadata={"description": INSTANT})


class MachineItem(ma.Schema):
    machine = fields.String(metadata={"description": "Código da máquina (H1_CODIGO)."})
    site = fields.String(
        allow_none=True, metadata={"description": "Do tópico MQTT; null se nunca enviou."}
    )
    area = fields.String(allow_none=True)
    line = fields.String(allow_none=True)
    description = fields.String(
        allow_none=True, metadata={"description": "H1_DESCRI; null se a máquina não está no SH1."}
    )
    inProtheus = fields.Boolean(metadata={"description": "true se a máquina está no SH1."})
    lastSeen = fields.String(
        allow_none=True,
        metadata={"description": "Hora da última mensagem (ts do payload). " + INSTANT},
    )
    state = fields.String(
        allow_none=True,
        metadata={
            "description": f"Estado atual ({', '.join(STATES)}); null sem mensagens de estado."
        },
    )
    stateReason = fields.String(allow_none=True)
    stateSince = fields.String(allow_none=True, metadata={"description": INSTANT})
    metrics = fields.List(
        fields.Nested(MetricValue), metadata={"description": "Só com values=true."}
    )


class MachineFilters(ma.Schema):
    """The filters applied, as asked (null when not asked)."""

    line = fields.String(allow_none=True)
    state = fields.String(allow_none=True)
    values = fields.Boolean()


MachineListResponse = paged_envelope(
    MachineItem, name="MachineListResponse", page_name="MachinePage", filters=MachineFilters
)


class LatestData(ma.Schema):
    machine = fields.String()
    site = fields.String(allow_none=True)
    area = fields.String(allow_none=True)
    line = fields.String(allow_none=True)
    lastSeen = fields.String(allow_none=True, metadata={"description": INSTANT})
    state = fields.String(
        allow_none=True, metadata={"description": "Estado atual; null sem mensagens."}
    )
    stateReason = fields.String(allow_none=True)
    stateSince = fields.String(allow_none=True, metadata={"description": INSTANT})
    metrics = fields.List(fields.Nested(MetricValue))


LatestResponse = envelope(LatestData, name="LatestResponse")


class SeriesPoint(ma.Schema):
    ts = fields.String(metadata={"description": "Sem bucket: hora do ponto. " + INSTANT})
    value = fields.Float(metadata={"description": "Sem bucket: valor (booleanos como 0/1)."})
    bucket = fields.String(metadata={"description": "Com bucket: início do balde. " + INSTANT})
    avg = fields.Float()
    min = fields.Float()
    max = fields.Float()
    last = fields.Float()
    count = fields.Integer()

    @ma.post_dump(pass_original=True)
    def in_asked_order(self, data: dict[str, Any], original: Any, **_: Any) -> dict[str, Any]:
        """The aggregates come in the order `agg` listed them, not in the declared one."""
        return {key: data[key] for key in original if key in data}


class SeriesData(ma.Schema):
    machine = fields.String()
    metric = fields.String()
    bucket = fields.String(allow_none=True)
    agg = fields.List(fields.String())
    from_ = fields.String(attribute="from", data_key="from")
    to = fields.String()
    points = fields.List(fields.Nested(SeriesPoint))


SeriesResponse = envelope(SeriesData, name="SeriesResponse")


class StateInterval(ma.Schema):
    state = fields.String()
    reason = fields.String(allow_none=True)
    start = fields.String(metadata={"description": INSTANT})
    end = fields.String(metadata={"description": INSTANT})


class StatesData(ma.Schema):
    machine = fields.String()
    from_ = fields.String(attribute="from", data_key="from")
    to = fields.String(metadata={"description": "Fim efetivo: o menor entre `to` e agora."})
    intervals = fields.List(fields.Nested(StateInterval))


StatesResponse = envelope(StatesData, name="StatesResponse")


class CounterBucket(ma.Schema):
    bucket = fields.String(metadata={"description": INSTANT})
    good = fields.Integer()
    scrap = fields.Integer()


class CountersData(ma.Schema):
    machine = fields.String()
    bucket = fields.String()
    from_ = fields.String(attribute="from", data_key="from")
    to = fields.String()
    buckets = fields.List(fields.Nested(CounterBucket))


CountersResponse = envelope(CountersData, name="CountersResponse")


class DeadLetter(ma.Schema):
    id = fields.Integer()
    receivedAt = fields.String(metadata={"description": INSTANT})
    topic = fields.String()
    payload = fields.String(
        metadata={
            "description": (
                f"Payload decodificado como UTF-8 (bytes inválidos viram U+FFFD), até "
                f"{MAX_PAYLOAD_BYTES} bytes."
            )
        }
    )
    payloadSize = fields.Integer(metadata={"description": "Tamanho original em bytes."})
    reason = fields.String(metadata={"description": "Por que a mensagem foi recusada."})


DeadLetterResponse = paged_envelope(
    DeadLetter,
    name="DeadLetterResponse",
    page_name="DeadLetterPage",
    filters=fields.Dict(metadata={"description": "Sempre vazio: a rota não tem filtros."}),
)


class Loss(ma.Schema):
    state = fields.String(
        metadata={
            "description": "Estado não-running; `unknown` = tempo planejado sem estado conhecido."
        }
    )
    reason = fields.String(allow_none=True)
    seconds = fields.Float()
    protheusReason = fields.String(
        allow_none=True,
        metadata={
            "description": (
                "Motivo de parada do Protheus da parada do MES (GET /api/v1/stops) que cobre "
                "este tempo; null onde nenhuma parada classificada o cobre."
            )
        },
    )


class OeeOrder(ma.Schema):
    machine = fields.String()
    order = fields.String(allow_none=True, metadata={"description": "Chave C2 da ordem."})
    source = fields.String(
        metadata={
            "description": (
                "counter (o contador trouxe `order`) ou appointment (ordem do apontamento SH6 "
                "da máquina que cobre o horário do contador, ou o último iniciado antes dele "
                "na janela)."
            )
        }
    )
    operation = fields.String(
        allow_none=True,
        metadata={"description": "Operação (H6_OPERAC do apontamento / G2_OPERAC)."},
    )
    operationType = fields.String(
        allow_none=True,
        metadata={
            "description": (
                "G2_TPOPER: 1 (ou vazio) e 4 por unidade; 2 e 3 tempo da corrida inteira."
            )
        },
    )
    crew = fields.Float(
        allow_none=True, metadata={"description": "H1_MAOOBRA da máquina (0 = não divide)."}
    )
    idealCycleTime = fields.Float(
        allow_none=True,
        metadata={
            "description": (
                "Segundos por unidade: G2_TEMPAD / G2_LOTEPAD (0 = 1) / H1_MAOOBRA (se não 0); "
                "null para G2_TPOPER 2 e 3 ou sem tempo padrão."
            )
        },
    )
    idealTime = fields.Float(
        allow_none=True,
        metadata={
            "description": (
                "Tempo ideal desta ordem/operação na janela, em segundos: por unidade x "
                "contagem, ou G2_TEMPAD uma vez por corrida (G2_TPOPER 2 e 3); null se "
                "desconhecido (G2_TEMPAD 0)."
            )
        },
    )
    goodCount = fields.Integer()
    scrapCount = fields.Integer()
    issue = fields.String(allow_none=True, metadata={"description": "Por que não há tempo ideal."})


def _figures() -> dict[str, fields.Field[Any]]:
    """The ratios, times and counts of a machine or a line (fresh fields for each schema)."""
    return {
        "availability": fields.Float(allow_none=True),
        "performance": fields.Float(allow_none=True),
        "quality": fields.Float(allow_none=True),
        "oee": fields.Float(allow_none=True),
        "plannedTime": fields.Float(metadata={"description": "Segundos."}),
        "runningTime": fields.Float(metadata={"description": "Segundos."}),
        "goodCount": fields.Integer(),
        "scrapCount": fields.Integer(),
    }


# Built from dicts so that the fields come in the answer's order (a subclass would put the
# figures first), and `from` can be a field's own name.
OeeMachine = ma.Schema.from_dict({"machine": fields.String(), **_figures()}, name="OeeMachine")

OeeData = ma.Schema.from_dict(
    {
        "machine": fields.String(allow_none=True),
        "line": fields.String(allow_none=True),
        "machines": fields.List(fields.String()),
        "from": fields.String(),
        "to": fields.String(metadata={"description": "Fim efetivo: o menor entre `to` e agora."}),
        **_figures(),
        "idealTime": fields.Float(
            allow_none=True,
            metadata={"description": "Soma dos idealTime das ordens, em segundos."},
        ),
        "losses": fields.List(fields.Nested(Loss)),
        "orders": fields.List(fields.Nested(OeeOrder)),
        "byMachine": fields.List(
            fields.Nested(OeeMachine), metadata={"description": "Só para line: cada máquina."}
        ),
        "notes": fields.List(
            fields.String(),
            metadata={
                "description": "Avisos (também na mensagem): por que performance/oee são null."
            },
        ),
    },
    name="OeeData",
)


OeeResponse = envelope(OeeData, name="OeeResponse")

# One CSV row of the OEE (present.oee_csv_rows): the answer's figures, then a line's machines.
OeeCsvRow = ma.Schema.from_dict(
    {
        "machine": fields.String(allow_none=True),
        "line": fields.String(allow_none=True),
        "from": fields.String(),
        "to": fields.String(),
        **_figures(),
        "idealTime": fields.Float(allow_none=True),
        "losses": fields.List(fields.Nested(Loss)),
        "notes": fields.List(fields.String()),
    },
    name="OeeCsvRow",
)


def series_columns(data: Mapping[str, Any]) -> list[str]:
    """The CSV columns of a series: ts and value for raw points, else bucket and the
    aggregates in the order asked."""
    return ["bucket", *data["agg"]] if data.get("bucket") else ["ts", "value"]


# --- plant summary -------------------------------------------------------------------------


class PlantOee(ma.Schema):
    availability = fields.Float(allow_none=True)
    performance = fields.Float(allow_none=True)
    quality = fields.Float(allow_none=True)
    oee = fields.Float(allow_none=True)


class PlantMachine(ma.Schema):
    machine = fields.String(metadata={"description": "Código da máquina (H1_CODIGO)."})
    description = fields.String(
        allow_none=True, metadata={"description": "H1_DESCRI; null fora do SH1."}
    )
    state = fields.String(
        allow_none=True,
        metadata={"description": f"Estado atual ({', '.join(STATES)}); null sem mensagens."},
    )
    stateSince = fields.String(allow_none=True, metadata={"description": INSTANT})
    lastSeen = fields.String(allow_none=True, metadata={"description": INSTANT})
    order = fields.String(
        allow_none=True,
        metadata={"description": "Ordem do último contador da máquina (null se ele não traz)."},
    )
    product = fields.String(
        allow_none=True, metadata={"description": "C2_PRODUTO da ordem; null se desconhecido."}
    )
    oee = fields.Nested(
        PlantOee,
        metadata={"description": "OEE do turno atual até agora, como /api/v1/oee da máquina."},
    )


class PlantLine(ma.Schema):
    site = fields.String(allow_none=True)
    area = fields.String(allow_none=True)
    line = fields.String(
        allow_none=True,
        metadata={"description": "null: máquinas do SH1 que nunca enviaram dados."},
    )
    machines = fields.List(fields.Nested(PlantMachine))


class PlantShift(ma.Schema):
    start = fields.String(metadata={"description": INSTANT})
    end = fields.String(metadata={"description": INSTANT})


class PlantData(ma.Schema):
    shift = fields.Nested(PlantShift)
    lines = fields.List(fields.Nested(PlantLine))


PlantResponse = envelope(PlantData, name="PlantResponse")

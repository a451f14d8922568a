"""Schemas of machine stops: the list, PATCH, mapping and Pareto requests, and the answers
(the response schemas dump what the handlers return, and document it)."""

from __future__ import annotations

from typing import Any, ClassVar

import marshmallow as ma
from marshmallow import fields

from services.production.pusher.schemas import Attempt
from shared.csv_export import FormatQuery
from shared.envelope import envelope, paged_envelope
from shared.lines import NOT_BOTH, check_machine_or_line, line_rule, machine_filter
from shared.pagination import PageQuery
from shared.validation import (
    WINDOW_ORDER,
    BodySchema,
    ProtheusText,
    Refusal,
    Schema,
    String,
    Timestamp,
    check_window_order,
    max_length,
    one_of,
    tagged,
    window_from,
)

# What `status` filters on: `pending` takes every stop on its way (pending, sending, retrying).
STATUS_FILTERS = {
    "open": ("open",),
    "unclassified": ("unclassified",),
    "pending": ("pending", "sending", "retrying"),
    "delivered": ("delivered",),
    "rejected": ("rejected",),
    "reversed": ("reversed",),
}
STATUSES = (
    "open", "unclassified", "pending", "sending", "retrying", "delivered", "rejected", "reversed"
)  # fmt: skip
PARETO_BY = ("reason", "machine", "state")
MAX_PARETO_DAYS = 366
MAX_PLC_REASON = 100


def _line() -> String:
    return String(
        load_default=None,
        validate=line_rule,
        metadata={
            "description": (
                "As máquinas de uma linha site/area/line (tabela `machines` da telemetria, "
                "como o `line` do OEE). Informe machine ou line, não ambos."
            )
        },
    )


class StopWhere(Schema):
    """`machine` or `line`, and the window `from`/`to` (a stop counts when it overlaps it)."""

    machine = machine_filter()
    line = _line()
    from_ = window_from("Paradas que terminam depois deste instante (ISO-8601 com fuso).")
    to = Timestamp(
        load_default=None,
        metadata={"description": "Paradas que começam antes deste instante (ISO-8601 com fuso)."},
    )

    refusals: ClassVar[tuple[Refusal, ...]] = (NOT_BOTH, WINDOW_ORDER)

    @ma.validates_schema
    def machine_or_line_and_window(self, data: dict[str, Any], **_: Any) -> None:
        check_machine_or_line(data, required=False)
        check_window_order(data)


class StopListQuery(StopWhere, PageQuery, FormatQuery):
    status = String(
        load_default=None,
        validate=one_of(STATUS_FILTERS),
        metadata={
            "description": (
                "open (ainda em curso), unclassified (aguardando motivo), pending (a caminho do "
                "Protheus: pending, sending ou retrying), delivered, rejected ou reversed."
            )
        },
    )


class StopPath(Schema):
    id = fields.UUID(
        required=True,
        error_messages={
            "invalid_uuid": tagged("format", "deve ser um UUID."),
            "required": tagged("required", "é obrigatório."),
        },
        metadata={"description": "Identificador da parada (UUID)."},
    )


class StopPatchBody(BodySchema):
    reason = ProtheusText(
        load_default=None,
        validate=max_length(10),
        metadata={
            "description": (
                "Motivo de parada do Protheus (CYN_CDSP, ou SX5 tabela 44): veja "
                "GET /api/v1/stop-reasons; desconhecido = 422."
            )
        },
    )
    operator = ProtheusText(
        allow_none=True,
        validate=max_length(20),
        metadata={"description": "Operador (H6_OPERADO); ausente mantém o atual, null apaga."},
    )
    note = ProtheusText(
        allow_none=True,
        validate=max_length(200),
        metadata={
            "description": "Observação, após o marcador em H6_OBSERVA; ausente mantém, null apaga."
        },
    )
    splitAt = Timestamp(
        load_default=None,
        metadata={
            "description": (
                "Divide a parada neste instante (ISO-8601 com fuso, estritamente dentro dela): "
                "[início, splitAt) mantém o id, [splitAt, fim) é uma parada nova. Não combina "
                "com reason, operator ou note."
            )
        },
    )

    refusals: ClassVar[tuple[Refusal, ...]] = (
        Refusal("reason", "required", "informe reason (classificar) ou splitAt (dividir)."),
        Refusal("splitAt", "exclusive", "splitAt não combina com reason, operator ou note."),
        Refusal("splitAt", "range", "splitAt deve estar estritamente dentro da parada."),
    )

    @ma.validates_schema
    def classify_or_split(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("splitAt") is not None:
            if any(data.get(name) is not None for name in ("reason", "operator", "note")):
                raise ma.ValidationError(
                    tagged("exclusive", "splitAt não combina com reason, operator ou note."),
                    field_name="splitAt",
                )
        elif data.get("reason") is None:
            raise ma.ValidationError(
                tagged("required", "informe reason (classificar) ou splitAt (dividir)."),
                field_name="reason",
            )


class MappingBody(BodySchema):
    mapping = fields.Dict(
        required=True,
        # Entries are checked one by one by the service (422 naming each): JSON Schema in
        # OpenAPI 3.0 cannot describe an object's keys.
        keys=fields.String(),
        values=fields.String(),
        error_messages={
            "required": tagged("required", "é obrigatório."),
            "invalid": tagged("type", "deve ser um objeto (motivo do CLP: motivo do Protheus)."),
        },
        metadata={
            "description": (
                'O mapeamento inteiro, {"<motivo do CLP>": "<motivo do Protheus>"}: substitui '
                "o atual (um objeto vazio apaga tudo). Cada motivo do CLP tem de 1 a "
                f"{MAX_PLC_REASON} caracteres, sem caracteres de controle; cada motivo do "
                "Protheus deve existir (CYN, senão SX5 44); senão 422 com um detalhe por entrada."
            )
        },
    )


class ParetoQuery(StopWhere, FormatQuery):
    from_ = window_from("Início da janela (inclusive), ISO-8601 com fuso.", required=True)
    to = Timestamp(
        required=True,
        metadata={"description": "Fim da janela (exclusivo), ISO-8601 com fuso; > from."},
    )
    by = String(
        load_default="reason",
        validate=one_of(PARETO_BY, optional=True),
        metadata={"description": "Agrupar por reason (padrão), machine ou state."},
    )

    refusals: ClassVar[tuple[Refusal, ...]] = (
        Refusal("to", "range", f"a janela pode ter no máximo {MAX_PARETO_DAYS} dias."),
    )


# --- response documentation ------------------------------------------------------------------


class StopAttempt(Attempt):
    """An attempt to send a stop (MATA682)."""


class Stop(ma.Schema):
    """A stops row (service.stored_stop) renamed and formatted for the API."""

    id = fields.UUID()
    machine = fields.String(metadata={"description": "Máquina (H1_CODIGO)."})
    branch = fields.String(metadata={"description": "Filial (enviada como tenantId)."})
    state = fields.String(
        metadata={"description": "Estado do CLP: stopped, fault, setup, idle ou offline."}
    )
    plcReason = fields.String(
        attribute="plc_reason", allow_none=True, metadata={"description": "Motivo do CLP."}
    )
    reason = fields.String(
        attribute="reason_code",
        allow_none=True,
        metadata={"description": "Motivo de parada do Protheus (H6_MOTIVO); null = sem motivo."},
    )
    reasonDescription = fields.String(
        attribute="reason_description",
        allow_none=True,
        metadata={"description": "Descrição do motivo no Protheus, quando conhecida."},
    )
    classifiedBy = fields.String(
        attribute="classified_by",
        allow_none=True,
        metadata={"description": "mapping, person ou default (STOP_DEFAULT_REASON)."},
    )
    operator = fields.String(allow_none=True)
    note = fields.String(allow_none=True)
    start = fields.DateTime(attribute="start_at")
    end = fields.DateTime(
        attribute="end_at", allow_none=True, metadata={"description": "null = em aberto."}
    )
    durationSeconds = fields.Float(
        attribute="duration_seconds",
        metadata={"description": "Segundos; de uma parada aberta, até agora."},
    )
    status = fields.String(metadata={"description": ", ".join(STATUSES)})
    attempts = fields.Integer()
    idAppointment = fields.String(
        attribute="id_appointment",
        allow_none=True,
        metadata={"description": "H6_IDENT quando entregue."},
    )
    error = fields.String(
        allow_none=True, metadata={"description": "Mensagem do Protheus quando rejeitada."}
    )
    nextAttemptAt = fields.DateTime(
        attribute="next_attempt_at",
        allow_none=True,
        metadata={"description": "Próxima tentativa quando retrying; senão null."},
    )
    pushedStart = fields.DateTime(
        attribute="pushed_start",
        allow_none=True,
        metadata={"description": "Início enviado ao Protheus (minuto arredondado)."},
    )
    pushedEnd = fields.DateTime(
        attribute="pushed_end",
        allow_none=True,
        metadata={"description": "Fim enviado ao Protheus (minuto arredondado)."},
    )
    manual = fields.Boolean(
        metadata={"description": "Uma pessoa classificou ou dividiu: a detecção não a altera."}
    )


class StopDetail(Stop):
    history = fields.List(
        fields.Nested(StopAttempt),
        metadata={"description": "Tentativas de envio ao Protheus, da primeira à última."},
    )
    splitInto = fields.List(
        fields.UUID(),
        attribute="split_into",
        metadata={"description": "Só na resposta de uma divisão: [id, id da parte nova]."},
    )


# From a dict: `from` is a field's own name.
StopFilters = ma.Schema.from_dict(
    {
        "machine": fields.String(allow_none=True),
        "line": fields.String(allow_none=True),
        "from": fields.String(allow_none=True),
        "to": fields.String(allow_none=True),
        "status": fields.String(allow_none=True),
    },
    name="StopFilters",
)


class StopReasonItem(ma.Schema):
    code = fields.String(metadata={"description": "CYN_CDSP (ou X5_CHAVE da tabela 44)."})
    description = fields.String(
        allow_none=True,
        metadata={"description": "CYN_DSSP (ou X5_DESCRI); null = mapeado mas fora do Protheus."},
    )
    plcReasons = fields.List(
        fields.String(),
        attribute="plc_reasons",
        metadata={"description": "Motivos do CLP mapeados para este motivo."},
    )


class MappingResult(ma.Schema):
    mapping = fields.Dict(keys=fields.String(), values=fields.String())
    reclassified = fields.Integer(
        metadata={"description": "Paradas sem motivo (não manuais) classificadas agora."}
    )


class ParetoRow(ma.Schema):
    key = fields.String(
        allow_none=True,
        metadata={"description": "O motivo do Protheus, a máquina ou o estado; null = sem motivo."},
    )
    description = fields.String(
        allow_none=True,
        metadata={
            "description": (
                "reason: a descrição do motivo no Protheus; state: o nome do estado; machine: null."
            )
        },
    )
    seconds = fields.Float(metadata={"description": "Segundos de parada dentro da janela."})
    count = fields.Integer(metadata={"description": "Paradas que tocam a janela."})
    share = fields.Float(metadata={"description": "seconds / total (0 a 1)."})
    cumulativeShare = fields.Float(
        attribute="cumulative_share",
        metadata={"description": "Soma das shares desta linha e das anteriores."},
    )


ParetoData = ma.Schema.from_dict(
    {
        "by": fields.String(),
        "machine": fields.String(allow_none=True),
        "line": fields.String(allow_none=True),
        "from": fields.String(),
        "to": fields.String(),
        "totalSeconds": fields.Float(attribute="total_seconds"),
        "totalCount": fields.Integer(attribute="total_count"),
        "rows": fields.List(fields.Nested(ParetoRow)),
    },
    name="ParetoData",
)


StopResponse = envelope(StopDetail, name="StopResponse")
StopListResponse = paged_envelope(
    Stop, name="StopListResponse", page_name="StopPage", filters=StopFilters
)
StopReasonsResponse = envelope(
    fields.List(fields.Nested(StopReasonItem)), name="StopReasonsResponse"
)
MappingResponse = envelope(MappingResult, name="MappingResponse")
ParetoResponse = envelope(ParetoData, name="ParetoResponse")

"""Schemas of production reports: the POST/PATCH bodies and the list filters."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from marshmallow import fields

from services.production.orders.schemas import BRANCH_LAYOUT, ORDER_KEY_PATTERN
from services.production.pusher.schemas import Attempt
from shared.csv_export import FormatQuery
from shared.envelope import envelope, paged_envelope
from shared.pagination import PageQuery
from shared.validation import (
    BodySchema,
    Boolean,
    Number,
    ProtheusText,
    Refusal,
    Schema,
    String,
    Timestamp,
    Token,
    at_least,
    matches,
    max_length,
    one_of,
    tagged,
)

STATUSES = ("pending", "sending", "retrying", "delivered", "rejected", "reversed")


# The key's characters; its length is checked against the dictionary's widths when the
# order is looked up (they are the database's, not fixed here).
order_key_rule = matches(
    ORDER_KEY_PATTERN,
    "format",
    "a ordem é C2_NUM+C2_ITEM+C2_SEQUEN[+C2_ITEMGRD] como o campo `order` da "
    "listagem de ordens, só letras e dígitos.",
)


def report_rules(data: dict[str, Any]) -> None:
    """Rules across fields, shared by POST and by a PATCH merged with the stored report."""
    if data.get("start") and data.get("end") and data["end"] <= data["start"]:
        raise ma.ValidationError(
            tagged("order", "o fim deve ser posterior ao início."), field_name="end"
        )
    good, scrap = data.get("goodQuantity") or 0, data.get("scrapQuantity") or 0
    if good == 0 and scrap == 0:
        raise ma.ValidationError(
            tagged("positive", "informe quantidade boa ou refugo maior que zero."),
            field_name="goodQuantity",
        )


class ReportHeaders(Schema):
    idempotency_key = Token(
        size=200,
        data_key="Idempotency-Key",
        load_default=None,
        metadata={
            "description": "Chave do cliente para esta submissão (até 200 caracteres): uma "
            "repetição com a mesma chave devolve a primeira resposta; mesma chave com outro "
            "corpo: 422. Guardada por IDEMPOTENCY_DAYS, por chave de API."
        },
    )


class ReportBody(BodySchema):
    order = ProtheusText(
        required=True,
        validate=order_key_rule,
        metadata={
            "description": (
                "Ordem de produção (C2_NUM+C2_ITEM+C2_SEQUEN[+C2_ITEMGRD], larguras do "
                "dicionário), como o campo `order` da listagem de ordens."
            )
        },
    )
    operation = ProtheusText(
        required=True,
        validate=max_length(10),
        metadata={"description": "Operação do roteiro (G2_OPERAC)."},
    )
    machine = ProtheusText(
        required=True,
        validate=max_length(20),
        metadata={
            "description": (
                "Recurso/máquina (H1_CODIGO): o G2_RECURSO da operação ou um recurso "
                "alternativo dela (SH3, H3_TIPO 'A')."
            )
        },
    )
    operator = ProtheusText(
        required=True, validate=max_length(20), metadata={"description": "Operador (H6_OPERADO)."}
    )
    start = Timestamp(required=True, metadata={"description": "Início, ISO-8601 com fuso."})
    end = Timestamp(
        required=True, metadata={"description": "Fim, ISO-8601 com fuso (posterior ao início)."}
    )
    goodQuantity = Number(
        required=True, validate=at_least(0), metadata={"description": "Quantidade boa (>= 0)."}
    )
    scrapQuantity = Number(
        load_default=0.0, validate=at_least(0), metadata={"description": "Refugo (>= 0)."}
    )
    scrapReason = ProtheusText(
        load_default=None, validate=max_length(200), metadata={"description": "Motivo do refugo."}
    )
    final = Boolean(
        load_default=False,
        metadata={"description": "true = apontamento total (encerra a operação)."},
    )
    branch = ProtheusText(
        load_default=None,
        validate=max_length(12),
        metadata={"description": "Filial; padrão PROTHEUS_BRANCH."},
    )
    lot = ProtheusText(
        load_default=None, validate=max_length(20), metadata={"description": "Lote (H6_LOTECTL)."}
    )

    refusals = (
        Refusal(
            "order",
            "length",
            "a chave tem as larguras do dicionário: C2_NUM+C2_ITEM+C2_SEQUEN, ou mais C2_ITEMGRD.",
        ),
        Refusal("end", "order", "end deve ser posterior a start."),
        Refusal(
            "goodQuantity", "positive", "goodQuantity ou scrapQuantity deve ser maior que zero."
        ),
        BRANCH_LAYOUT,
    )

    @ma.validates_schema
    def across_fields(self, data: dict[str, Any], **kwargs: Any) -> None:
        if not kwargs.get("partial"):
            report_rules(data)


class ReportPath(Schema):
    id = fields.UUID(
        required=True,
        error_messages={
            "invalid_uuid": tagged("format", "deve ser um UUID."),
            "required": tagged("required", "é obrigatório."),
        },
        metadata={"description": "Identificador do apontamento (UUID)."},
    )


class ReportListQuery(PageQuery, FormatQuery):
    status = String(
        load_default=None,
        validate=one_of(STATUSES),
        metadata={"description": f"Um de {', '.join(STATUSES)}."},
    )
    order = String(
        load_default=None, validate=order_key_rule, metadata={"description": "Ordem de produção."}
    )


# --- response documentation ------------------------------------------------------------------


class ReportAttempt(Attempt):
    requestId = fields.String(
        allow_none=True,
        metadata={
            "description": "A requisição que registrou ou corrigiu o apontamento; consulte-a "
            "em GET /api/v1/audit?requestId=..."
        },
    )


class ReportAccepted(ma.Schema):
    id = fields.UUID()
    status = fields.String(metadata={"description": "pending."})


class ReportSummary(ReportAccepted):
    """A production_reports row (service.stored_report) renamed and formatted for the API."""

    status = fields.String(metadata={"description": ", ".join(STATUSES)})
    attempts = fields.Integer()
    idAppointment = fields.String(
        attribute="id_appointment",
        allow_none=True,
        metadata={"description": "H6_IDENT quando entregue."},
    )
    error = fields.String(
        allow_none=True, metadata={"description": "Mensagem do Protheus quando rejeitado."}
    )
    nextAttemptAt = fields.DateTime(
        attribute="next_attempt_at",
        allow_none=True,
        metadata={"description": "Próxima tentativa quando retrying; senão null."},
    )
    order = fields.String(
        attribute="order_key", metadata={"description": "Ordem de produção, como enviada."}
    )
    operation = fields.String()
    machine = fields.String()
    operator = fields.String()
    start = fields.DateTime(attribute="start_at", metadata={"description": "Início."})
    end = fields.DateTime(attribute="end_at", metadata={"description": "Fim."})
    goodQuantity = fields.Float(attribute="good_quantity")
    scrapQuantity = fields.Float(attribute="scrap_quantity")
    scrapReason = fields.String(attribute="scrap_reason", allow_none=True)
    final = fields.Boolean()
    branch = fields.String(metadata={"description": "Filial (PROTHEUS_BRANCH se não enviada)."})
    lot = fields.String(allow_none=True)
    createdAt = fields.DateTime(
        attribute="created_at", metadata={"description": "Recebido pelo MES."}
    )
    updatedAt = fields.DateTime(attribute="updated_at", metadata={"description": "Última mudança."})


class ReportData(ReportSummary):
    history = fields.List(
        fields.Nested(ReportAttempt),
        metadata={"description": "Tentativas de envio ao Protheus, da primeira à última."},
    )


class ReportFilters(ma.Schema):
    status = fields.String(allow_none=True)
    order = fields.String(allow_none=True)


ReportAcceptedResponse = envelope(ReportAccepted, name="ReportAcceptedResponse")
ReportResponse = envelope(ReportData, name="ReportResponse")
ReportListResponse = paged_envelope(
    ReportSummary, name="ReportListResponse", page_name="ReportPage", filters=ReportFilters
)

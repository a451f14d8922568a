"""Schemas of production reports: the POST/PATCH bodies and the list filters."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from marshmallow import fields

from shared.pagination import PageQuery
from shared.validation import (
    BodySchema,
    Boolean,
    Number,
    Schema,
    String,
    Timestamp,
    at_least,
    max_length,
    one_of,
    tagged,
)

STATUSES = ("pending", "sending", "retrying", "delivered", "rejected", "reversed")


def order_key_rule(value: str) -> None:
    if value is not None and not 11 <= len(value) <= 14:
        raise ma.ValidationError(
            tagged("length", "a ordem tem 11 ou 14 caracteres (NUM+ITEM+SEQUEN[+ITEMGRD]).")
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


class ReportBody(BodySchema):
    order = String(
        required=True,
        validate=order_key_rule,
        metadata={"description": "Ordem de produção (C2_NUM+C2_ITEM+C2_SEQUEN[+C2_ITEMGRD])."},
    )
    operation = String(
        required=True,
        validate=max_length(10),
        metadata={"description": "Operação do roteiro (G2_OPERAC)."},
    )
    machine = String(
        required=True,
        validate=max_length(20),
        metadata={"description": "Recurso/máquina (H1_CODIGO)."},
    )
    operator = String(
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
    scrapReason = String(
        load_default=None, validate=max_length(200), metadata={"description": "Motivo do refugo."}
    )
    final = Boolean(
        load_default=False,
        metadata={"description": "true = apontamento total (encerra a operação)."},
    )
    branch = String(
        load_default=None,
        validate=max_length(12),
        metadata={"description": "Filial; padrão PROTHEUS_BRANCH."},
    )
    lot = String(
        load_default=None, validate=max_length(20), metadata={"description": "Lote (H6_LOTECTL)."}
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


class ReportListQuery(PageQuery):
    status = String(
        load_default=None,
        validate=one_of(STATUSES),
        metadata={"description": f"Um de {', '.join(STATUSES)}."},
    )
    order = String(
        load_default=None, validate=order_key_rule, metadata={"description": "Ordem de produção."}
    )


class ReportData(ma.Schema):
    id = fields.UUID()
    status = fields.String(metadata={"description": ", ".join(STATUSES)})
    attempts = fields.Integer()
    idAppointment = fields.String(metadata={"description": "H6_IDENT quando entregue."})
    error = fields.String(metadata={"description": "Mensagem do Protheus quando rejeitado."})
    nextAttemptAt = fields.String(metadata={"description": "Próxima tentativa quando retrying."})
    history = fields.List(
        fields.Dict(),
        metadata={
            "description": "Tentativas de envio ao Protheus: attempt, startedAt, finishedAt, "
            "outcome, httpStatus, message e requestId (a requisição que registrou ou corrigiu "
            "o apontamento; consulte-a em GET /api/v1/audit?requestId=...)."
        },
    )


class ReportResponse(ma.Schema):
    success = fields.Boolean()
    message = fields.String()
    data = fields.Nested(ReportData)

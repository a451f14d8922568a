"""Query and response schemas of GET /api/v1/audit."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from marshmallow import fields

from shared.envelope import paged_envelope
from shared.pagination import PageQuery
from shared.validation import (
    WINDOW_ORDER,
    Integer,
    String,
    Timestamp,
    between,
    check_window_order,
    max_length,
    window_from,
)


class AuditQuery(PageQuery):
    key = String(
        load_default=None,
        validate=max_length(100),
        metadata={"description": "Nome da chave de API (exato)."},
    )
    route = String(
        load_default=None,
        validate=max_length(100),
        metadata={"description": "Nome da rota (exato), ex.: production_reports_create."},
    )
    status = Integer(
        load_default=None,
        validate=between(100, 599),
        metadata={"description": "Status HTTP da resposta."},
    )
    from_ = window_from("Início (inclusive), ISO-8601 com fuso.")
    to = Timestamp(
        load_default=None, metadata={"description": "Fim (exclusive), ISO-8601 com fuso."}
    )
    request_id = String(
        load_default=None,
        data_key="requestId",
        validate=max_length(128),
        metadata={"description": "Id da requisição (X-Request-ID)."},
    )

    refusals = (WINDOW_ORDER,)

    @ma.validates_schema
    def window_in_order(self, data: dict[str, Any], **_: Any) -> None:
        check_window_order(data)


class AuditEntry(ma.Schema):
    """One audit_log row as the API shows it (dumped from the database row)."""

    at = fields.DateTime(metadata={"description": "Chegada da requisição (UTC)."})
    requestId = fields.String(attribute="request_id")
    key = fields.String(attribute="key_name", metadata={"description": "Nome da chave de API."})
    method = fields.String()
    route = fields.String(metadata={"description": "Nome da rota."})
    path = fields.String()
    status = fields.Integer()
    client = fields.String(
        allow_none=True,
        metadata={"description": "Endereço do cliente (X-Real-IP vindo do proxy confiável)."},
    )
    peer = fields.String(allow_none=True, metadata={"description": "Endereço da conexão."})
    durationMs = fields.Float(attribute="duration_ms", allow_none=True)
    subject = fields.String(
        allow_none=True,
        metadata={
            "description": "O que a escrita alterou (id do apontamento; as tentativas de envio "
            "ao Protheus levam o mesmo requestId)."
        },
    )
    service = fields.String()


AuditResponse = paged_envelope(AuditEntry, name="AuditResponse", page_name="AuditPage")

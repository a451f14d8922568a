"""Response schema of one delivery attempt, as the `history` of a report or a stop lists it
(built by queries.attempt_history)."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields


class Attempt(ma.Schema):
    """One try at sending a document to Protheus; each kind names its own subclass (the
    OpenAPI component) and may say more of a field."""

    attempt = fields.Integer()
    startedAt = fields.String(metadata={"description": "ISO-8601."})
    finishedAt = fields.String(
        allow_none=True, metadata={"description": "ISO-8601; null enquanto em curso."}
    )
    outcome = fields.String(
        metadata={
            "description": "started (em curso), delivered, rejected, not_sent, unknown, found "
            "(marcador encontrado no SH6) ou reversed (encontrado estornado)."
        },
    )
    httpStatus = fields.Integer(allow_none=True)
    message = fields.String(allow_none=True)
    requestId = fields.String(allow_none=True)

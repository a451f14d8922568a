"""Response schema of the session route."""

from __future__ import annotations

from marshmallow import fields

from shared.envelope import envelope
from shared.validation import Schema


class Session(Schema):
    name = fields.String(metadata={"description": "Nome da chave (MES_API_KEYS)."})
    scopes = fields.List(
        fields.String(),
        metadata={"description": "Escopos da chave, em ordem (admin implica todos)."},
    )
    timezone = fields.String(
        metadata={"description": "Fuso horário da planta (PLANT_TIMEZONE, nome IANA)."}
    )


SessionResponse = envelope(Session, name="SessionResponse")

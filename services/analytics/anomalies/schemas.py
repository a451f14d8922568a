"""Schemas of the anomaly routes: the listing's filters and the events it returns (the response
schema dumps what the service returns, and documents it)."""

from __future__ import annotations

from typing import Any, ClassVar

import marshmallow as ma
from marshmallow import fields

from services.analytics.anomalies.detectors import KINDS
from shared.envelope import paged_envelope
from shared.lines import MACHINE_MAX, line_rule
from shared.pagination import PageQuery
from shared.validation import (
    WINDOW_ORDER,
    Refusal,
    Schema,
    String,
    Timestamp,
    check_window_order,
    max_length,
    one_of,
    window_from,
)

STATUSES = ("open", "closed")


class MachineAnomalyQuery(PageQuery):
    """The filters of a machine's anomalies (and, with `machine` and `line`, of all)."""

    kind = String(
        load_default=None,
        validate=one_of(KINDS),
        metadata={"description": "spike, stuck, out_of_range ou drift."},
    )
    status = String(
        load_default=None,
        validate=one_of(STATUSES),
        metadata={"description": "open (em curso) ou closed (encerrada)."},
    )
    from_ = window_from(
        "Eventos que terminam a partir deste instante (ISO-8601 com fuso; um aberto sempre)."
    )
    to = Timestamp(
        load_default=None,
        metadata={"description": "Eventos que começam antes deste instante (ISO-8601 com fuso)."},
    )

    refusals: ClassVar[tuple[Refusal, ...]] = (WINDOW_ORDER,)

    @ma.validates_schema
    def window(self, data: dict[str, Any], **_: Any) -> None:
        check_window_order(data)


class AnomalyQuery(MachineAnomalyQuery):
    machine = String(
        load_default=None,
        validate=max_length(MACHINE_MAX),
        metadata={"description": "Só os eventos desta máquina (H1_CODIGO)."},
    )
    line = String(
        load_default=None,
        validate=line_rule,
        metadata={
            "description": "Só as máquinas da linha site/area/line (tabela `machines` da telemetria)."
        },
    )


class MachinePath(Schema):
    machine = String(
        required=True,
        validate=max_length(MACHINE_MAX),
        metadata={"description": "Código da máquina (H1_CODIGO do SH1, o mesmo do tópico MQTT)."},
    )


class Anomaly(ma.Schema):
    """An anomaly_events row for the API."""

    id = fields.UUID()
    machine = fields.String(metadata={"description": "Máquina (H1_CODIGO)."})
    site = fields.String(allow_none=True)
    area = fields.String(allow_none=True)
    line = fields.String(allow_none=True)
    kind = fields.String(metadata={"description": "spike, stuck, out_of_range ou drift."})
    metrics = fields.List(fields.String(), metadata={"description": "A(s) métrica(s) anômala(s)."})
    start = fields.DateTime(
        attribute="started_at", metadata={"description": "Instante da primeira amostra anômala."}
    )
    end = fields.DateTime(
        attribute="ended_at",
        allow_none=True,
        metadata={"description": "Instante da última amostra anômala; null enquanto aberto."},
    )
    status = fields.String(metadata={"description": "open ou closed."})
    score = fields.Float(
        metadata={
            "description": (
                "Pico do episódio: spike = z (desvios da média móvel); stuck = duração / "
                "ANOMALY_STUCK_S; out_of_range = excesso / largura da faixa; drift = distância "
                "das médias rápidas à linha de base, em desvios."
            )
        }
    )
    detail = fields.Dict(
        metadata={"description": "Conforme o tipo: valor, limites, linha de base, detectedAt..."}
    )


AnomalyFilters = ma.Schema.from_dict(
    {
        "machine": fields.String(allow_none=True),
        "line": fields.String(allow_none=True),
        "kind": fields.String(allow_none=True),
        "status": fields.String(allow_none=True),
        "from": fields.String(allow_none=True),
        "to": fields.String(allow_none=True),
    },
    name="AnomalyFilters",
)

AnomalyListResponse = paged_envelope(
    Anomaly, name="AnomalyListResponse", page_name="AnomalyPage", filters=AnomalyFilters
)

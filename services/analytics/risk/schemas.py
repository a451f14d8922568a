"""Schemas of the risk routes: the machine path, the ranking's query, and the answers (the
response schemas dump what the handlers return, and document it)."""

from __future__ import annotations

from marshmallow import fields

from shared.envelope import envelope, paged_envelope
from shared.lines import MACHINE_MAX, line_rule
from shared.pagination import PageQuery
from shared.validation import Schema, String, max_length


class MachinePath(Schema):
    machine = String(
        required=True,
        validate=max_length(MACHINE_MAX),
        metadata={"description": "Código da máquina (H1_CODIGO)."},
    )


class RankingQuery(PageQuery):
    line = String(
        load_default=None,
        validate=line_rule,
        metadata={"description": "Só as máquinas de uma linha site/area/line (tabela machines)."},
    )


class TopFeature(Schema):
    feature = fields.String(metadata={"description": "Nome da variável do modelo."})
    value = fields.Raw(
        allow_none=True, metadata={"description": "Valor na hora avaliada (número ou produto)."}
    )
    contribution = fields.Float(
        metadata={
            "description": (
                "Quanto a variável eleva o risco: regressão logística, coeficiente x valor "
                "padronizado (log-odds); árvores, risco menos o risco com a mediana de treino."
            )
        }
    )


class ModelInfo(Schema):
    version = fields.String()
    trainedAt = fields.String(metadata={"description": "ISO-8601 no fuso da planta."})
    algorithm = fields.String(metadata={"description": "gradient_boosting ou logistic_regression."})


class MachineRisk(Schema):
    machine = fields.String()
    risk = fields.Float(
        allow_none=True,
        metadata={"description": "Probabilidade (0..1) de falha no horizonte; null sem modelo."},
    )
    horizonH = fields.Integer(metadata={"description": "Horizonte da previsão, em horas."})
    hour = fields.String(
        allow_none=True,
        metadata={
            "description": "Início da hora avaliada (ISO-8601): a última hora completa quando "
            "foi avaliada, observada ao seu fim."
        },
    )
    scoredAt = fields.String(allow_none=True, metadata={"description": "Quando foi avaliada."})
    alert = fields.Boolean(metadata={"description": "Alerta de risco aberto (RISK_ALERT)."})
    threshold = fields.Float(metadata={"description": "RISK_ALERT."})
    topFeatures = fields.List(fields.Nested(TopFeature))
    model = fields.Nested(ModelInfo, allow_none=True)


MachineRiskResponse = envelope(MachineRisk, name="MachineRiskResponse")
RankingResponse = paged_envelope(
    MachineRisk,
    name="MaintenanceRiskResponse",
    page_name="MaintenanceRiskPage",
    filters=fields.Dict(),
)

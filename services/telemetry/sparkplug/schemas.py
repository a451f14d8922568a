"""Schemas of the Sparkplug routes: the node listing's query, the mapping body, and the answers
(the response schemas dump what the handlers return, and document it)."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any, ClassVar

import marshmallow as ma
from marshmallow import fields, validate

from shared.envelope import envelope, paged_envelope
from shared.pagination import PageQuery
from shared.validation import (
    CONTROLS,
    SPACES,
    BodySchema,
    Boolean,
    Refusal,
    String,
    char_class,
    matches,
    max_length,
    tagged,
)

MAX_ID = 64
# A PUT body is at most 1 MiB (shared.app.MAX_BODY_BYTES): a few thousand entries.
MAX_MAPPINGS = 5_000
INSTANT = "ISO-8601 com fuso, no fuso da planta (PLANT_TIMEZONE); null = nunca."
# Characters no topic level takes: '/' separates levels, '+' and '#' are MQTT wildcards.
TOPIC_CHARACTERS = "/+#"


def _identifier_pattern() -> re.Pattern[str]:
    """1 to MAX_ID characters, none a control or a topic character, no blank at either end
    (the value is read stripped)."""
    refused = char_class(CONTROLS + TOPIC_CHARACTERS)
    edge = char_class(SPACES + CONTROLS + TOPIC_CHARACTERS)
    return re.compile(f"^[^{edge}](?:[^{refused}]{{0,{MAX_ID - 2}}}[^{edge}])?$")


IDENTIFIER_PATTERN = _identifier_pattern()
identifier_rule = matches(
    IDENTIFIER_PATTERN,
    "format",
    f"deve ter de 1 a {MAX_ID} caracteres, sem '/', '+' nem '#' (níveis de um tópico MQTT).",
)


def _identifier(description: str, *, required: bool = True) -> String:
    if required:
        return String(
            required=True, validate=identifier_rule, metadata={"description": description}
        )
    return String(
        load_default=None, validate=identifier_rule, metadata={"description": description}
    )


class SparkplugNodeQuery(PageQuery):
    group = String(
        load_default=None,
        validate=max_length(MAX_ID),
        metadata={"description": "Só os edge nodes deste group id do Sparkplug."},
    )
    online = Boolean(
        load_default=None,
        metadata={"description": "true: só os edge nodes online; false: só os offline."},
    )


class SparkplugMappingEntry(BodySchema):
    """One row of sparkplug_mapping, named as the API names it."""

    group = _identifier("Group id do Sparkplug (spBv1.0/<group>/...).")
    edgeNode = _identifier("Edge node id.")
    device = _identifier(
        "Device id; vazio, null ou ausente = as métricas do próprio edge node (NBIRTH/NDATA).",
        required=False,
    )
    site = _identifier("Site de destino (como o site dos tópicos mes/v1).")
    area = _identifier("Área de destino.")
    line = _identifier("Linha de destino.")
    machine = _identifier("Máquina de destino: o código do recurso no Protheus (H1_CODIGO).")


class SparkplugMappingBody(BodySchema):
    mappings = fields.List(
        fields.Nested(SparkplugMappingEntry),
        required=True,
        validate=validate.Length(
            max=MAX_MAPPINGS,
            error=tagged("length", f"no máximo {MAX_MAPPINGS} entradas."),
        ),
        error_messages={
            "required": tagged("required", "é obrigatório."),
            "null": tagged("required", "não pode ser nulo."),
            "invalid": tagged("type", "deve ser uma lista de entradas."),
        },
        metadata={
            "description": (
                "O mapeamento inteiro: substitui a tabela (uma lista vazia apaga tudo e volta "
                "todos à convenção). Uma entrada por (group, edgeNode, device)."
            )
        },
    )

    refusals: ClassVar[tuple[Refusal, ...]] = (
        Refusal(
            "mappings",
            "duplicate",
            "duas entradas para o mesmo (group, edgeNode, device): uma por trinca.",
        ),
    )

    @ma.validates_schema
    def one_entry_per_source(self, data: dict[str, Any], **_: Any) -> None:
        """Each (group, edge node, device) once: the table's key, and which entry would win is
        anyone's guess."""
        keys = Counter(
            (entry["group"], entry["edgeNode"], entry.get("device") or "")
            for entry in data.get("mappings") or ()
        )
        repeated = sorted(key for key, count in keys.items() if count > 1)
        if repeated:
            raise ma.ValidationError(
                {
                    "mappings": [
                        tagged(
                            "duplicate",
                            f"{group}/{node}/{device or '(nó)'} aparece mais de uma vez.",
                        )
                        for group, node, device in repeated
                    ]
                }
            )


# --- response documentation ------------------------------------------------------------------


def _target() -> dict[str, fields.Field[Any]]:
    """Where a node's own metrics or a device's data go (the machine's site/area/line)."""
    return {
        "site": fields.String(),
        "area": fields.String(),
        "line": fields.String(),
        "machine": fields.String(metadata={"description": "Máquina (H1_CODIGO)."}),
        "mapped": fields.Boolean(
            metadata={
                "description": (
                    "true: por uma linha do mapeamento; false: pela convenção (site = group, "
                    "area = SPARKPLUG_AREA, line = edge node, machine = device, ou o edge node "
                    "para as métricas do próprio nó)."
                )
            }
        ),
    }


def _instant(what: str) -> fields.String:
    return fields.String(allow_none=True, metadata={"description": f"{what} {INSTANT}"})


SparkplugDevice = ma.Schema.from_dict(
    {
        "device": fields.String(),
        "online": fields.Boolean(),
        "birthAt": _instant("Último DBIRTH."),
        "deathAt": _instant("Último DDEATH (ou NDEATH do nó)."),
        "lastSeen": _instant("Última mensagem do device."),
        **_target(),
    },
    name="SparkplugDevice",
)

SparkplugNode = ma.Schema.from_dict(
    {
        "group": fields.String(),
        "edgeNode": fields.String(),
        "online": fields.Boolean(),
        "bdSeq": fields.Integer(
            allow_none=True,
            metadata={"description": "bdSeq do NBIRTH atual (um NDEATH com outro é ignorado)."},
        ),
        "birthAt": _instant("Último NBIRTH."),
        "deathAt": _instant("Último NDEATH."),
        "lastSeen": _instant("Última mensagem do nó ou de um device seu."),
        "rebirthRequests": fields.Integer(
            metadata={"description": "NCMD Node Control/Rebirth enviados a este nó, no total."},
        ),
        "seqGap": fields.Boolean(
            metadata={"description": "true: falta um seq que ainda não chegou."},
        ),
        "devices": fields.List(
            fields.Nested(SparkplugDevice),
            metadata={"description": "Todos os devices já vistos atrás do nó, em ordem de id."},
        ),
        # The node's own metrics (NBIRTH/NDATA).
        **_target(),
    },
    name="SparkplugNode",
)

SparkplugNodeFilters = ma.Schema.from_dict(
    {"group": fields.String(allow_none=True), "online": fields.Boolean(allow_none=True)},
    name="SparkplugNodeFilters",
)

SparkplugMappingRow = ma.Schema.from_dict(
    {
        "group": fields.String(),
        "edgeNode": fields.String(),
        "device": fields.String(metadata={"description": "'' = as métricas do próprio edge node."}),
        "site": fields.String(),
        "area": fields.String(),
        "line": fields.String(),
        "machine": fields.String(),
    },
    name="SparkplugMappingRow",
)

SparkplugMappingTable = ma.Schema.from_dict(
    {
        "mappings": fields.List(
            fields.Nested(SparkplugMappingRow),
            metadata={"description": "Em ordem de group, edgeNode, device; serve de corpo ao PUT."},
        )
    },
    name="SparkplugMappingTable",
)


NodeListResponse = paged_envelope(
    SparkplugNode,
    name="SparkplugNodeListResponse",
    page_name="SparkplugNodePage",
    filters=SparkplugNodeFilters,
)
MappingResponse = envelope(SparkplugMappingTable, name="SparkplugMappingResponse")

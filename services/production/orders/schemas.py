"""Request schemas of the production-order routes (they validate and feed OpenAPI) and response docs."""

from __future__ import annotations

import re
from typing import Any

import marshmallow as ma
from marshmallow import fields

from services.production.orders.queries import STATUSES
from shared.envelope import envelope, paged_envelope
from shared.pagination import PageQuery
from shared.settings import BRANCH_PATTERN
from shared.validation import (
    Date,
    Refusal,
    Schema,
    String,
    date_range_error,
    matches,
    max_length,
    one_of,
)

# Letters and digits, with blanks inside where a part is shorter than its column. Its length is
# checked against the dictionary's widths (C2_NUM+C2_ITEM+C2_SEQUEN[+C2_ITEMGRD]) when the
# order is looked up: the widths are the database's, not fixed here.
ORDER_KEY_PATTERN = re.compile(r"^[0-9A-Za-z](?:[0-9A-Za-z ]{0,38}[0-9A-Za-z])?$")


# An order key's characters (its length is checked against the dictionary).
order_key_rule = matches(
    ORDER_KEY_PATTERN,
    "format",
    "a ordem é C2_NUM+C2_ITEM+C2_SEQUEN[+C2_ITEMGRD] como o campo `order` da "
    "listagem (ex.: 00010101001), só letras e dígitos.",
)

# One of the six statuses; an empty `?status=` counts as absent.
status_rule = one_of(STATUSES, optional=True)

# A branch code as PROTHEUS_BRANCH takes it.
branch_rule = matches(
    BRANCH_PATTERN, "format", "a filial tem de 1 a 12 letras ou dígitos (ex.: 01)."
)

BRANCH_LAYOUT = Refusal(
    "branch",
    "layout",
    "a filial deve ter o comprimento do leiaute da empresa (SX2: empresa + unidade + filial) "
    "e caber no campo FILIAL de cada tabela lida.",
)


def _branch() -> String:
    return String(
        load_default=None,
        validate=branch_rule,
        metadata={
            "description": (
                "Filial (código, ex.: 01). Ausente = a filial padrão do serviço "
                "(PROTHEUS_BRANCH); para ver outra filial, informe-a. O filtro de cada tabela "
                "(SC2, SB1, SG2, SH6, SD3) segue o modo compartilhado/exclusivo do SX2."
            )
        },
    )


class OrderListQuery(PageQuery):
    status = String(
        load_default=None,
        validate=status_rule,
        metadata={
            "description": (
                "Situação de produção: planned (C2_TPOP = 'P'), open (firme, sem apontamento "
                "nem movimento), started (com apontamentos SH6 ou movimentos SD3 não estornados), "
                "idle (iniciada e sem atividade há mais de C2_DIASOCI dias), partially_closed "
                "(encerrada com C2_QUJE < C2_QUANT) ou closed (encerrada com C2_QUJE >= C2_QUANT)."
            )
        },
    )
    product = String(
        load_default=None,
        validate=max_length(60),
        metadata={"description": "Produto exato da ordem (C2_PRODUTO)."},
    )
    machine = String(
        load_default=None,
        validate=max_length(20),
        metadata={
            "description": (
                "Recurso/máquina (G2_RECURSO, H1_CODIGO): só ordens cujo roteiro tem uma "
                "operação nessa máquina."
            )
        },
    )
    planned_from = Date(
        load_default=None,
        metadata={"description": "Início previsto (C2_DATPRI) a partir desta data, YYYY-MM-DD."},
    )
    planned_to = Date(
        load_default=None,
        metadata={
            "description": "Início previsto (C2_DATPRI) até esta data, YYYY-MM-DD (>= planned_from)."
        },
    )
    branch = _branch()

    refusals = (
        Refusal("planned_to", "order", "planned_to deve ser igual ou posterior a planned_from."),
        BRANCH_LAYOUT,
    )

    @ma.validates_schema
    def from_before_to(self, data: dict[str, Any], **kwargs: Any) -> None:
        start, end = data.get("planned_from"), data.get("planned_to")
        if start and end and start > end:
            raise date_range_error("planned_to")


class OrderPath(Schema):
    refusals = (
        Refusal(
            "order",
            "length",
            "a chave tem as larguras do dicionário: C2_NUM+C2_ITEM+C2_SEQUEN, ou mais C2_ITEMGRD.",
        ),
    )

    order = String(
        required=True,
        validate=order_key_rule,
        metadata={
            "description": (
                "Ordem de produção: C2_NUM+C2_ITEM+C2_SEQUEN (11 caracteres com as larguras "
                "usuais) ou +C2_ITEMGRD (14), como o campo `order` da listagem; as larguras "
                "vêm do dicionário do banco."
            )
        },
    )


class OrderDetailQuery(Schema):
    branch = _branch()

    refusals = (BRANCH_LAYOUT,)


# --- response documentation ------------------------------------------------------------------


class ProductionOrder(ma.Schema):
    """An SC2 row with its computed status, situation, last activity and routing, renamed for
    the API (service.order_row)."""

    order = fields.String(
        attribute="order_key",
        metadata={"description": "Chave C2_NUM+C2_ITEM+C2_SEQUEN+C2_ITEMGRD sem brancos finais."},
    )
    status = fields.String(metadata={"description": ", ".join(STATUSES)})
    situation = fields.String(
        metadata={"description": "normal, suspended (C2_STATUS = 'U') ou sacramented ('S')."}
    )
    # The C2_ fields as stored (trailing blanks trimmed), in queries.ORDER_COLUMNS' order.
    C2_FILIAL = fields.String(attribute="c2_filial")
    C2_NUM = fields.String(attribute="c2_num")
    C2_ITEM = fields.String(attribute="c2_item")
    C2_SEQUEN = fields.String(attribute="c2_sequen")
    C2_ITEMGRD = fields.String(attribute="c2_itemgrd")
    C2_PRODUTO = fields.String(attribute="c2_produto")
    C2_LOCAL = fields.String(attribute="c2_local")
    C2_UM = fields.String(attribute="c2_um")
    C2_QUANT = fields.Float(attribute="c2_quant", metadata={"description": "Quantidade da ordem."})
    C2_QUJE = fields.Float(
        attribute="c2_quje", metadata={"description": "Quantidade já produzida (última operação)."}
    )
    C2_PERDA = fields.Float(attribute="c2_perda", metadata={"description": "Quantidade perdida."})
    C2_DATPRI = fields.String(
        attribute="c2_datpri", metadata={"description": "Início previsto, YYYYMMDD."}
    )
    C2_DATPRF = fields.String(
        attribute="c2_datprf", metadata={"description": "Fim previsto, YYYYMMDD."}
    )
    C2_DATRF = fields.String(
        attribute="c2_datrf", metadata={"description": "Encerramento real, YYYYMMDD ('' = aberta)."}
    )
    C2_EMISSAO = fields.String(attribute="c2_emissao")
    C2_TPOP = fields.String(attribute="c2_tpop", metadata={"description": "F firme, P prevista."})
    C2_STATUS = fields.String(
        attribute="c2_status", metadata={"description": "N/'' normal, U suspensa, S sacramentada."}
    )
    C2_ROTEIRO = fields.String(attribute="c2_roteiro")
    C2_PRIOR = fields.String(attribute="c2_prior")
    C2_DIASOCI = fields.Float(
        attribute="c2_diasoci", metadata={"description": "Dias sem atividade até a ordem ser idle."}
    )
    lastActivity = fields.String(
        attribute="last_activity",
        allow_none=True,
        metadata={
            "description": (
                "Data (YYYYMMDD) da atividade mais recente: apontamento SH6 (H6_DTAPONT, senão "
                "H6_DATAFIN) ou movimento SD3 não estornado (D3_EMISSAO); null se não há."
            )
        },
    )
    routing = fields.String(
        metadata={"description": "Roteiro da ordem: C2_ROTEIRO, senão B1_OPERPAD, senão '01'."}
    )


class OrderOperation(ma.Schema):
    """An SG2 operation of the order's routing with the sums of its live SH6 appointments."""

    operation = fields.String(attribute="g2_operac", metadata={"description": "G2_OPERAC."})
    machine = fields.String(attribute="g2_recurso", metadata={"description": "G2_RECURSO."})
    description = fields.String(attribute="g2_descri", metadata={"description": "G2_DESCRI."})
    standardTime = fields.Float(
        attribute="g2_tempad",
        metadata={"description": "G2_TEMPAD como gravado: horas para lotSize unidades (MV_TPHR)."},
    )
    lotSize = fields.Float(attribute="g2_lotepad", metadata={"description": "G2_LOTEPAD."})
    goodQuantity = fields.Float(
        attribute="good_quantity",
        metadata={"description": "Soma de H6_QTDPROD dos apontamentos vivos da operação."},
    )
    scrapQuantity = fields.Float(
        attribute="scrap_quantity",
        metadata={"description": "Soma de H6_QTDPERD dos apontamentos vivos da operação."},
    )


class PendingReport(ma.Schema):
    """A production_reports row not yet in Protheus, renamed and formatted for the API."""

    id = fields.UUID(metadata={"description": "Identificador do apontamento (UUID)."})
    operation = fields.String()
    machine = fields.String()
    operator = fields.String()
    start = fields.DateTime(attribute="start_at", metadata={"description": "Início."})
    end = fields.DateTime(attribute="end_at", metadata={"description": "Fim."})
    goodQuantity = fields.Float(attribute="good_quantity")
    scrapQuantity = fields.Float(attribute="scrap_quantity")
    final = fields.Boolean()
    status = fields.String(metadata={"description": "pending, sending ou retrying."})
    attempts = fields.Integer()
    nextAttemptAt = fields.DateTime(
        attribute="next_attempt_at",
        allow_none=True,
        metadata={"description": "Próxima tentativa; null se não há."},
    )
    createdAt = fields.DateTime(
        attribute="created_at", metadata={"description": "Recebido pelo MES."}
    )


class ProductionOrderDetail(ProductionOrder):
    operations = fields.List(fields.Nested(OrderOperation))
    pendingReports = fields.List(
        fields.Nested(PendingReport),
        metadata={
            "description": "Apontamentos aceitos pelo MES e ainda não entregues ao Protheus."
        },
    )


class OrderFilters(ma.Schema):
    status = fields.String(allow_none=True)
    product = fields.String(allow_none=True)
    machine = fields.String(allow_none=True)
    planned_from = fields.String(allow_none=True, metadata={"description": "YYYY-MM-DD."})
    planned_to = fields.String(allow_none=True, metadata={"description": "YYYY-MM-DD."})
    branch = fields.String(metadata={"description": "A filial efetivamente usada."})


OrderListResponse = paged_envelope(
    ProductionOrder,
    name="OrderListResponse",
    page_name="OrderPage",
    filters=fields.Nested(
        OrderFilters,
        metadata={"description": "Filtros aplicados; `branch` é a filial efetivamente usada."},
    ),
)
OrderDetailResponse = envelope(ProductionOrderDetail, name="OrderDetailResponse")

"""Request schemas of the catalog (they validate and feed OpenAPI) and response schemas for docs."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from marshmallow import fields

from shared.pagination import PageQuery
from shared.validation import (
    Boolean,
    Date,
    Integer,
    Refusal,
    Schema,
    String,
    between,
    date_range_error,
    max_length,
    one_of,
)

MAX_DEPTH = 50
DEFAULT_DEPTH = 10


def _depth() -> Integer:
    return Integer(
        load_default=DEFAULT_DEPTH,
        validate=between(1, MAX_DEPTH),
        metadata={
            "description": (
                f"Profundidade máxima da recursão (1 a {MAX_DEPTH}, padrão {DEFAULT_DEPTH}). "
                "Valores acima de 10 podem ser lentos; mantenha entre 5 e 10."
            )
        },
    )


BRANCH_LAYOUT = Refusal(
    "branch",
    "layout",
    "a filial deve ter o comprimento do leiaute da empresa (SX2: empresa + unidade + filial) "
    "e caber no campo FILIAL da tabela.",
)
TOO_MANY_ROWS = Refusal(
    "max_depth", "too_many_rows", "a explosão passa de CATALOG_MAX_BOM_ROWS linhas."
)
NO_WORD = Refusal("description", "required", "o texto precisa ter ao menos uma palavra.")
TOO_MANY_WORDS = Refusal("description", "terms", "o texto tem palavras distintas demais.")


def _include_blocked() -> Boolean:
    return Boolean(
        load_default=False,
        metadata={"description": "Se true, inclui produtos bloqueados (B1_MSBLQL = '1')."},
    )


def _branch(column: str) -> String:
    return String(
        load_default=None,
        validate=max_length(12),
        metadata={"description": f"Filial ({column}); ausente = todas as filiais."},
    )


class CodePath(Schema):
    code = String(
        required=True,
        validate=max_length(60),
        metadata={"description": "Código do produto (B1_COD)."},
    )


class ListQuery(Schema):
    limit = Integer(
        load_default=50,
        validate=between(1, 500),
        metadata={
            "description": "Quantos produtos devolver (1 a 500, padrão 50), em ordem de B1_COD."
        },
    )
    include_blocked = _include_blocked()


class DescriptionSearchQuery(PageQuery):
    refusals = (NO_WORD, TOO_MANY_WORDS)

    description = String(
        required=True,
        validate=max_length(200),
        metadata={
            "description": (
                "Texto da busca. Comparado sem acentos, em maiúsculas e com espaços colapsados; "
                "cada palavra é um termo. %, _, aspas e barras valem literalmente."
            )
        },
    )
    include_blocked = _include_blocked()


class ProductSearchQuery(PageQuery):
    refusals = (NO_WORD, TOO_MANY_WORDS)

    code = String(
        load_default=None,
        validate=max_length(60),
        metadata={"description": "Parte do código (B1_COD contém o valor)."},
    )
    description = String(
        load_default=None,
        validate=max_length(200),
        metadata={
            "description": "Texto na descrição: a frase inteira ou qualquer termo (palavra)."
        },
    )
    group = String(
        load_default=None,
        validate=max_length(10),
        metadata={"description": "Grupo exato (B1_GRUPO)."},
    )
    include_blocked = _include_blocked()


class TreeQuery(PageQuery):
    refusals = (TOO_MANY_ROWS,)

    max_depth = _depth()
    date = Date(
        load_default=None,
        metadata={
            "description": (
                "Data de referência YYYY-MM-DD para a validade das linhas (G1_INI..G1_FIM); "
                "padrão: hoje no fuso da planta."
            )
        },
    )
    format = String(
        load_default="nested",
        validate=one_of(("nested", "flat")),
        metadata={"description": "nested (árvore em `components`) ou flat (lista com parentCode)."},
    )


class StockQuery(PageQuery):
    refusals = (BRANCH_LAYOUT,)

    branch = _branch("B2_FILIAL")
    location = String(
        load_default=None,
        validate=max_length(6),
        metadata={"description": "Armazém (B2_LOCAL)."},
    )


class GuideQuery(PageQuery):
    refusals = (BRANCH_LAYOUT, TOO_MANY_ROWS)

    branch = _branch("G2_FILIAL")
    include_components = Boolean(
        load_default=False,
        metadata={
            "description": (
                "Se true, devolve também o roteiro de todos os componentes da estrutura, "
                "com bomLevel (o nível mais raso em que aparecem)."
            )
        },
    )
    max_depth = _depth()


class _InvoiceQuery(PageQuery):
    refusals = (
        Refusal(
            "issue_date_end",
            "order",
            "issue_date_end deve ser igual ou posterior a issue_date_start.",
        ),
        BRANCH_LAYOUT,
    )

    issue_date_start = Date(
        load_default=None, metadata={"description": "Data inicial de emissão (YYYY-MM-DD)."}
    )
    issue_date_end = Date(
        load_default=None, metadata={"description": "Data final de emissão (YYYY-MM-DD)."}
    )

    @ma.validates_schema
    def start_before_end(self, data: dict[str, Any], **kwargs: Any) -> None:
        start, end = data.get("issue_date_start"), data.get("issue_date_end")
        if start and end and start > end:
            raise date_range_error("issue_date_end")


def _partner(column: str, kind: str, types: str) -> String:
    return String(
        load_default=None,
        validate=max_length(20),
        metadata={
            "description": (
                f"Código do {kind} ({column}): só notas {types}. Com `supplier` e `customer` "
                "juntos, itens de um ou de outro."
            )
        },
    )


class InboundQuery(_InvoiceQuery):
    supplier = _partner("D1_FORNECE", "fornecedor", "normais (tipo diferente de D e B)")
    customer = _partner("D1_FORNECE", "cliente", "de tipo D (devolução) ou B (beneficiamento)")
    branch = _branch("D1_FILIAL")


class OutboundQuery(_InvoiceQuery):
    customer = _partner("D2_CLIENTE", "cliente", "normais (tipo diferente de D e B)")
    supplier = _partner("D2_CLIENTE", "fornecedor", "de tipo D (devolução) ou B (beneficiamento)")
    branch = _branch("D2_FILIAL")


# --- response documentation ------------------------------------------------------------------


class ProductRow(ma.Schema):
    B1_COD = fields.String()
    B1_DESC = fields.String()
    B1_GRUPO = fields.String()
    B1_TIPO = fields.String(
        metadata={"description": "PA acabado, PI intermediário, MP matéria-prima."}
    )
    B1_UM = fields.String()
    B1_MSBLQL = fields.String(metadata={"description": "'1' = bloqueado."})


class RankedProductRow(ProductRow):
    relevance_score = fields.Integer(
        metadata={"description": "Pontuação de relevância (maior primeiro)."}
    )


class ListData(ma.Schema):
    total = fields.Integer(metadata={"description": "Quantidade de produtos devolvidos."})
    produtos = fields.List(fields.Nested(ProductRow))


class ListResponse(ma.Schema):
    success = fields.Boolean()
    message = fields.String()
    data = fields.Nested(ListData)


class _Paged(ma.Schema):
    total = fields.Integer()
    page = fields.Integer()
    pageSize = fields.Integer()
    totalPages = fields.Integer()
    filters = fields.Dict()


class DescriptionSearchData(_Paged):
    description = fields.String()
    results = fields.List(fields.Nested(RankedProductRow))


class DescriptionSearchResponse(ListResponse):
    data = fields.Nested(DescriptionSearchData)


class ProductSearchData(_Paged):
    data = fields.List(fields.Nested(RankedProductRow))


class ProductSearchResponse(ListResponse):
    data = fields.Nested(ProductSearchData)


class ProductDetail(ProductRow):
    B1_SEGUM = fields.String()
    B1_LOCPAD = fields.String()
    B1_QB = fields.Float(metadata={"description": "Quantidade base da estrutura."})
    B1_REVATU = fields.String()
    B1_CUSTD = fields.Float()
    B1_OPERPAD = fields.String(metadata={"description": "Roteiro padrão (vazio = '01')."})
    blocked = fields.Boolean()


class ProductData(ma.Schema):
    produto = fields.Nested(ProductDetail)


class ProductResponse(ListResponse):
    data = fields.Nested(ProductData)


class BomNode(ma.Schema):
    code = fields.String()
    description = fields.String()
    quantity = fields.Float(
        metadata={"description": "G1_QUANT por B1_QB unidades do pai, como gravado."}
    )
    level = fields.Integer(metadata={"description": "Raiz = 0, componentes diretos = 1."})
    trt = fields.String(
        metadata={"description": "Sequência G1_TRT (o mesmo componente pode aparecer duas vezes)."}
    )
    cumulativeQuantity = fields.Float(
        metadata={
            "description": "Quantidade para uma unidade da raiz (base B1_QB e perda G1_PERDA aplicadas)."
        }
    )
    loss = fields.Float(metadata={"description": "G1_PERDA (%)."})
    invalidLoss = fields.Boolean(
        metadata={"description": "G1_PERDA fora de [0, 100): tratada como 0."}
    )
    fixed = fields.Boolean(metadata={"description": "G1_FIXVAR = 'F': quantidade fixa por lote."})
    cycle = fields.Boolean(
        metadata={"description": "true onde a explosão foi cortada por um ciclo."}
    )
    parentCode = fields.String(
        metadata={"description": "Pai do nó quando ele não está nesta página."}
    )
    components = fields.List(fields.Dict(), metadata={"description": "Nós filhos (mesma forma)."})


class TreeData(_Paged):
    data = fields.Nested(BomNode)


class TreeResponse(ListResponse):
    data = fields.Nested(TreeData)


class RowsData(_Paged):
    data = fields.List(fields.Dict())


class RowsResponse(ListResponse):
    data = fields.Nested(RowsData)

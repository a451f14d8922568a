"""Request schemas of the catalog (they validate and feed OpenAPI) and the response schemas
that dump its answers (they document them too)."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from marshmallow import fields

from shared.envelope import envelope, paged, paged_envelope
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


# --- responses ------------------------------------------------------------------------------
# What each route answers, field by field: `required` means always present, `allow_none` that
# the value may be null. tests/catalog/test_response_schemas.py checks every route's answer
# against these (no undeclared field, no missing required one, the same JSON once dumped).


def _text(description: str = "", *, nullable: bool = False, required: bool = True) -> fields.String:
    metadata = {"description": description} if description else {}
    return fields.String(required=required, allow_none=nullable, metadata=metadata)


def _number(description: str = "") -> fields.Float:
    metadata = {"description": description} if description else {}
    return fields.Float(required=True, metadata=metadata)


class ProductRow(ma.Schema):
    B1_COD = _text()
    B1_DESC = _text()
    B1_GRUPO = _text()
    B1_TIPO = _text("PA acabado, PI intermediário, MP matéria-prima.")
    B1_UM = _text()
    B1_MSBLQL = _text("'1' = bloqueado.")


class RankedProductRow(ProductRow):
    relevance_score = fields.Integer(
        required=True, metadata={"description": "Pontuação de relevância (maior primeiro)."}
    )


class ProductDetail(ma.Schema):
    B1_COD = _text()
    B1_DESC = _text()
    B1_GRUPO = _text()
    B1_TIPO = _text("PA acabado, PI intermediário, MP matéria-prima.")
    B1_UM = _text()
    B1_SEGUM = _text()
    B1_LOCPAD = _text()
    B1_MSBLQL = _text("'1' = bloqueado.")
    B1_QB = _number("Quantidade base da estrutura.")
    B1_REVATU = _text()
    B1_CUSTD = _number()
    B1_OPERPAD = _text("Roteiro padrão (vazio = '01').")
    blocked = fields.Boolean(required=True, metadata={"description": "B1_MSBLQL = '1'."})


class BomNode(ma.Schema):
    """A node below the root; with `format=flat` a row of the list (no `components`)."""

    code = _text("G1_COMP (estrutura) ou G1_COD (onde-usado).")
    description = _text("B1_DESC do nó.", nullable=True)
    quantity = _number("G1_QUANT por B1_QB unidades do pai, como gravado.")
    level = fields.Integer(
        required=True, metadata={"description": "Raiz = 0, componentes diretos = 1."}
    )
    trt = _text("Sequência G1_TRT (o mesmo componente pode aparecer duas vezes).")
    cumulativeQuantity = _number(
        "Quantidade para uma unidade da raiz (base B1_QB e perda G1_PERDA aplicadas)."
    )
    loss = _number("G1_PERDA (%).")
    invalidLoss = fields.Boolean(
        required=True, metadata={"description": "G1_PERDA fora de [0, 100): tratada como 0."}
    )
    fixed = fields.Boolean(
        required=True, metadata={"description": "G1_FIXVAR = 'F': quantidade fixa por lote."}
    )
    unit = _text("B1_UM do nó.", nullable=True)
    cycle = fields.Boolean(
        required=True, metadata={"description": "true onde a explosão foi cortada por um ciclo."}
    )
    components = fields.List(
        fields.Nested(lambda: BomNode()),
        metadata={"description": "Nós filhos, mesma forma (ausente com format=flat)."},
    )
    parentCode = _text(
        "Pai do nó: quando ele não está nesta página (nested) ou sempre (flat).", required=False
    )


class BomRoot(ma.Schema):
    """The asked product, carried by every page; its nodes hang from `components`."""

    code = _text()
    description = _text()
    level = fields.Integer(required=True, metadata={"description": "Sempre 0."})
    quantity = _number("Sempre 1.")
    cumulativeQuantity = _number("Sempre 1.")
    unit = _text()
    components = fields.List(fields.Nested(BomNode), required=True)


class GuideRow(ma.Schema):
    G2_FILIAL = _text()
    G2_PRODUTO = _text()
    G2_OPER = _text("= G2_OPERAC (chave do guia).")
    G2_RECURSO = _text()
    G2_TEMPO = _number("= G2_TEMPAD, horas (chave do guia).")
    bomLevel = fields.Integer(
        required=True,
        metadata={
            "description": "Nível mais raso em que o item aparece na estrutura (0 = produto)."
        },
    )
    G2_CODIGO = _text()
    G2_OPERAC = _text()
    G2_CTRAB = _text()
    G2_DESCRI = _text()
    G2_SETUP = _number()
    G2_TEMPAD = _number()
    G2_LOTEPAD = _number()
    G2_MAOOBRA = _number()
    G2_TPOPER = _text()


class StockRow(ma.Schema):
    B2_FILIAL = _text()
    B2_LOCAL = _text()
    B2_COD = _text()
    B2_QATU = _number()
    B2_QEMP = _number()
    B2_RESERVA = _number()
    B2_QPEDVEN = _number()
    B2_SALPEDI = _number()
    B2_QACLASS = _number()
    B2_CM1 = _number()
    B2_STATUS = _text("'2' = saldo bloqueado (available = 0).")
    B2_QPEDI = _number("= B2_SALPEDI, entrada prevista (chave do guia).")
    B2_SEGUM = _text("= B1_SEGUM (chave do guia).", nullable=True)
    B2_QTREC = _number("= B2_QACLASS, a classificar (chave do guia).")
    available = _number("B2_QATU - B2_RESERVA - B2_QEMP - B2_QACLASS; 0 se bloqueado.")


class SupplierRow(ma.Schema):
    A5_FORNECE = _text()
    A5_LOJA = _text()
    A2_NOME = _text(nullable=True)
    A5_CODPRF = _text("Código do produto no fornecedor.")
    A5_NOMPROD = _text()


def _partner_type() -> fields.String:
    return _text("supplier (SA2) ou customer (SA1): de que tabela vem o nome.")


class InboundItemRow(ma.Schema):
    D1_FILIAL = _text()
    D1_DOC = _text()
    D1_SERIE = _text()
    D1_FORNECE = _text()
    D1_LOJA = _text()
    D1_ITEM = _text()
    D1_COD = _text()
    D1_UM = _text()
    D1_QUANT = _number()
    D1_VUNIT = _number()
    D1_TOTAL = _number()
    D1_TES = _text()
    D1_CF = _text()
    D1_LOCAL = _text()
    D1_EMISSAO = _text("YYYYMMDD.")
    D1_DTDIGIT = _text("YYYYMMDD.")
    D1_TIPO = _text()
    D1_PEDIDO = _text()
    D1_LOTECTL = _text()
    supplier_name = _text("Nome do parceiro (A2_NOME ou A1_NOME).", nullable=True)
    partnerType = _partner_type()


class OutboundItemRow(ma.Schema):
    D2_FILIAL = _text()
    D2_DOC = _text()
    D2_SERIE = _text()
    D2_CLIENTE = _text()
    D2_LOJA = _text()
    D2_ITEM = _text()
    D2_COD = _text()
    D2_UM = _text()
    D2_QUANT = _number()
    D2_PRCVEN = _number()
    D2_TOTAL = _number()
    D2_TES = _text()
    D2_CF = _text()
    D2_LOCAL = _text()
    D2_EMISSAO = _text("YYYYMMDD.")
    D2_TIPO = _text()
    D2_PEDIDO = _text()
    D2_LOTECTL = _text()
    customer_name = _text("Nome do parceiro (A1_NOME ou A2_NOME).", nullable=True)
    partnerType = _partner_type()


# --- echoed filters


def _echo(description: str = "", *, nullable: bool = True, required: bool = True) -> fields.String:
    return _text(description, nullable=nullable, required=required)


class DescriptionSearchFilters(ma.Schema):
    description = _echo(nullable=False)
    include_blocked = fields.Boolean(required=True)


class ProductSearchFilters(ma.Schema):
    code = _echo()
    description = _echo()
    group = _echo()


class TreeFilters(ma.Schema):
    max_depth = fields.Integer(required=True)
    date = _echo("Data de referência usada (YYYY-MM-DD).", nullable=False)
    format = _echo(nullable=False)


class GuideFilters(ma.Schema):
    branch = _echo()
    include_components = fields.Boolean(required=True)
    max_depth = fields.Integer(required=True)


class StockFilters(ma.Schema):
    branch = _echo()
    location = _echo()


class NoFilters(ma.Schema):
    """Always `{}`."""


class InboundFilters(ma.Schema):
    issue_date_start = _echo("YYYYMMDD.")
    issue_date_end = _echo("YYYYMMDD.")
    supplier = _echo()
    branch = _echo()
    customer = _echo("Presente só quando informado.", nullable=False, required=False)


class OutboundFilters(ma.Schema):
    issue_date_start = _echo("YYYYMMDD.")
    issue_date_end = _echo("YYYYMMDD.")
    customer = _echo()
    branch = _echo()
    supplier = _echo("Presente só quando informado.", nullable=False, required=False)


# --- data and envelopes


class ListData(ma.Schema):
    total = fields.Integer(
        required=True, metadata={"description": "Quantidade de produtos devolvidos."}
    )
    produtos = fields.List(fields.Nested(ProductRow), required=True)


class ProductData(ma.Schema):
    produto = fields.Nested(ProductDetail, required=True)


# The seed answers `description` after the rows, and dump follows the declaration order; the
# factory's `extra` goes before the rows, so the field is added by a subclass (a base class
# made at run time, which mypy cannot follow).
class DescriptionSearchData(
    paged(  # type: ignore[misc]
        RankedProductRow,
        name="DescriptionSearchPage",
        filters=DescriptionSearchFilters,
        rows_key="results",
    )
):
    description = _text("O texto buscado, como enviado.")


ListResponse = envelope(ListData, name="ListResponse")
ProductResponse = envelope(ProductData, name="ProductResponse")
DescriptionSearchResponse = envelope(DescriptionSearchData, name="DescriptionSearchResponse")
ProductSearchResponse = paged_envelope(
    RankedProductRow,
    name="ProductSearchResponse",
    page_name="ProductSearchData",
    filters=ProductSearchFilters,
)
TreeResponse = paged_envelope(
    fields.Nested(BomRoot, required=True),
    name="TreeResponse",
    page_name="TreeData",
    filters=TreeFilters,
)
GuideResponse = paged_envelope(
    GuideRow, name="GuideResponse", page_name="GuideData", filters=GuideFilters
)
StockResponse = paged_envelope(
    StockRow, name="StockResponse", page_name="StockData", filters=StockFilters
)
SuppliersResponse = paged_envelope(
    SupplierRow, name="SuppliersResponse", page_name="SuppliersData", filters=NoFilters
)
InboundResponse = paged_envelope(
    InboundItemRow, name="InboundResponse", page_name="InboundData", filters=InboundFilters
)
OutboundResponse = paged_envelope(
    OutboundItemRow, name="OutboundResponse", page_name="OutboundData", filters=OutboundFilters
)

"""Physical layout of the demo Protheus tables, created the way DBAccess creates them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from shared.protheus.naming import table_name
from shared.protheus.text import normalized_column_sql


@dataclass(frozen=True)
class Column:
    """One physical column: Protheus name (upper case), SQL type and default literal."""

    name: str
    sql_type: str
    default: str | None

    @property
    def is_char(self) -> bool:
        return self.sql_type.startswith("CHAR")

    @property
    def width(self) -> int | None:
        """Width of a CHAR column (None for numbers)."""
        if not self.is_char:
            return None
        return int(self.sql_type[5:-1])

    def ddl(self) -> str:
        # DBAccess never leaves a column NULL: empty is blanks or 0, so NOT NULL keeps
        # hand-crafted rows honest too.
        default = f" DEFAULT {self.default}" if self.default is not None else ""
        return f"{self.name} {self.sql_type}{default} NOT NULL"


# Column specs as Protheus's dictionary (SX3) would list them: `Cn` is CHAR(n),
# `D` a date (CHAR(8) YYYYMMDD, blank when empty), `N` a number (FLOAT, default 0).
_SPECS: dict[str, str] = {
    "SX2": "X2_CHAVE C3, X2_ARQUIVO C6, X2_NOME C30, X2_MODO C1, X2_MODOUN C1, X2_MODOEMP C1",
    "SB1": (
        "B1_FILIAL C2, B1_COD C15, B1_DESC C60, B1_TIPO C2, B1_UM C2, B1_SEGUM C2, B1_GRUPO C4,"
        " B1_LOCPAD C2, B1_MSBLQL C1, B1_QB N, B1_REVATU C3, B1_CUSTD N, B1_OPERPAD C2, B1_PESO N"
    ),
    "SG1": (
        "G1_FILIAL C2, G1_COD C15, G1_COMP C15, G1_TRT C3, G1_QUANT N, G1_PERDA N, G1_INI D,"
        " G1_FIM D, G1_FIXVAR C1, G1_REVINI C3, G1_REVFIM C3, G1_NIV C2, G1_NIVINV C2"
    ),
    "SG2": (
        "G2_FILIAL C2, G2_PRODUTO C15, G2_CODIGO C2, G2_OPERAC C2, G2_RECURSO C6, G2_CTRAB C6,"
        " G2_DESCRI C40, G2_SETUP N, G2_TEMPAD N, G2_LOTEPAD N, G2_MAOOBRA N, G2_TPOPER C1"
    ),
    "SH1": (
        "H1_FILIAL C2, H1_CODIGO C6, H1_DESCRI C40, H1_CTRAB C6, H1_CCUSTO C9, H1_CALEND C3,"
        " H1_MAOOBRA N"
    ),
    "SB2": (
        "B2_FILIAL C2, B2_COD C15, B2_LOCAL C2, B2_QATU N, B2_QEMP N, B2_RESERVA N,"
        " B2_QPEDVEN N, B2_SALPEDI N, B2_QACLASS N, B2_CM1 N, B2_STATUS C1"
    ),
    "SA1": (
        "A1_FILIAL C2, A1_COD C6, A1_LOJA C2, A1_NOME C60, A1_NREDUZ C20, A1_CGC C14,"
        " A1_MSBLQL C1, A1_EST C2, A1_MUN C30"
    ),
    "SA2": (
        "A2_FILIAL C2, A2_COD C6, A2_LOJA C2, A2_NOME C60, A2_NREDUZ C20, A2_CGC C14,"
        " A2_MSBLQL C1, A2_EST C2"
    ),
    "SA5": (
        "A5_FILIAL C2, A5_FORNECE C6, A5_LOJA C2, A5_PRODUTO C15, A5_CODPRF C20, A5_NOMPROD C30"
    ),
    "SF1": (
        "F1_FILIAL C2, F1_DOC C9, F1_SERIE C3, F1_FORNECE C6, F1_LOJA C2, F1_TIPO C1,"
        " F1_EMISSAO D, F1_DTDIGIT D, F1_VALBRUT N"
    ),
    "SD1": (
        "D1_FILIAL C2, D1_DOC C9, D1_SERIE C3, D1_FORNECE C6, D1_LOJA C2, D1_ITEM C4, D1_COD C15,"
        " D1_UM C2, D1_QUANT N, D1_VUNIT N, D1_TOTAL N, D1_TES C3, D1_CF C5, D1_LOCAL C2,"
        " D1_EMISSAO D, D1_DTDIGIT D, D1_TIPO C1, D1_PEDIDO C6, D1_LOTECTL C10"
    ),
    "SF2": (
        "F2_FILIAL C2, F2_DOC C9, F2_SERIE C3, F2_CLIENTE C6, F2_LOJA C2, F2_TIPO C1,"
        " F2_EMISSAO D, F2_VALBRUT N"
    ),
    "SD2": (
        "D2_FILIAL C2, D2_DOC C9, D2_SERIE C3, D2_CLIENTE C6, D2_LOJA C2, D2_ITEM C2, D2_COD C15,"
        " D2_UM C2, D2_QUANT N, D2_PRCVEN N, D2_TOTAL N, D2_TES C3, D2_CF C5, D2_LOCAL C2,"
        " D2_EMISSAO D, D2_TIPO C1, D2_PEDIDO C6, D2_LOTECTL C10"
    ),
    "SC2": (
        "C2_FILIAL C2, C2_NUM C6, C2_ITEM C2, C2_SEQUEN C3, C2_ITEMGRD C3, C2_PRODUTO C15,"
        " C2_LOCAL C2, C2_UM C2, C2_QUANT N, C2_QUJE N, C2_PERDA N, C2_DATPRI D, C2_DATPRF D,"
        " C2_DATRF D, C2_EMISSAO D, C2_TPOP C1, C2_STATUS C1, C2_ROTEIRO C2, C2_PRIOR C3,"
        " C2_DIASOCI N, C2_OBS C30"
    ),
    "SH6": (
        "H6_FILIAL C2, H6_OP C14, H6_PRODUTO C15, H6_OPERAC C2, H6_RECURSO C6, H6_FERRAM C6,"
        " H6_DATAINI D, H6_HORAINI C5, H6_DATAFIN D, H6_HORAFIN C5, H6_TEMPO N, H6_QTDPROD N,"
        " H6_QTDPERD N, H6_PT C1, H6_TIPO C1, H6_MOTIVO C2, H6_DTAPONT D, H6_LOCAL C2,"
        " H6_LOTECTL C10, H6_OPERADO C6, H6_OBSERVA C254, H6_IDENT C6"
    ),
    "SD3": (
        "D3_FILIAL C2, D3_TM C3, D3_COD C15, D3_UM C2, D3_QUANT N, D3_CF C3, D3_OP C14,"
        " D3_LOCAL C2, D3_DOC C9, D3_EMISSAO D, D3_ESTORNO C1, D3_NUMSEQ C6, D3_IDENT C6"
    ),
    # Alternative (A) and secondary (S) resources of a routing's operation.
    "SH3": "H3_FILIAL C2, H3_PRODUTO C15, H3_CODIGO C2, H3_OPERAC C2, H3_RECALTE C6, H3_TIPO C1",
    # Stop (unproductive time) reasons of current releases; older ones keep them in SX5 '44'.
    "CYN": "CYN_FILIAL C2, CYN_CDSP C6, CYN_DSSP C40",
    # The generic tables: X5_TABELA '00' lists the tables, '44' holds the stop reasons.
    "SX5": "X5_FILIAL C2, X5_TABELA C2, X5_CHAVE C6, X5_DESCRI C55, X5_DESCSPA C55, X5_DESCENG C55",
}

# SX2's X2_NOME of each table (Protheus's own Portuguese titles, upper case).
TABLE_TITLES: dict[str, str] = {
    "SX2": "DICIONARIO DE TABELAS",
    "SB1": "DESCRICAO GENERICA DO PRODUTO",
    "SG1": "ESTRUTURAS DOS PRODUTOS",
    "SG2": "OPERACOES",
    "SH1": "RECURSOS",
    "SB2": "SALDOS FISICO E FINANCEIRO",
    "SA1": "CLIENTES",
    "SA2": "FORNECEDORES",
    "SA5": "AMARRACAO PRODUTO X FORNECEDOR",
    "SF1": "CABECALHO DAS NF DE ENTRADA",
    "SD1": "ITENS DAS NF DE ENTRADA",
    "SF2": "CABECALHO DAS NF DE SAIDA",
    "SD2": "ITENS DE VENDA DA NF",
    "SC2": "ORDENS DE PRODUCAO",
    "SH6": "MOVIMENTACAO DA PRODUCAO",
    "SD3": "MOVIMENTACOES INTERNAS",
    "SH3": "RECURSOS ALTERNATIVOS",
    "CYN": "MOTIVOS DE PARADA",
    "SX5": "TABELAS GENERICAS",
}

# Shared tables keep blanks in XX_FILIAL (SX2 X2_MODO 'C'); every other table is
# exclusive and stores the branch code (X2_MODO 'E').
SHARED_ALIASES: frozenset[str] = frozenset({"SB1", "SA1", "SA2", "SA5", "SH1", "SX5"})

CONTROL_COLUMNS: tuple[Column, ...] = (
    Column("D_E_L_E_T_", "CHAR(1)", "' '"),
    Column("R_E_C_N_O_", "INTEGER", None),
    Column("R_E_C_D_E_L_", "INTEGER", "0"),
)


def _parse(spec: str) -> tuple[Column, ...]:
    columns = []
    for item in spec.split(","):
        name, kind = item.split()
        if kind == "N":
            columns.append(Column(name, "DOUBLE PRECISION", "0"))
        elif kind == "D":
            columns.append(Column(name, "CHAR(8)", "' '"))
        else:
            columns.append(Column(name, f"CHAR({int(kind[1:])})", "' '"))
    return (*columns, *CONTROL_COLUMNS)


TABLES: dict[str, tuple[Column, ...]] = {alias: _parse(spec) for alias, spec in _SPECS.items()}

# Aliases in the order the demo loads them (the SX2 dictionary first).
ALIASES: tuple[str, ...] = tuple(TABLES)

# Indexes as Protheus builds them: the branch column first, then the business key.
INDEXES: dict[str, tuple[tuple[str, ...], ...]] = {
    "SX2": (("X2_CHAVE",),),
    "SB1": (
        ("B1_FILIAL", "B1_COD", "D_E_L_E_T_"),
        ("B1_FILIAL", "B1_DESC"),
        ("B1_FILIAL", "B1_GRUPO", "B1_COD"),
    ),
    "SG1": (("G1_FILIAL", "G1_COD", "G1_COMP", "G1_TRT"), ("G1_FILIAL", "G1_COMP")),
    "SG2": (("G2_FILIAL", "G2_PRODUTO", "G2_CODIGO", "G2_OPERAC"), ("G2_FILIAL", "G2_RECURSO")),
    "SH1": (("H1_FILIAL", "H1_CODIGO"),),
    "SB2": (("B2_FILIAL", "B2_COD", "B2_LOCAL"),),
    "SA1": (("A1_FILIAL", "A1_COD", "A1_LOJA"),),
    "SA2": (("A2_FILIAL", "A2_COD", "A2_LOJA"),),
    "SA5": (("A5_FILIAL", "A5_PRODUTO"), ("A5_FILIAL", "A5_FORNECE", "A5_LOJA", "A5_PRODUTO")),
    "SF1": (("F1_FILIAL", "F1_DOC", "F1_SERIE", "F1_FORNECE", "F1_LOJA", "F1_TIPO"),),
    "SD1": (
        ("D1_FILIAL", "D1_COD", "D1_EMISSAO"),
        ("D1_FILIAL", "D1_DOC", "D1_SERIE", "D1_FORNECE", "D1_LOJA", "D1_ITEM"),
    ),
    "SF2": (("F2_FILIAL", "F2_DOC", "F2_SERIE", "F2_CLIENTE", "F2_LOJA", "F2_TIPO"),),
    "SD2": (
        ("D2_FILIAL", "D2_COD", "D2_EMISSAO"),
        ("D2_FILIAL", "D2_DOC", "D2_SERIE", "D2_CLIENTE", "D2_LOJA", "D2_ITEM"),
    ),
    "SC2": (
        ("C2_FILIAL", "C2_NUM", "C2_ITEM", "C2_SEQUEN", "C2_ITEMGRD"),
        ("C2_FILIAL", "C2_PRODUTO"),
    ),
    "SH6": (("H6_FILIAL", "H6_OP", "H6_OPERAC"), ("H6_FILIAL", "H6_RECURSO", "H6_DTAPONT")),
    "SD3": (("D3_FILIAL", "D3_OP"), ("D3_FILIAL", "D3_COD", "D3_EMISSAO")),
    "SH3": (("H3_FILIAL", "H3_PRODUTO", "H3_CODIGO", "H3_OPERAC"),),
    "CYN": (("CYN_FILIAL", "CYN_CDSP"),),
    "SX5": (("X5_FILIAL", "X5_TABELA", "X5_CHAVE"),),
}

# The expression the code-containment search must filter on to use the trigram index:
# pg_trgm's operator class takes text, not CHAR, so the index is on the cast.
CODE_SEARCH_SQL = "b1_cod::text"
TRIGRAM_EXTENSION_SQL = "CREATE EXTENSION IF NOT EXISTS pg_trgm"


def filial_column(alias: str) -> str | None:
    """The branch column of a table (None for the SX2 dictionary)."""
    first = TABLES[alias][0].name
    return first if first.endswith("_FILIAL") else None


def create_statements(
    company: str, tables: Mapping[str, tuple[Column, ...]] | None = None
) -> list[str]:
    """CREATE TABLE statements for every demo table of a company (unquoted identifiers)."""
    statements = []
    for alias, columns in (TABLES if tables is None else tables).items():
        body = ",\n    ".join(column.ddl() for column in columns)
        statements.append(f"CREATE TABLE {table_name(alias, company)} (\n    {body}\n)")
    return statements


def index_statements(company: str) -> list[str]:
    """Protheus-style indexes (branch column first) plus a unique R_E_C_N_O_ per table."""
    statements = []
    for alias, indexes in INDEXES.items():
        table = table_name(alias, company)
        statements.append(f"CREATE UNIQUE INDEX {table}_recno ON {table} (R_E_C_N_O_)")
        for number, columns in enumerate(indexes, start=1):
            statements.append(f"CREATE INDEX {table}{number} ON {table} ({', '.join(columns)})")
    return statements


def trigram_index_statements(company: str) -> list[str]:
    """GIN trigram indexes for product search; they need the pg_trgm extension."""
    table = table_name("SB1", company)
    return [
        f"CREATE INDEX {table}_desc_trgm ON {table}"
        f" USING gin (({normalized_column_sql('b1_desc')}) gin_trgm_ops)",
        f"CREATE INDEX {table}_cod_trgm ON {table} USING gin (({CODE_SEARCH_SQL}) gin_trgm_ops)",
    ]

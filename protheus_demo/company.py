"""A second demo company under Gestão de Empresas: layout EEUUFF, tables shared by segment.

Company `02` (tables SB1020, ..., SX2020) is a server-side copy of a loaded company
(`01`, whose rows stay exactly as they are), so it costs one INSERT ... SELECT per table.
Its branches are three-segment codes (company `01` + unit `SP` + branch `01`/`02`), its
FILIAL columns are wider than the codes (padding shows), and SX2 declares the segment
modes and lengths: some tables are exclusive, some shared at unit level, one at company
level, one fully shared. A product, its stock and a blocked balance exist only in a
second unit (`01RJ01`), so answers depend on each table's own filial.
"""

from __future__ import annotations

import asyncpg

from protheus_demo.load import MARKER_DDL, MARKER_TABLE, create_indexes
from protheus_demo.rows import insert_row
from protheus_demo.schema import ALIASES, TABLE_TITLES, TABLES, Column, create_statements
from shared.protheus.branches import ShareMode, xfilial
from shared.protheus.naming import table_name

UNIT_COMPANY = "02"
FILIAL_WIDTH = 8  # FWSizeFilial wider than the six-character layout: values are padded
SEGMENTS = (2, 2, 2)  # X2_TAMEMP, X2_TAMUN, X2_TAMFIL: layout EEUUFF
# The source company's branches and the codes they get in the unit company.
BRANCH_CODES = {"01": "01SP01", "02": "01SP02"}
OTHER_UNIT_BRANCH = "01RJ01"
OTHER_UNIT_PRODUCT = "RJ0000000000001"
# An order only company 02 has, in branch 01SP01: its product (unit-shared SB1) names
# routing 02 in B1_OPERPAD, so its operations show whether SB1 was read in the right unit.
UNIT_ORDER = ("900001", "01", "001")
UNIT_ORDER_KEY = "".join(UNIT_ORDER)
UNIT_PRODUCT = "SP0000000000001"
UNIT_ORDER_TEMPAD = 0.5  # hours (centesimal) per unit on routing 02's operation 10

# (X2_MODOEMP, X2_MODOUN, X2_MODO) per alias; anything not listed is exclusive throughout.
MODES: dict[str, tuple[str, str, str]] = {
    "SB1": ("E", "E", "C"),  # products: per business unit
    "SH1": ("E", "E", "C"),  # machines: per business unit
    "SA5": ("E", "E", "C"),
    "SA1": ("E", "C", "C"),  # customers: per company
    "SA2": ("C", "C", "C"),  # suppliers: the whole group
    "SX5": ("C", "C", "C"),  # generic tables (stop reasons '44'): the whole group
}
SX2_LAYOUT_COLUMNS = (
    Column("X2_TAMEMP", "DOUBLE PRECISION", "0"),
    Column("X2_TAMUN", "DOUBLE PRECISION", "0"),
    Column("X2_TAMFIL", "DOUBLE PRECISION", "0"),
)


def share_mode(alias: str) -> ShareMode:
    company, unit, branch = MODES.get(alias, ("E", "E", "E"))
    emp, un, fil = SEGMENTS
    return ShareMode(
        branch=branch, company=company, unit=unit, company_len=emp, unit_len=un, branch_len=fil
    )


def unit_tables() -> dict[str, tuple[Column, ...]]:
    """The demo's tables with FILIAL columns FILIAL_WIDTH wide and SX2's layout columns."""
    tables: dict[str, tuple[Column, ...]] = {}
    for alias, columns in TABLES.items():
        widened = [
            Column(c.name, f"CHAR({FILIAL_WIDTH})", c.default) if c.name.endswith("_FILIAL") else c
            for c in columns
        ]
        if alias == "SX2":
            at = next(i for i, c in enumerate(widened) if c.name == "D_E_L_E_T_")
            widened[at:at] = SX2_LAYOUT_COLUMNS
        tables[alias] = tuple(widened)
    return tables


async def load_unit_company(
    conn: asyncpg.Connection, *, company: str = UNIT_COMPANY, source: str = "01"
) -> dict[str, int]:
    """Create company `company` as a copy of `source` under the EEUUFF layout; rows per alias."""
    table_name("SB1", company)  # validates both codes before anything touches the database
    table_name("SB1", source)
    tables = unit_tables()
    counts: dict[str, int] = {}
    async with conn.transaction():
        for statement in create_statements(company, tables):
            await conn.execute(statement)
        for alias in ALIASES:
            if alias == "SX2":
                continue
            names = [c.name for c in TABLES[alias]]
            filial = names[0]
            mode = share_mode(alias)
            values = {src: xfilial(code, mode, FILIAL_WIDTH) for src, code in BRANCH_CODES.items()}
            # Rows of branch 02 go to 01SP02, every other row (01, shared blanks) to 01SP01.
            selected = [f"CASE WHEN {filial} = '02' THEN $2 ELSE $1 END", *names[1:]]
            status = await conn.execute(
                f"INSERT INTO {table_name(alias, company)} ({', '.join(names)}) "  # noqa: S608
                f"SELECT {', '.join(selected)} FROM {table_name(alias, source)}",
                values["01"],
                values["02"],
            )
            counts[alias] = int(status.split()[-1])
        for number, alias in enumerate((a for a in ALIASES if a != "SX2"), start=1):
            company_mode, unit_mode, branch_mode = MODES.get(alias, ("E", "E", "E"))
            await insert_row(
                conn,
                "SX2",
                company=company,
                X2_CHAVE=alias,
                X2_ARQUIVO=table_name(alias, company).upper(),
                X2_NOME=TABLE_TITLES[alias],
                X2_MODOEMP=company_mode,
                X2_MODOUN=unit_mode,
                X2_MODO=branch_mode,
                R_E_C_N_O_=number,
            )
        emp, un, fil = SEGMENTS
        await conn.execute(
            f"UPDATE {table_name('SX2', company)} "  # noqa: S608
            "SET x2_tamemp = $1, x2_tamun = $2, x2_tamfil = $3",
            emp,
            un,
            fil,
        )
        counts["SX2"] = len(ALIASES) - 1
        await _other_unit(conn, company)
        await _unit_order(conn, company)
        await create_indexes(conn, company)
        for alias in ALIASES:
            await conn.execute(f"ANALYZE {table_name(alias, company)}")
        await conn.execute(MARKER_DDL)
        await conn.execute(
            f"INSERT INTO {MARKER_TABLE} (company, scale, seed, reference_date)"  # noqa: S608
            f" SELECT $1, 'unit copy of ' || company, seed, reference_date FROM {MARKER_TABLE}"
            " WHERE company = $2 LIMIT 1",
            company,
            source,
        )
    return counts


async def _other_unit(conn: asyncpg.Connection, company: str) -> None:
    """A product known only in unit RJ, with a free and a blocked balance in branch 01RJ01."""
    branch = OTHER_UNIT_BRANCH
    await insert_row(
        conn,
        "SB1",
        company=company,
        B1_FILIAL=xfilial(branch, share_mode("SB1"), FILIAL_WIDTH),
        B1_COD=OTHER_UNIT_PRODUCT,
        B1_DESC="PARAFUSO SEXTAVADO UNIDADE RJ",
        B1_TIPO="MP",
        B1_UM="UN",
        B1_SEGUM="CX",
        B1_GRUPO="PARF",
        B1_LOCPAD="01",
    )
    for warehouse, quantity, status in (("01", 40.0, "1"), ("02", 15.0, "2")):
        await insert_row(
            conn,
            "SB2",
            company=company,
            B2_FILIAL=xfilial(branch, share_mode("SB2"), FILIAL_WIDTH),
            B2_COD=OTHER_UNIT_PRODUCT,
            B2_LOCAL=warehouse,
            B2_QATU=quantity,
            B2_RESERVA=2.0,
            B2_STATUS=status,
        )


async def unit_order_machines(conn: asyncpg.Connection, company: str = UNIT_COMPANY) -> list[str]:
    """The two machines of the unit order: routing 01's (index 0) and routing 02's (index 1)."""
    rows = await conn.fetch(
        f"SELECT h1_codigo FROM {table_name('SH1', company)} "  # noqa: S608
        "WHERE d_e_l_e_t_ = ' ' ORDER BY h1_codigo LIMIT 2"
    )
    return [row["h1_codigo"].strip() for row in rows]


async def _unit_order(conn: asyncpg.Connection, company: str) -> None:
    """A firm order of branch 01SP01 whose routing comes from its product's B1_OPERPAD (02)."""
    branch = "01SP01"
    first, second = await unit_order_machines(conn, company)
    await insert_row(
        conn,
        "SB1",
        company=company,
        B1_FILIAL=xfilial(branch, share_mode("SB1"), FILIAL_WIDTH),
        B1_COD=UNIT_PRODUCT,
        B1_DESC="SUPORTE SOLDADO UNIDADE SP",
        B1_TIPO="PA",
        B1_UM="UN",
        B1_GRUPO="SUPT",
        B1_LOCPAD="01",
        B1_OPERPAD="02",
    )
    sg2 = xfilial(branch, share_mode("SG2"), FILIAL_WIDTH)
    for routing, machine, description, tempad in (
        ("01", first, "SOLDAGEM ROTEIRO 01", 9.0),
        ("02", second, "SOLDAGEM ROTEIRO 02", UNIT_ORDER_TEMPAD),
    ):
        await insert_row(
            conn,
            "SG2",
            company=company,
            G2_FILIAL=sg2,
            G2_PRODUTO=UNIT_PRODUCT,
            G2_CODIGO=routing,
            G2_OPERAC="10",
            G2_RECURSO=machine,
            G2_DESCRI=description,
            G2_TEMPAD=tempad,
            G2_LOTEPAD=1.0,
            G2_TPOPER="1",
        )
    num, item, sequen = UNIT_ORDER
    await insert_row(
        conn,
        "SC2",
        company=company,
        C2_FILIAL=xfilial(branch, share_mode("SC2"), FILIAL_WIDTH),
        C2_NUM=num,
        C2_ITEM=item,
        C2_SEQUEN=sequen,
        C2_PRODUTO=UNIT_PRODUCT,
        C2_LOCAL="01",
        C2_UM="UN",
        C2_QUANT=100.0,
        C2_DATPRI="20260301",
        C2_DATPRF="20260310",
        C2_EMISSAO="20260225",
        C2_TPOP="F",
        C2_PRIOR="500",
    )

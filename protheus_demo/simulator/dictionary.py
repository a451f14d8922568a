"""The company's data dictionary as the simulator needs it: physical names and SX2 branch modes."""

from __future__ import annotations

import asyncpg

from protheus_demo.schema import SHARED_ALIASES, TABLES
from shared.protheus.branches import ShareMode, share_mode, xfilial
from shared.protheus.keys import ORDER_KEY_COLUMNS, OrderKeyLayout
from shared.protheus.naming import table_name
from shared.protheus.sql import live

# SELECT *: old dictionaries lack the Gestão de Empresas columns (X2_MODOEMP, X2_TAMEMP...).
READ_SX2_MODES = f"SELECT * FROM {{SX2}} WHERE {live()}"  # noqa: S608 - a fixed filter
# Declared widths of the CHAR columns of the tables an appointment reads or writes.
READ_WIDTHS = """
SELECT upper(column_name) AS name, character_maximum_length AS width
FROM information_schema.columns
WHERE table_name = ANY ($1::text[]) AND table_schema = ANY (current_schemas(false))
  AND character_maximum_length IS NOT NULL
"""
WIDTH_TABLES = ("SC2", "SH6")


class Dictionary:
    """Physical table names of one company and each table's share modes (SX2).

    SQL templates name tables as `{SC2}`; `sql()` renders them with the company's
    physical names (only identifiers derived from the validated company code).
    """

    def __init__(
        self,
        company: str,
        modes: dict[str, ShareMode],
        widths: dict[str, int] | None = None,
        *,
        has_sh3: bool = True,
        has_cyn: bool = True,
        has_sx5: bool = True,
    ) -> None:
        self.company = company
        self.modes = modes
        self.has_sh3 = has_sh3  # demo databases loaded before SH3 existed lack it
        # Stop reasons: CYN in current releases, SX5 table '44' where CYN does not exist.
        self.has_cyn = has_cyn
        self.has_sx5 = has_sx5  # demo databases loaded before stop reasons existed lack both
        # Column widths as the database declares them (the demo's own where it says nothing).
        self.widths = {
            column.name: column.width
            for alias in WIDTH_TABLES
            for column in TABLES[alias]
            if column.width is not None
        }
        self.widths.update(widths or {})
        self.order_key = OrderKeyLayout(
            *(self.widths[column.upper()] for column in ORDER_KEY_COLUMNS)
        )
        self._names = {alias: table_name(alias, company) for alias in TABLES}
        self._rendered: dict[str, str] = {}

    def table(self, alias: str) -> str:
        return self._names[alias]

    def sql(self, template: str) -> str:
        text = self._rendered.get(template)
        if text is None:
            text = template.format_map(self._names)
            self._rendered[template] = text
        return text

    def filial(self, alias: str, branch: str) -> str:
        """What AdvPL's xFilial(alias) answers: the part of the branch the table keeps."""
        return xfilial(branch, self.modes.get(alias)).rstrip()

    @classmethod
    async def load(cls, conn: asyncpg.Connection, company: str) -> Dictionary:
        """Modes from SX2 when the database has it; the demo's layout otherwise."""
        modes = {
            alias: ShareMode(branch="C" if alias in SHARED_ALIASES else "E") for alias in TABLES
        }
        sx2 = table_name("SX2", company)
        if await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", sx2):
            # An empty template: no values are formatted in, only the validated table name.
            rows = await conn.fetch(READ_SX2_MODES.format(SX2=sx2))
            for row in rows:
                modes[row["x2_chave"].strip()] = share_mode(row)
        # The routine validates sizes and splits the order key by the dictionary (SX3), not
        # by fixed widths: read them from the physical columns.
        names = [table_name(alias, company) for alias in WIDTH_TABLES]
        widths = {row["name"]: row["width"] for row in await conn.fetch(READ_WIDTHS, names)}
        optional = await conn.fetchrow(
            "SELECT to_regclass($1) IS NOT NULL AS sh3, to_regclass($2) IS NOT NULL AS cyn,"
            " to_regclass($3) IS NOT NULL AS sx5",
            table_name("SH3", company),
            table_name("CYN", company),
            table_name("SX5", company),
        )
        return cls(
            company,
            modes,
            widths,
            has_sh3=bool(optional and optional["sh3"]),
            has_cyn=bool(optional and optional["cyn"]),
            has_sx5=bool(optional and optional["sx5"]),
        )

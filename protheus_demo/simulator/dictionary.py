"""The company's data dictionary as the simulator needs it: physical names and SX2 branch modes."""

from __future__ import annotations

import asyncpg

from protheus_demo.schema import SHARED_ALIASES, TABLES
from shared.db import ShareMode, share_mode, xfilial
from shared.protheus import table_name

# SELECT *: old dictionaries lack the Gestão de Empresas columns (X2_MODOEMP, X2_TAMEMP...).
READ_SX2_MODES = "SELECT * FROM {SX2} WHERE d_e_l_e_t_ = ' '"


class Dictionary:
    """Physical table names of one company and each table's share modes (SX2).

    SQL templates name tables as `{SC2}`; `sql()` renders them with the company's
    physical names (only identifiers derived from the validated company code).
    """

    def __init__(self, company: str, modes: dict[str, ShareMode]) -> None:
        self.company = company
        self.modes = modes
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
        return cls(company, modes)

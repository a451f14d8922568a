"""Catalog test support: the API key, its headers, and a crafted Protheus database to fill."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg

from protheus_demo.rows import insert_row

KEY = "catalog-test-key-0123456789abcdef"
HEADERS = {"Authorization": f"Bearer {KEY}"}


@dataclass
class Crafted:
    """A Protheus database with empty tables, to fill row by row in a test."""

    dsn: str
    conn: asyncpg.Connection

    async def add(self, alias: str, **values: Any) -> int:
        return await insert_row(self.conn, alias, **values)

    async def product(self, code: str, desc: str, **values: Any) -> int:
        values.setdefault("B1_TIPO", "PA")
        values.setdefault("B1_UM", "UN")
        values.setdefault("B1_GRUPO", code[:4])
        return await self.add("SB1", B1_FILIAL="", B1_COD=code, B1_DESC=desc, **values)

    async def line(self, parent: str, comp: str, quant: float, **values: Any) -> int:
        values.setdefault("G1_FILIAL", "01")
        values.setdefault("G1_INI", "20000101")
        values.setdefault("G1_FIM", "20991231")
        values.setdefault("G1_FIXVAR", "V")
        return await self.add("SG1", G1_COD=parent, G1_COMP=comp, G1_QUANT=quant, **values)

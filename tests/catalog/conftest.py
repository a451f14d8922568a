"""Catalog fixtures: a crafted Protheus database (real DDL, SX2, hand-made rows) and clients."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest

from protheus_demo.load import create_schema
from protheus_demo.rows import insert_row
from services.catalog.app import create_app
from shared.settings import Settings, parse_api_keys
from tests.helpers import NO_AUDIT

KEY = "catalog-test-key-0123456789abcdef"


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


@pytest.fixture
async def crafted(fresh_database):
    dsn = await fresh_database()
    conn = await asyncpg.connect(dsn)
    await create_schema(conn, company="01")
    db = Crafted(dsn, conn)
    yield db
    await conn.close()


@pytest.fixture
def catalog_client(aiohttp_client):
    async def make(dsn: str, **overrides: Any):
        settings = Settings(
            protheus_db_url=dsn,
            api_keys=parse_api_keys(f"t:{KEY}:catalog:read"),
            **{"audit": NO_AUDIT, **overrides},
        )
        return await aiohttp_client(create_app(settings))

    return make


HEADERS = {"Authorization": f"Bearer {KEY}"}

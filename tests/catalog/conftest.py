"""Catalog fixtures: a crafted Protheus database (real DDL, SX2, hand-made rows) and clients."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from services.catalog.app import create_app
from shared.settings import Settings, parse_api_keys
from tests.helpers import NO_AUDIT
from tests.support.catalog import KEY, Crafted


@pytest.fixture
async def crafted(clone_database) -> AsyncIterator[Crafted]:
    """Empty Protheus tables of company 01 (a copy of the `erp01` template)."""
    dsn = await clone_database("erp01")
    conn = await asyncpg.connect(dsn)
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


@pytest.fixture
async def tree(crafted):
    """A (rev 002) explodes into:
    B twice (TRT 001 x2, TRT 002 x1); B (QB 100) -> M x50 and -> A (a cycle);
    G x9 with 10% loss; H x5 fixed -> N x2; K in revision; L x3 with an invalid 150% loss;
    and lines that must not show: C expired, D not yet valid, E out of revision, F deleted,
    X in branch 02."""
    db = crafted
    await db.product("A", "CONJUNTO A", B1_REVATU="002")
    await db.product("B", "SUBCONJUNTO B", B1_QB=100)
    for code in "CDEFGHKLMNX":
        await db.product(code, f"ITEM {code}", B1_TIPO="MP")
    await db.line("A", "B", 2, G1_TRT="001")
    await db.line("A", "B", 1, G1_TRT="002")
    await db.line("A", "C", 1, G1_FIM="20200101")
    await db.line("A", "D", 1, G1_INI="20990101")
    await db.line("A", "E", 1, G1_REVINI="003", G1_REVFIM="003")
    await db.line("A", "F", 1, D_E_L_E_T_="*")
    await db.line("A", "G", 9, G1_PERDA=10)
    await db.line("A", "H", 5, G1_FIXVAR="F")
    await db.line("A", "K", 1, G1_REVINI="001", G1_REVFIM="002")
    await db.line("A", "L", 3, G1_PERDA=150)
    await db.line("A", "X", 1, G1_FILIAL="02")
    await db.line("B", "M", 50)
    await db.line("B", "A", 1)
    await db.line("H", "N", 2)
    return db

"""Order-route test support: API keys, Protheus dates and keys, a crafted Protheus database
filled row by row with order-shaped defaults, and the order routes on the base app."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
from aiohttp import web

from protheus_demo.rows import insert_row
from services.production.app import create_app
from shared.settings import PusherSettings, Settings, parse_api_keys
from tests.helpers import NO_AUDIT

READ_KEY, CATALOG_KEY = "orders-read-key-0123456789abcdef", "orders-catalog-key-0123456789abcdef"
KEYS = f"t:{READ_KEY}:production:read;c:{CATALOG_KEY}:catalog:read"
READ = {"Authorization": f"Bearer {READ_KEY}"}
PLANT_TZ = ZoneInfo("America/Sao_Paulo")


def days_ago(days: int) -> str:
    """A Protheus date (YYYYMMDD) `days` before today in the plant's zone."""
    return (dt.datetime.now(PLANT_TZ).date() - dt.timedelta(days=days)).strftime("%Y%m%d")


def op_key(num: str, item: str = "01", sequen: str = "001", itemgrd: str = "") -> str:
    """The key as H6_OP / D3_OP store it: C14, blank-padded when ITEMGRD is blank."""
    return f"{num}{item}{sequen}{itemgrd}".ljust(14)


@dataclass
class OrderRows:
    """A Protheus database with empty tables, filled row by row with order-shaped defaults."""

    dsn: str
    conn: asyncpg.Connection

    async def add(self, alias: str, **values: Any) -> int:
        return await insert_row(self.conn, alias, **values)

    async def set_modes(self, **modes: str) -> None:
        """Make tables shared ('C') or exclusive ('E') in SX2, before the app reads SX2."""
        for alias, mode in modes.items():
            await self.conn.execute(
                "UPDATE sx2010 SET x2_modo = $1 WHERE x2_chave = $2", mode, alias
            )

    async def product(self, code: str, *, operpad: str = "", filial: str = "") -> int:
        return await self.add(
            "SB1", B1_FILIAL=filial, B1_COD=code, B1_DESC=f"PRODUTO {code}", B1_OPERPAD=operpad
        )

    async def operation(
        self, product: str, routing: str, operac: str, machine: str, **values: Any
    ) -> int:
        values.setdefault("G2_FILIAL", "01")
        values.setdefault("G2_DESCRI", f"OPERACAO {operac} EM {machine}")
        values.setdefault("G2_TEMPAD", 1.5)
        values.setdefault("G2_LOTEPAD", 100.0)
        return await self.add(
            "SG2",
            G2_PRODUTO=product,
            G2_CODIGO=routing,
            G2_OPERAC=operac,
            G2_RECURSO=machine,
            **values,
        )

    async def order(
        self,
        num: str,
        *,
        item: str = "01",
        sequen: str = "001",
        itemgrd: str = "",
        product: str = "P1",
        **values: Any,
    ) -> str:
        """One SC2 row, firm and open unless told; returns its key as H6_OP holds it."""
        values.setdefault("C2_FILIAL", "01")
        values.setdefault("C2_TPOP", "F")
        values.setdefault("C2_STATUS", "N")
        values.setdefault("C2_QUANT", 100.0)
        values.setdefault("C2_LOCAL", "01")
        values.setdefault("C2_UM", "UN")
        values.setdefault("C2_DATPRI", days_ago(5))
        values.setdefault("C2_DATPRF", days_ago(-5))
        values.setdefault("C2_EMISSAO", days_ago(10))
        values.setdefault("C2_PRIOR", "500")
        await self.add(
            "SC2",
            C2_NUM=num,
            C2_ITEM=item,
            C2_SEQUEN=sequen,
            C2_ITEMGRD=itemgrd,
            C2_PRODUTO=product,
            **values,
        )
        return op_key(num, item, sequen, itemgrd)

    async def appointment(
        self, key: str, operac: str = "10", *, day: str, good: float = 1.0, **values: Any
    ) -> int:
        """One SH6 row of `key`, dated `day` (H6_DTAPONT and H6_DATAFIN unless told)."""
        values.setdefault("H6_FILIAL", "01")
        values.setdefault("H6_DTAPONT", day)
        values.setdefault("H6_DATAINI", day)
        values.setdefault("H6_DATAFIN", day)
        values.setdefault("H6_TIPO", "P")
        values.setdefault("H6_PT", "P")
        return await self.add(
            "SH6", H6_OP=key, H6_OPERAC=operac, H6_QTDPROD=good, H6_RECURSO="M1", **values
        )

    async def move(self, key: str, *, day: str, reversed_: bool = False, **values: Any) -> int:
        """One SD3 production move (PR0) of `key`; `reversed_` marks D3_ESTORNO = 'S'."""
        values.setdefault("D3_FILIAL", "01")
        return await self.add(
            "SD3",
            D3_OP=key,
            D3_TM="010",
            D3_CF="PR0",
            D3_COD="P1",
            D3_QUANT=1.0,
            D3_EMISSAO=day,
            D3_ESTORNO="S" if reversed_ else "",
            **values,
        )


def order_routes_app(protheus_dsn: str, mes_dsn: str, **overrides: Any) -> web.Application:
    """The production service's real app, for the order routes: no audit, no report pusher."""
    settings = Settings(
        protheus_db_url=protheus_dsn,
        mes_db_url=mes_dsn,
        api_keys=parse_api_keys(KEYS),
        **{"audit": NO_AUDIT, "pusher": PusherSettings(enabled=False), **overrides},
    )
    return create_app(settings)


async def add_report(mes_dsn: str, *, order_key: str, status: str, branch: str = "01") -> str:
    """A report row as the report routes store it, in any status; returns its id."""
    report_id = uuid.uuid4()
    start = dt.datetime(2026, 3, 2, 8, 0, tzinfo=PLANT_TZ)
    conn = await asyncpg.connect(mes_dsn)
    try:
        await conn.execute(
            """INSERT INTO production_reports (id, client, branch, order_key, operation, machine,
                   operator, start_at, end_at, good_quantity, scrap_quantity, final, status)
               VALUES ($1, 't', $2, $3, '10', 'M1', 'OP0001', $4, $5, 5, 1, false, $6)""",
            report_id,
            branch,
            order_key,
            start,
            start + dt.timedelta(hours=1),
            status,
        )
    finally:
        await conn.close()
    return str(report_id)

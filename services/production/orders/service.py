"""What each order route does: resolve branches, run its one Protheus statement, shape the answer."""

from __future__ import annotations

import datetime as dt
from typing import Any

import asyncpg

from services.production.orders import queries
from services.production.reports.pending import pending_for_order
from shared.db.pools import mes_connection
from shared.db.sources import Row
from shared.errors import NotFound, invalid_parameter
from shared.pagination import Page, split_page
from shared.protheus.context import ProtheusContext
from shared.protheus.dates import dtos
from shared.protheus.keys import OrderKeyLayout
from shared.protheus.orders import situation
from shared.validation import iso_date

# Every table an order statement reads, each filtered by its own FILIAL.
ALIASES = ("SC2", "SB1", "SG2", "SH6", "SD3")


def order_key_params(layout: OrderKeyLayout, key: str, *, field: str) -> dict[str, str]:
    """`:num`, `:item`, `:sequen`, `:itemgrd` of a key split by the dictionary's widths, bound
    each to its own SC2 column (the index on FILIAL+NUM+ITEM+SEQUEN+ITEMGRD serves it).

    A key of neither allowed length is a 400 on `field`.
    """
    parts = layout.split(key)
    if parts is None:
        raise invalid_parameter(
            field,
            "length",
            f"a ordem tem {layout.describe()}; recebidos {len(key.rstrip())} caracteres.",
        )
    return dict(zip(("num", "item", "sequen", "itemgrd"), parts, strict=True))


async def filials(protheus: ProtheusContext, branch: str) -> dict[str, str]:
    """`:sc2_filial`, `:sb1_filial`... for one branch, per table from SX2."""
    return {f"{alias.lower()}_filial": await protheus.filial(alias, branch) for alias in ALIASES}


def plant_today(tz: dt.tzinfo) -> str:
    """The plant's date (PLANT_TIMEZONE), YYYYMMDD: "idle" counts days in the plant's zone."""
    return dtos(dt.datetime.now(tz).date())


def order_row(row: Row) -> Row:
    """An order row as the ProductionOrder schema dumps it (it renames the columns): with its
    `situation`, and a blank `last_activity` as None."""
    return {
        **row,
        "situation": situation(row["c2_status"]),
        "last_activity": row["last_activity"] or None,
    }


async def list_orders(
    protheus: ProtheusContext,
    *,
    tz: dt.tzinfo,
    page: Page,
    branch: str | None,
    status: str | None,
    product: str | None,
    machine: str | None,
    planned_from: dt.date | None,
    planned_to: dt.date | None,
) -> dict[str, Any]:
    """One page of a branch's orders (None: PROTHEUS_BRANCH), the filters combined with AND;
    `tz` is the plant's zone ("idle" counts days there)."""
    branch = branch or protheus.default_branch
    args: dict[str, Any] = {
        **await filials(protheus, branch),
        "today": plant_today(tz),
        "limit": page.size,
        "offset": page.offset,
    }
    if status in queries.ACTIVITY_STATUSES:
        args["status"] = status
    if product is not None:
        args["product"] = product
    if machine is not None:
        args["machine"] = machine
    if planned_from is not None:
        args["planned_from"] = dtos(planned_from)
    if planned_to is not None:
        args["planned_to"] = dtos(planned_to)
    sql = queries.list_orders(
        protheus.dialect,
        protheus.tables,
        status,
        by_product=product is not None,
        by_machine=machine is not None,
        planned_from=planned_from is not None,
        planned_to=planned_to is not None,
    )
    found = split_page(await protheus.source.fetch(sql, args), "order_key")
    total = found.total
    items = [order_row(row) for row in found.rows]
    filters = {
        "status": status,
        "product": product,
        "machine": machine,
        "planned_from": iso_date(planned_from),
        "planned_to": iso_date(planned_to),
        "branch": branch,
    }
    return page.envelope(total, items, filters=filters)


async def get_order(
    protheus: ProtheusContext,
    mes_pool: asyncpg.Pool,
    *,
    tz: dt.tzinfo,
    key: str,
    branch: str | None,
) -> dict[str, Any]:
    """One order with its routing's operations and progress (one Protheus statement) and the
    MES reports not yet delivered for it (one MES statement)."""
    branch = branch or protheus.default_branch
    args = {
        **await filials(protheus, branch),
        **order_key_params(await protheus.dictionary.order_key(), key, field="order"),
        "today": plant_today(tz),
    }
    sql = queries.order_detail(protheus.dialect, protheus.tables)
    rows = await protheus.source.fetch(sql, args)
    if not rows:
        raise NotFound(
            f"Ordem de produção {key} não encontrada na filial {branch}. Confira a chave "
            "(campo `order` da listagem) e o parâmetro branch."
        )
    detail = order_row(rows[0])
    detail["operations"] = [row for row in rows if row["g2_operac"] is not None]
    async with mes_connection(mes_pool) as conn:
        detail["pendingReports"] = await pending_for_order(
            conn, branch=branch, order_key=detail["order_key"]
        )
    return detail

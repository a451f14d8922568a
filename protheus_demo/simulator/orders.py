"""Production orders as TOTVS's PCP API shows them: /rest/api/pcp/v1/productionorders."""

from __future__ import annotations

import datetime
from typing import Any

import asyncpg
from aiohttp import web

from protheus_demo.simulator import queries
from protheus_demo.simulator.errors import RestFault, json_response
from protheus_demo.simulator.keys import get_config, get_dictionary, get_pool
from protheus_demo.simulator.tenant import request_branch
from shared.settings import BRANCH_PATTERN

MAX_PAGE_SIZE = 500


def iso_date(value: str | None) -> str | None:
    """A Protheus date (CHAR(8) YYYYMMDD, blank when empty) as ISO-8601, None when blank."""
    text = (value or "").strip()
    if len(text) != 8 or not text.isdigit():
        return None
    return f"{text[:4]}-{text[4:6]}-{text[6:]}"


def order_status(row: asyncpg.Record | dict[str, Any], today: datetime.date) -> str:
    """planned, open, started, idle, partially_closed or closed (PROTHEUS.md's table)."""
    if row["c2_tpop"].strip() == "P":
        return "planned"
    if row["c2_datrf"].strip():
        return "partially_closed" if row["c2_quje"] < row["c2_quant"] else "closed"
    last = iso_date(row["last_activity"])
    if last is None:
        return "open"
    idle_days = row["c2_diasoci"] or 0
    if idle_days > 0 and (today - datetime.date.fromisoformat(last)).days > idle_days:
        return "idle"
    return "started"


def order_situation(row: asyncpg.Record | dict[str, Any]) -> str:
    """C2_STATUS: U suspended, S definitively closed (sacramented), anything else normal."""
    return {"U": "suspended", "S": "sacramented"}.get(row["c2_status"].strip(), "normal")


def order_item(row: asyncpg.Record, today: datetime.date) -> dict[str, Any]:
    key = f"{row['c2_num']}{row['c2_item']}{row['c2_sequen']}{row['c2_itemgrd']}".strip()
    return {
        "branchId": row["c2_filial"].strip(),
        "productionOrder": key,
        "number": row["c2_num"].strip(),
        "item": row["c2_item"].strip(),
        "sequence": row["c2_sequen"].strip(),
        "gridItem": row["c2_itemgrd"].strip(),
        "itemCode": row["c2_produto"].strip(),
        "warehouseCode": row["c2_local"].strip(),
        "unitOfMeasure": row["c2_um"].strip(),
        "quantity": row["c2_quant"],
        "reportQuantity": row["c2_quje"],
        "lossQuantity": row["c2_perda"],
        "startOrderDate": iso_date(row["c2_datpri"]),
        "endOrderDate": iso_date(row["c2_datprf"]),
        "realEndDate": iso_date(row["c2_datrf"]),
        "issueDate": iso_date(row["c2_emissao"]),
        "orderType": row["c2_tpop"].strip(),
        "scriptCode": row["routing"].strip(),
        "priority": row["c2_prior"].strip(),
        "status": order_status(row, today),
        "situation": order_situation(row),
    }


def page_parameter(request: web.Request, name: str, default: int, maximum: int) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if not 1 <= value <= maximum:
        raise RestFault(
            400,
            f"Parâmetro {name} inválido: informe um inteiro entre 1 e {maximum}.",
            f"QUERYPARAM: {name}={raw!r}",
        )
    return value


def _today(request: web.Request) -> datetime.date:
    return datetime.datetime.now(get_config(request.app).tz).date()


async def list_production_orders(request: web.Request) -> web.Response:
    """GET .../productionorders?page=&pageSize=&branchId=: one page in the TOTVS API envelope."""
    page = page_parameter(request, "page", 1, 10**9)
    page_size = page_parameter(request, "pageSize", 20, MAX_PAGE_SIZE)
    branch = request.query.get("branchId", "").strip() or request_branch(request)
    if not BRANCH_PATTERN.match(branch):
        raise RestFault(400, f"Filial {branch!r} inválida.", "QUERYPARAM: branchId")
    async with get_pool(request.app).acquire() as conn:
        # One row more than asked tells whether another page exists.
        rows = await queries.list_orders(
            conn,
            get_dictionary(request.app),
            branch=branch,
            limit=page_size + 1,
            offset=(page - 1) * page_size,
        )
    today = _today(request)
    return json_response(
        {
            "items": [order_item(row, today) for row in rows[:page_size]],
            "hasNext": len(rows) > page_size,
            "page": page,
            "pageSize": page_size,
        }
    )


async def get_production_order(request: web.Request) -> web.Response:
    """GET .../productionorders/{branchId}/{productionOrder}: one order, 404 when unknown."""
    branch = request.match_info["branchId"].strip()
    order = request.match_info["productionOrder"].strip()
    dictionary = get_dictionary(request.app)
    key = queries.order_key_parts(dictionary, order)
    row = None
    if key is not None and BRANCH_PATTERN.match(branch):
        async with get_pool(request.app).acquire() as conn:
            row = await queries.one_order(conn, dictionary, branch=branch, key=key)
    if row is None:
        raise RestFault(
            404,
            f"Ordem de produção {order} não encontrada.",
            f"OPNAOEXIST: ordem {order} inexistente na filial {branch} (SC2)",
        )
    return json_response(order_item(row, _today(request)))

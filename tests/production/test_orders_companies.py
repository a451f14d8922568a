"""Production orders on a second company under Gestão de Empresas (demo company 02, EEUUFF).

Company 02 holds company 01's orders under branches 01SP01/01SP02, with SB1 and SH1 shared
per business unit and SC2, SG2, SH6, SD3 exclusive: each table is filtered by its own
filial, so list and detail answer exactly as on company 01.
"""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest

from protheus_demo.company import UNIT_ORDER_KEY, UNIT_ORDER_TEMPAD, unit_order_machines
from tests.helpers import assert_envelope
from tests.support.orders import READ, order_routes_app
from tests.support.urls import url


@pytest.fixture
async def machines(demo_two_companies_dsn) -> list[str]:
    conn = await asyncpg.connect(demo_two_companies_dsn)
    try:
        return await unit_order_machines(conn)
    finally:
        await conn.close()


@pytest.fixture
async def clients(aiohttp_client, demo_two_companies_dsn, mes_dsn):
    one = await aiohttp_client(order_routes_app(demo_two_companies_dsn, mes_dsn))
    two = await aiohttp_client(
        order_routes_app(
            demo_two_companies_dsn, mes_dsn, protheus_company="02", protheus_branch="01SP01"
        )
    )
    return one, two


async def get(client: Any, path: str, expect: int = 200, **query: Any) -> Any:
    return await assert_envelope(await client.get(path, params=query, headers=READ), expect)


def as_company_02(item: dict[str, Any], code: str) -> dict[str, Any]:
    return {**item, "C2_FILIAL": code} if "C2_FILIAL" in item else item


@pytest.mark.parametrize(("branch_01", "branch_02"), [("01", "01SP01"), ("02", "01SP02")])
async def test_list_and_detail_answer_on_the_second_company(clients, branch_01, branch_02):
    one, two = clients
    expected = await get(one, url(one, "production_orders_list"), branch=branch_01, page_size=200)
    got = await get(two, url(two, "production_orders_list"), branch=branch_02, page_size=200)
    assert expected["total"] > 0
    extra = 1 if branch_02 == "01SP01" else 0  # the unit order only company 02 has
    assert got["total"] == expected["total"] + extra
    copied = [item for item in got["data"] if item["order"] != UNIT_ORDER_KEY]
    assert copied == [as_company_02(item, branch_02) for item in expected["data"]]
    assert got["filters"]["branch"] == branch_02
    # The detail joins SB1 (unit-shared), SG2, SH6 and SD3 (exclusive), each by its filial.
    worked = [
        i["order"] for i in expected["data"] if i["status"] in ("started", "partially_closed")
    ]
    assert worked
    for key in worked[:3]:
        detail_one = await get(one, url(one, "production_order", order=key), branch=branch_01)
        detail_two = await get(two, url(two, "production_order", order=key), branch=branch_02)
        assert detail_two == as_company_02(detail_one, branch_02)


async def test_default_branch_and_layout_checks(clients):
    _, two = clients
    listing = url(two, "production_orders_list")
    default = await get(two, listing, page_size=5)
    assert default["total"] > 0
    assert default["filters"]["branch"] == "01SP01"
    # Not a branch of the EEUUFF layout.
    body = await get(two, listing, 400, branch="01")
    assert "filial" in body["message"].lower()
    assert (await get(two, listing, branch="01RJ01"))["total"] == 0


async def test_routing_comes_from_the_product_in_the_orders_unit(clients, machines):
    """SB1 is shared per unit: the order's product (B1_OPERPAD 02) is found under 01SP."""
    _, two = clients
    detail = await get(two, url(two, "production_order", order=UNIT_ORDER_KEY))
    assert detail["routing"] == "02"
    assert [(op["operation"], op["machine"]) for op in detail["operations"]] == [
        ("10", machines[1])
    ]
    assert detail["operations"][0]["standardTime"] == UNIT_ORDER_TEMPAD
    listed = await get(two, url(two, "production_orders_list"), machine=machines[1], page_size=200)
    assert UNIT_ORDER_KEY in [item["order"] for item in listed["data"]]
    listed = await get(two, url(two, "production_orders_list"), machine=machines[0], page_size=200)
    assert UNIT_ORDER_KEY not in [item["order"] for item in listed["data"]]

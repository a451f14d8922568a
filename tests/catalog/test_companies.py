"""The catalog on a second company under Gestão de Empresas (layout EEUUFF, demo company 02).

Company 02 is company 01's data with three-segment branches (01 -> 01SP01, 02 -> 01SP02)
and tables shared by segment: SB1/SH1/SA5 per unit, SA1 per company, SA2 by the group,
the rest exclusive. The same questions must get the same answers on both companies.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys

import pytest
from aiohttp.test_utils import TestServer

from protheus_demo.company import OTHER_UNIT_BRANCH, OTHER_UNIT_PRODUCT
from protheus_demo.generate import DEEP_PRODUCTS
from services.catalog.app import create_app
from shared.settings import ConfigError, Settings
from tests.helpers import NO_AUDIT, assert_envelope
from tests.support.catalog import HEADERS
from tests.support.urls import url

SP01 = "01SP01"
BRANCH_MAP = {"01": "01SP01", "02": "01SP02"}


@pytest.fixture
async def clients(demo_two_companies_dsn, catalog_client):
    one = await catalog_client(demo_two_companies_dsn)
    two = await catalog_client(demo_two_companies_dsn, protheus_company="02", protheus_branch=SP01)
    return one, two


async def get(client, path, status=200, **query):
    resp = await client.get(path, headers=HEADERS, params=query)
    return await assert_envelope(resp, status)


async def a_code_with(client, route: str) -> str:
    listing = await get(client, url(client, "products_list"), limit=500)
    for product in listing["produtos"]:
        data = await get(client, url(client, route, code=product["B1_COD"]), page_size=1)
        if data["total"]:
            return product["B1_COD"]
    raise AssertionError(f"no demo product has {route}")


def in_company_02(rows: list[dict], filial_key: str) -> list[dict]:
    """Company 01 rows as company 02 holds them: the branch code mapped."""
    return [{**row, filial_key: BRANCH_MAP[row[filial_key]]} for row in rows]


async def test_product_list_and_detail_answer_on_the_unit_shared_sb1(clients):
    one, two = clients
    listing_one = await get(one, url(one, "products_list"), limit=50)
    listing_two = await get(two, url(two, "products_list"), limit=50)
    assert listing_two == listing_one
    assert listing_two["total"] == 50
    code = listing_one["produtos"][0]["B1_COD"]
    assert await get(two, url(two, "product", code=code)) == await get(
        one, url(one, "product", code=code)
    )
    # A product known only in unit RJ is not a product of unit SP.
    await get(two, url(two, "product", code=OTHER_UNIT_PRODUCT), 404)


async def test_structure_answers_with_each_table_filial(clients):
    one, two = clients
    code = DEEP_PRODUCTS[0]
    path = url(one, "product_structure", code=code)
    expected = await get(one, path, max_depth=10, page_size=50)
    assert expected["total"] > 0
    assert await get(two, path, max_depth=10, page_size=50) == expected


async def test_stock_joins_sb1_by_the_unit_prefix_of_each_balance(clients):
    one, two = clients
    code = await a_code_with(one, "product_stock")
    expected = await get(one, url(one, "product_stock", code=code), page_size=100)
    got = await get(two, url(two, "product_stock", code=code), page_size=100)
    assert got["data"] == in_company_02(expected["data"], "B2_FILIAL")
    assert any(row["B2_SEGUM"] is not None for row in got["data"])
    only_sp01 = await get(two, url(two, "product_stock", code=code), branch=SP01, page_size=100)
    assert only_sp01["data"] == [r for r in got["data"] if r["B2_FILIAL"] == SP01]


@pytest.mark.parametrize(
    ("route", "filial"),
    [
        ("product_inbound_invoice_items", "D1_FILIAL"),
        ("product_outbound_invoice_items", "D2_FILIAL"),
    ],
)
async def test_invoice_items_join_header_and_partner_each_by_its_own_filial(clients, route, filial):
    one, two = clients
    code = await a_code_with(one, route)
    expected = await get(one, url(one, route, code=code), page_size=100)
    got = await get(two, url(two, route, code=code), page_size=100)
    assert got["total"] == expected["total"] > 0
    assert got["data"] == in_company_02(expected["data"], filial)
    assert all(row["partnerType"] for row in got["data"])
    names = [row.get("supplier_name") or row.get("customer_name") for row in got["data"]]
    assert any(names)  # SA2 group-shared, SA1 company-shared: found from the item's branch


async def test_stock_checks_the_product_in_the_branch_asked_for(clients):
    _, two = clients
    path = url(two, "product_stock", code=OTHER_UNIT_PRODUCT)
    data = await get(two, path, branch=OTHER_UNIT_BRANCH)
    rows = {row["B2_LOCAL"]: row for row in data["data"]}
    assert set(rows) == {"01", "02"}
    assert rows["01"]["available"] == 40 - 2
    assert rows["02"]["B2_STATUS"] == "2"
    assert rows["02"]["available"] == 0
    assert rows["01"]["B2_SEGUM"] == "CX"
    # Without a branch the product is looked up in the default branch's unit (SP): unknown.
    await get(two, path, 404)


@pytest.mark.parametrize("branch", ["01", "01SP0102", "01SP01XYZ"])
async def test_a_branch_outside_the_layout_is_a_400(clients, branch):
    _, two = clients
    body = await get(two, url(two, "product_stock", code="X"), 400, branch=branch)
    assert "filial" in body["message"].lower()
    assert body["error"]["code"] == "invalid_parameter"


@pytest.mark.parametrize(
    ("company", "branch"),
    [("02", "01"), ("02", "01SP01XY"), ("01", "0101")],  # layout EEUUFF; B1_FILIAL C2 on 01
)
async def test_a_default_branch_outside_the_layout_stops_the_start(
    demo_two_companies_dsn, company, branch
):
    settings = Settings(
        protheus_db_url=demo_two_companies_dsn,
        protheus_company=company,
        protheus_branch=branch,
        audit=NO_AUDIT,
    )
    server = TestServer(create_app(settings))
    try:
        with pytest.raises(ConfigError, match="PROTHEUS_BRANCH"):
            await server.start_server()
    finally:
        await server.close()


async def test_odbc_answers_like_asyncpg_on_the_second_company(
    demo_two_companies_dsn, catalog_client, clients
):
    from tests.support.databases import odbc_url

    _, two = clients
    odbc = await catalog_client(
        odbc_url(demo_two_companies_dsn), protheus_company="02", protheus_branch=SP01
    )
    code = await a_code_with(two, "product_inbound_invoice_items")
    for path, query in (
        (url(two, "product", code=code), {}),
        (url(two, "product_stock", code=code), {}),
        (url(two, "product_inbound_invoice_items", code=code), {"branch": SP01}),
        (url(two, "product_stock", code=OTHER_UNIT_PRODUCT), {"branch": OTHER_UNIT_BRANCH}),
    ):
        assert await get(odbc, path, **query) == await get(two, path, **query), path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_the_service_process_exits_with_a_clear_message(demo_two_companies_dsn):
    env = {
        **os.environ,
        "PROTHEUS_DB_URL": demo_two_companies_dsn,
        "PROTHEUS_COMPANY": "02",
        "PROTHEUS_BRANCH": "01",
        "HTTP_HOST": "127.0.0.1",
        "HTTP_PORT": str(free_port()),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.catalog",
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 2
    assert "PROTHEUS_BRANCH" in stderr.decode()
    assert "leiaute" in stderr.decode()

"""GET /rest/api/pcp/v1/productionorders: the TOTVS API envelope, paging, one order, 404."""

from __future__ import annotations

import asyncpg
import pytest

from protheus_demo.rows import insert_row
from tests.support.simulator import BASIC, assert_fault, fetch, find_order

ORDERS = "/rest/api/pcp/v1/productionorders"
ITEM_KEYS = {
    "branchId",
    "productionOrder",
    "number",
    "item",
    "sequence",
    "itemCode",
    "warehouseCode",
    "quantity",
    "reportQuantity",
    "startOrderDate",
    "endOrderDate",
    "scriptCode",
    "status",
}
LIVE_KEYS_SQL = """
SELECT trim(c2_num || c2_item || c2_sequen || c2_itemgrd) AS key FROM sc2010
WHERE c2_filial = $1 AND d_e_l_e_t_ = ' '
ORDER BY c2_num, c2_item, c2_sequen, c2_itemgrd
"""


async def get_json(client, path, status=200, **params):
    resp = await client.get(path, params=params, headers=BASIC)
    body = await resp.json()
    assert resp.status == status, body
    return body


async def test_list_answers_the_totvs_envelope_with_order_fields(module_demo_dsn, start_simulator):
    client = await start_simulator(module_demo_dsn)
    body = await get_json(client, ORDERS)
    assert set(body) == {"items", "hasNext", "page", "pageSize"}
    assert body["page"] == 1
    assert body["pageSize"] == 20
    assert len(body["items"]) == 20
    assert body["hasNext"] is True
    first = body["items"][0]
    assert set(first) >= ITEM_KEYS
    assert first["branchId"] == "01"
    assert len(first["productionOrder"]) in (11, 14)
    assert first["startOrderDate"][4] == "-"


async def test_pages_walk_every_live_order_of_the_branch_once(module_demo_dsn, start_simulator):
    conn = await asyncpg.connect(module_demo_dsn)
    try:
        # A deleted order must never show up.
        await insert_row(
            conn, "SC2", C2_FILIAL="01", C2_NUM="000001", C2_ITEM="01", C2_SEQUEN="001",
            C2_PRODUTO="X", C2_TPOP="F", D_E_L_E_T_="*",
        )  # fmt: skip
    finally:
        await conn.close()
    client = await start_simulator(module_demo_dsn)
    for branch in ("01", "02"):
        expected = [row["key"] for row in await fetch(module_demo_dsn, LIVE_KEYS_SQL, branch)]
        seen: list[str] = []
        page = 1
        while True:
            body = await get_json(client, ORDERS, page=page, pageSize=7, branchId=branch)
            assert body["pageSize"] == 7
            assert {item["branchId"] for item in body["items"]} <= {branch}
            seen += [item["productionOrder"] for item in body["items"]]
            if not body["hasNext"]:
                break
            assert len(body["items"]) == 7
            page += 1
        assert seen == expected
        assert "00000101001" not in seen


async def test_a_page_past_the_end_is_empty(module_demo_dsn, start_simulator):
    client = await start_simulator(module_demo_dsn)
    body = await get_json(client, ORDERS, page=1000, pageSize=50)
    assert body["items"] == []
    assert body["hasNext"] is False


@pytest.mark.parametrize("params", [{"page": "0"}, {"pageSize": "abc"}, {"pageSize": "100000"}])
async def test_bad_paging_parameters_are_400(module_demo_dsn, start_simulator, params):
    client = await start_simulator(module_demo_dsn)
    await assert_fault(await client.get(ORDERS, params=params, headers=BASIC), 400)


async def test_one_order_by_branch_and_key(module_demo_dsn, start_simulator):
    order = await find_order(module_demo_dsn, "accepting")
    client = await start_simulator(module_demo_dsn)
    body = await get_json(client, f"{ORDERS}/01/{order.key}")
    assert body["productionOrder"] == order.key
    assert body["itemCode"] == order.product
    assert body["warehouseCode"] == order.warehouse
    assert body["scriptCode"] == order.routing
    assert body["reportQuantity"] == order.produced
    assert body["status"] in ("open", "started", "idle")


@pytest.mark.parametrize(
    ("situation", "statuses", "sc2_situation"),
    [
        ("planned", {"planned"}, "normal"),
        ("closed", {"closed", "partially_closed"}, "normal"),
        ("suspended", {"open", "started", "idle"}, "suspended"),
        ("sacramented", {"closed", "partially_closed"}, "sacramented"),
    ],
)
async def test_status_and_situation_follow_the_sc2_columns(
    module_demo_dsn, start_simulator, situation, statuses, sc2_situation
):
    order = await find_order(module_demo_dsn, situation)
    client = await start_simulator(module_demo_dsn)
    body = await get_json(client, f"{ORDERS}/01/{order.key}")
    assert body["status"] in statuses
    assert body["situation"] == sc2_situation


async def test_order_with_a_grid_item_answers_to_its_14_character_key(
    module_demo_dsn, start_simulator
):
    conn = await asyncpg.connect(module_demo_dsn)
    try:
        await insert_row(
            conn, "SC2", C2_FILIAL="01", C2_NUM="999990", C2_ITEM="01", C2_SEQUEN="001",
            C2_ITEMGRD="002", C2_PRODUTO="X", C2_QUANT=5, C2_TPOP="F", C2_DATPRI="20260105",
        )  # fmt: skip
    finally:
        await conn.close()
    client = await start_simulator(module_demo_dsn)
    body = await get_json(client, f"{ORDERS}/01/99999001001002")
    assert body["productionOrder"] == "99999001001002"
    assert body["startOrderDate"] == "2026-01-05"
    assert body["endOrderDate"] is None
    # The 11-character key names the order without a grid item, which does not exist.
    await assert_fault(await client.get(f"{ORDERS}/01/99999001001", headers=BASIC), 404)


async def test_unknown_order_is_404_in_the_fault_shape(module_demo_dsn, start_simulator):
    client = await start_simulator(module_demo_dsn)
    body = await assert_fault(await client.get(f"{ORDERS}/01/99999901001", headers=BASIC), 404)
    assert "99999901001" in body["message"]
    await assert_fault(await client.get(f"{ORDERS}/01/123", headers=BASIC), 404)
    branch01 = {row["key"] for row in await fetch(module_demo_dsn, LIVE_KEYS_SQL, "01")}
    branch02 = {row["key"] for row in await fetch(module_demo_dsn, LIVE_KEYS_SQL, "02")}
    only01 = sorted(branch01 - branch02)[0]
    await assert_fault(await client.get(f"{ORDERS}/02/{only01}", headers=BASIC), 404)

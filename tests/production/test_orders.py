"""Production-order routes on crafted Protheus rows: status rules, filters, branches, keys,
routing, progress, pending reports, errors and auth; then the demo data and the T-SQL text."""

from __future__ import annotations

import re
from typing import Any

import asyncpg
import pytest

from protheus_demo.orders import ORDER_STATUSES
from services.production.orders import queries
from shared.db.dialect import TSQL, render
from shared.openapi import build_spec
from shared.protheus.naming import Tables
from tests.helpers import assert_envelope, auth
from tests.support.databases import odbc_url
from tests.support.orders import (
    CATALOG_KEY,
    READ,
    READ_KEY,
    add_report,
    days_ago,
    op_key,
)
from tests.support.urls import url


async def get(client: Any, path: str, expect: int = 200, **query: Any) -> Any:
    return await assert_envelope(await client.get(path, params=query, headers=READ), expect)


def by_order(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["order"]: item for item in data["data"]}


@pytest.fixture
async def statuses(protheus_rows):
    """One order per status rule and per trap a forgotten filter would fall into."""
    db = protheus_rows
    await db.product("P1")
    await db.order("000001", C2_TPOP="P")  # planned
    planned_moved = await db.order("000002", C2_TPOP="P", C2_DIASOCI=1)
    await db.appointment(planned_moved, day=days_ago(30))  # still planned
    await db.order("000003")  # open: nothing at all
    deleted_only = await db.order("000004", C2_DIASOCI=3)
    await db.appointment(deleted_only, day=days_ago(1), D_E_L_E_T_="*")  # open
    reversed_only = await db.order("000005", C2_DIASOCI=3)
    await db.move(reversed_only, day=days_ago(1), reversed_=True)  # open
    recent = await db.order("000006", C2_DIASOCI=5)
    await db.appointment(recent, day=days_ago(40))
    await db.appointment(recent, day=days_ago(2))  # started
    never_idle = await db.order("000007", C2_DIASOCI=0)
    await db.appointment(never_idle, day=days_ago(60))  # started: no threshold
    idle = await db.order("000008", C2_DIASOCI=5)
    await db.appointment(idle, day=days_ago(20))
    # Reversed and deleted activity yesterday must not wake it up.
    await db.appointment(idle, day=days_ago(1), D_E_L_E_T_="*")
    await db.move(idle, day=days_ago(1), reversed_=True)
    await db.move(idle, day=days_ago(20))
    at_threshold = await db.order("000009", C2_DIASOCI=5)
    await db.appointment(at_threshold, day=days_ago(5))  # started: not older than 5 days
    past_threshold = await db.order("000010", C2_DIASOCI=5)
    await db.appointment(past_threshold, day=days_ago(6))  # idle
    by_datafin = await db.order("000011", C2_DIASOCI=5)
    await db.appointment(by_datafin, day=days_ago(9), H6_DTAPONT="")  # idle via H6_DATAFIN
    by_dtapont = await db.order("000012", C2_DIASOCI=5)
    await db.appointment(by_dtapont, day=days_ago(9), H6_DTAPONT=days_ago(1))  # started
    moves_only = await db.order("000013", C2_DIASOCI=5)
    await db.move(moves_only, day=days_ago(2))  # started via SD3 alone
    old_moves = await db.order("000014", C2_DIASOCI=5)
    await db.move(old_moves, day=days_ago(12))  # idle via SD3 alone
    fractional = await db.order("000015", C2_DIASOCI=2.5)
    await db.appointment(fractional, day=days_ago(3))  # idle: 3 days > 2.5
    await db.order("000016", C2_DATRF=days_ago(3), C2_QUJE=50.0)  # partially closed
    await db.order("000017", C2_DATRF=days_ago(3), C2_QUJE=100.0)  # closed
    await db.order("000018", C2_DATRF=days_ago(3), C2_QUJE=110.0)  # closed
    suspended = await db.order("000019", C2_STATUS="U", C2_DIASOCI=5)
    await db.appointment(suspended, day=days_ago(30))  # idle and suspended
    await db.order("000020", C2_STATUS="S", C2_DATRF=days_ago(1), C2_QUJE=10.0)
    await db.order("000021", C2_STATUS="")  # blank C2_STATUS is normal
    # A deleted copy of an order: never listed, never doubles anything.
    await db.order("000003", C2_QUANT=999.0, D_E_L_E_T_="*")
    await db.order("000099", D_E_L_E_T_="*")
    return db


EXPECTED = {
    "00000101001": "planned",
    "00000201001": "planned",
    "00000301001": "open",
    "00000401001": "open",
    "00000501001": "open",
    "00000601001": "started",
    "00000701001": "started",
    "00000801001": "idle",
    "00000901001": "started",
    "00001001001": "idle",
    "00001101001": "idle",
    "00001201001": "started",
    "00001301001": "started",
    "00001401001": "idle",
    "00001501001": "idle",
    "00001601001": "partially_closed",
    "00001701001": "closed",
    "00001801001": "closed",
    "00001901001": "idle",
    "00002001001": "partially_closed",
    "00002101001": "open",
}


async def test_status_follows_the_protheus_rules_and_ignores_reversed_or_deleted_activity(
    statuses, orders_client
):
    client = await orders_client(statuses.dsn)
    data = await get(client, url(client, "production_orders_list"))
    assert data["total"] == len(EXPECTED)
    items = by_order(data)
    assert {key: item["status"] for key, item in items.items()} == EXPECTED
    assert [item["order"] for item in data["data"]] == sorted(EXPECTED)
    assert items["00000801001"]["lastActivity"] == days_ago(20)
    assert items["00001101001"]["lastActivity"] == days_ago(9)
    assert items["00001201001"]["lastActivity"] == days_ago(1)
    assert items["00000301001"]["lastActivity"] is None
    assert items["00000501001"]["lastActivity"] is None
    assert items["00000301001"]["C2_QUANT"] == 100.0  # the live row, not the deleted copy
    situations = {key: item["situation"] for key, item in items.items()}
    assert situations["00001901001"] == "suspended"
    assert situations["00002001001"] == "sacramented"
    assert situations["00002101001"] == "normal"
    assert situations["00000101001"] == "normal"


async def test_status_filter_is_exact_across_pages(statuses, orders_client):
    client = await orders_client(statuses.dsn)
    listing = url(client, "production_orders_list")
    totals = 0
    for status in queries.STATUSES:
        wanted = sorted(key for key, value in EXPECTED.items() if value == status)
        data = await get(client, listing, status=status, page_size=2)
        assert data["total"] == len(wanted), status
        assert data["totalPages"] == -(-len(wanted) // 2)
        assert data["filters"]["status"] == status
        seen = []
        for page in range(1, data["totalPages"] + 1):
            chunk = await get(client, listing, status=status, page_size=2, page=page)
            assert {item["status"] for item in chunk["data"]} == {status}
            seen += [item["order"] for item in chunk["data"]]
        assert seen == wanted, status
        totals += data["total"]
    assert totals == len(EXPECTED)
    beyond = await get(client, listing, status="idle", page=9)
    assert (beyond["total"], beyond["data"]) == (6, [])


async def test_items_carry_the_c2_fields_trimmed_numbers_and_stored_dates(
    protheus_rows, orders_client
):
    db = protheus_rows
    await db.product("P1", operpad="02")
    await db.order(
        "000777",
        C2_QUJE=12.5,
        C2_PERDA=1.0,
        C2_DATPRI="20260301",
        C2_DATPRF="20260310",
        C2_EMISSAO="20260220",
        C2_DIASOCI=4,
        C2_PRIOR="100",
    )
    client = await orders_client(db.dsn)
    (item,) = (await get(client, url(client, "production_orders_list")))["data"]
    assert item == {
        "order": "00077701001",
        "status": "open",
        "situation": "normal",
        "C2_FILIAL": "01",
        "C2_NUM": "000777",
        "C2_ITEM": "01",
        "C2_SEQUEN": "001",
        "C2_ITEMGRD": "",
        "C2_PRODUTO": "P1",
        "C2_LOCAL": "01",
        "C2_UM": "UN",
        "C2_QUANT": 100.0,
        "C2_QUJE": 12.5,
        "C2_PERDA": 1.0,
        "C2_DATPRI": "20260301",
        "C2_DATPRF": "20260310",
        "C2_DATRF": "",
        "C2_EMISSAO": "20260220",
        "C2_TPOP": "F",
        "C2_STATUS": "N",
        "C2_ROTEIRO": "",
        "C2_PRIOR": "100",
        "C2_DIASOCI": 4.0,
        "lastActivity": None,
        "routing": "02",
    }


@pytest.fixture
async def routed(protheus_rows):
    """P1 has three routings; its default (B1_OPERPAD) is 02. P2 has no default: '01'."""
    db = protheus_rows
    await db.product("P1", operpad="02")
    await db.product("P2")
    for routing, operations in {
        "01": (("10", "M1"), ("20", "M2")),
        "02": (("10", "M1"), ("20", "M3"), ("30", "M4")),
        "03": (("10", "M5"),),
    }.items():
        for operac, machine in operations:
            await db.operation("P1", routing, operac, machine)
    await db.operation("P2", "01", "10", "M3")
    await db.operation("P2", "01", "20", "M6", D_E_L_E_T_="*")
    await db.operation("P2", "02", "10", "M6")
    await db.order("000001", product="P1", C2_ROTEIRO="03")  # its own routing
    await db.order("000002", product="P1")  # the product's default: 02
    await db.order("000003", product="P2")  # neither: 01
    return db


async def test_routing_is_c2_roteiro_else_b1_operpad_else_01(routed, orders_client):
    client = await orders_client(routed.dsn)
    items = by_order(await get(client, url(client, "production_orders_list")))
    assert {key: item["routing"] for key, item in items.items()} == {
        "00000101001": "03",
        "00000201001": "02",
        "00000301001": "01",
    }
    expected = {
        "00000101001": [("10", "M5")],
        "00000201001": [("10", "M1"), ("20", "M3"), ("30", "M4")],
        "00000301001": [("10", "M3")],
    }
    for key, operations in expected.items():
        detail = await get(client, url(client, "production_order", order=key))
        # Joined on G2_CODIGO: other routings of the product never duplicate operations.
        assert [(op["operation"], op["machine"]) for op in detail["operations"]] == operations
        assert detail["routing"] == items[key]["routing"]


async def test_machine_filter_uses_the_orders_own_routing(routed, orders_client):
    client = await orders_client(routed.dsn)
    for machine, orders in {
        "M3": ["00000201001", "00000301001"],
        "M1": ["00000201001"],  # routing 01 of P1 has M1 too, but no order uses it
        "M5": ["00000101001"],
        "M6": [],  # deleted operation, or a routing no order uses
        "M2": [],
    }.items():
        data = await get(client, url(client, "production_orders_list"), machine=machine)
        assert [item["order"] for item in data["data"]] == orders, machine
        assert data["total"] == len(orders)
        assert data["filters"]["machine"] == machine


async def test_product_and_planned_date_filters(protheus_rows, orders_client):
    db = protheus_rows
    await db.order("000001", product="P1", C2_DATPRI="20260301")
    await db.order("000002", product="P2", C2_DATPRI="20260310")
    await db.order("000003", product="P1", C2_DATPRI="20260320")
    await db.order("000004", product="P1", C2_DATPRI="")  # no date: out of any date range
    client = await orders_client(db.dsn)
    listing = url(client, "production_orders_list")

    async def orders(**query: Any) -> list[str]:
        data = await get(client, listing, **query)
        assert data["total"] == len(data["data"])
        return [item["order"][:6] for item in data["data"]]

    assert await orders(product="P1") == ["000001", "000003", "000004"]
    assert await orders(planned_from="2026-03-10") == ["000002", "000003"]
    assert await orders(planned_to="2026-03-10") == ["000001", "000002"]
    assert await orders(planned_from="2026-03-01", planned_to="2026-03-01") == ["000001"]
    assert await orders(product="P1", planned_from="2026-03-02", planned_to="2026-03-31") == [
        "000003"
    ]
    data = await get(client, listing, product="P1", planned_from="2026-03-02")
    assert data["filters"] == {
        "status": None,
        "product": "P1",
        "machine": None,
        "planned_from": "2026-03-02",
        "planned_to": None,
        "branch": "01",
    }


async def test_branch_defaults_to_protheus_branch_and_keeps_each_branchs_activity(
    protheus_rows, mes_dsn, orders_client
):
    db = protheus_rows
    await db.product("P1", operpad="01")
    await db.operation("P1", "01", "10", "M1", G2_FILIAL="01")
    await db.operation("P1", "01", "10", "M9", G2_FILIAL="02")
    # Both branches number orders from the same start: one key, two orders.
    first = await db.order("000001", C2_FILIAL="01", C2_DIASOCI=5)
    await db.order("000001", C2_FILIAL="02", C2_DIASOCI=5, C2_QUANT=7.0)
    await db.appointment(first, day=days_ago(1), good=4.0, H6_FILIAL="02")
    await db.move(first, day=days_ago(1), D3_FILIAL="02")
    await db.order("000002", C2_FILIAL="02")
    await add_report(mes_dsn, order_key="00000101001", status="pending", branch="02")
    client = await orders_client(db.dsn)
    listing = url(client, "production_orders_list")

    data = await get(client, listing)
    assert [(i["order"], i["C2_FILIAL"], i["status"]) for i in data["data"]] == [
        ("00000101001", "01", "open")
    ]
    assert data["filters"]["branch"] == "01"
    data = await get(client, listing, branch="02")
    assert [(i["order"], i["status"]) for i in data["data"]] == [
        ("00000101001", "started"),
        ("00000201001", "open"),
    ]
    assert data["filters"]["branch"] == "02"
    detail = await get(client, url(client, "production_order", order="00000101001"))
    assert (detail["C2_FILIAL"], detail["status"], detail["pendingReports"]) == ("01", "open", [])
    assert [(o["machine"], o["goodQuantity"]) for o in detail["operations"]] == [("M1", 0.0)]
    detail = await get(client, url(client, "production_order", order="00000101001"), branch="02")
    assert (detail["C2_FILIAL"], detail["C2_QUANT"], detail["status"]) == ("02", 7.0, "started")
    assert [(o["machine"], o["goodQuantity"]) for o in detail["operations"]] == [("M9", 4.0)]
    assert len(detail["pendingReports"]) == 1
    assert (await get(client, listing, branch="03"))["total"] == 0
    missing = await get(client, url(client, "production_order", order="00000201001"), expect=404)
    assert "filial 01" in missing["message"]

    custom = await orders_client(db.dsn, protheus_branch="02")
    data = await get(custom, url(custom, "production_orders_list"))
    assert [i["order"] for i in data["data"]] == ["00000101001", "00000201001"]
    assert data["filters"]["branch"] == "02"


async def test_filial_is_resolved_per_table_from_sx2(protheus_rows, orders_client):
    db = protheus_rows
    # The other way round from the demo: orders and movements shared, products exclusive.
    await db.set_modes(SC2="C", SH6="C", SD3="C", SG2="C", SB1="E")
    await db.product("P1", operpad="02", filial="01")
    await db.product("P1", operpad="03", filial="02")
    await db.operation("P1", "02", "10", "M1", G2_FILIAL="")
    await db.operation("P1", "02", "20", "M2", G2_FILIAL="01")  # an exclusive value: not read
    shared = await db.order("000001", C2_FILIAL="", C2_DIASOCI=5)
    await db.order("000002", C2_FILIAL="01")  # not in the shared table's filial
    await db.appointment(shared, day=days_ago(10), good=3.0, H6_FILIAL="")
    await db.appointment(shared, day=days_ago(1), good=50.0, H6_FILIAL="01")
    await db.move(shared, day=days_ago(1), D3_FILIAL="01")
    client = await orders_client(db.dsn)
    listing = url(client, "production_orders_list")
    data = await get(client, listing)
    assert [(i["order"], i["C2_FILIAL"], i["status"], i["routing"]) for i in data["data"]] == [
        ("00000101001", "", "idle", "02")
    ]
    detail = await get(client, url(client, "production_order", order="00000101001"))
    assert [(o["operation"], o["goodQuantity"]) for o in detail["operations"]] == [("10", 3.0)]
    data = await get(client, listing, branch="02")
    assert [i["routing"] for i in data["data"]] == ["03"]  # SB1 of branch 02


async def test_detail_by_11_and_14_character_keys(protheus_rows, orders_client):
    db = protheus_rows
    await db.product("P1")
    await db.operation("P1", "01", "10", "M1")
    plain = await db.order("000001", C2_QUANT=10.0)
    grid = await db.order("000001", itemgrd="001", C2_QUANT=20.0)
    assert (plain, grid) == ("00000101001   ", "00000101001001")
    await db.appointment(plain, "10", day=days_ago(1), good=2.0)
    await db.appointment(grid, "10", day=days_ago(1), good=5.0)
    client = await orders_client(db.dsn)
    data = await get(client, url(client, "production_orders_list"))
    assert [i["order"] for i in data["data"]] == ["00000101001", "00000101001001"]
    detail = await get(client, url(client, "production_order", order="00000101001"))
    assert (detail["order"], detail["C2_QUANT"], detail["C2_ITEMGRD"]) == ("00000101001", 10.0, "")
    assert detail["operations"][0]["goodQuantity"] == 2.0
    detail = await get(client, url(client, "production_order", order="00000101001001"))
    assert (detail["order"], detail["C2_QUANT"], detail["C2_ITEMGRD"]) == (
        "00000101001001",
        20.0,
        "001",
    )
    assert detail["operations"][0]["goodQuantity"] == 5.0
    body = await get(client, url(client, "production_order", order="00000101002"), expect=404)
    assert body["error"]["code"] == "not_found"
    assert "00000101002" in body["message"]
    for bad in ("0000010100", "000001010010", "0000010100100", "000001010010011", "00000101-01"):
        body = await get(client, url(client, "production_order", order=bad), expect=400)
        assert body["error"]["details"][0]["field"] == "order", bad
        assert body["error"]["code"] == "invalid_parameter"


async def test_detail_sums_live_appointments_per_operation(protheus_rows, orders_client):
    db = protheus_rows
    await db.product("P1")
    for operac, machine, tempad, lote in (("30", "M3", 0.5, 1.0), ("10", "M1", 2.0, 50.0)):
        await db.operation(
            "P1", "01", operac, machine, G2_TEMPAD=tempad, G2_LOTEPAD=lote, G2_DESCRI="CORTE"
        )
    await db.operation("P1", "01", "20", "M2")
    key = await db.order("000001")
    await db.appointment(key, "10", day=days_ago(3), good=5.0, H6_QTDPERD=1.0)
    await db.appointment(key, "10", day=days_ago(2), good=7.0, H6_QTDPERD=0.5)
    await db.appointment(key, "10", day=days_ago(1), good=100.0, D_E_L_E_T_="*")
    await db.appointment(key, "10", day=days_ago(1), good=100.0, H6_FILIAL="02")
    await db.appointment(key, "30", day=days_ago(1), good=4.0)
    await db.appointment(key, "30", day=days_ago(1), good=0.0, H6_TIPO="I")  # a stop
    await db.appointment(op_key("000002"), "10", day=days_ago(1), good=9.0)  # another order
    client = await orders_client(db.dsn)
    detail = await get(client, url(client, "production_order", order="00000101001"))
    assert detail["operations"] == [
        {
            "operation": "10",
            "machine": "M1",
            "description": "CORTE",
            "standardTime": 2.0,
            "lotSize": 50.0,
            "goodQuantity": 12.0,
            "scrapQuantity": 1.5,
        },
        {
            "operation": "20",
            "machine": "M2",
            "description": "OPERACAO 20 EM M2",
            "standardTime": 1.5,
            "lotSize": 100.0,
            "goodQuantity": 0.0,
            "scrapQuantity": 0.0,
        },
        {
            "operation": "30",
            "machine": "M3",
            "description": "CORTE",
            "standardTime": 0.5,
            "lotSize": 1.0,
            "goodQuantity": 4.0,
            "scrapQuantity": 0.0,
        },
    ]
    assert (detail["status"], detail["lastActivity"]) == ("started", days_ago(1))
    listed = (await get(client, url(client, "production_orders_list")))["data"][0]
    assert {k: v for k, v in detail.items() if k not in ("operations", "pendingReports")} == listed


async def test_order_without_routing_has_no_operations(protheus_rows, orders_client):
    await protheus_rows.order("000001", product="NOPE")
    client = await orders_client(protheus_rows.dsn)
    detail = await get(client, url(client, "production_order", order="00000101001"))
    assert (detail["operations"], detail["routing"], detail["pendingReports"]) == ([], "01", [])


async def test_pending_reports_list_only_undelivered_reports_of_the_order(
    protheus_rows, mes_dsn, orders_client
):
    await protheus_rows.order("000001")
    await protheus_rows.order("000001", itemgrd="001")
    wanted = [
        await add_report(mes_dsn, order_key="00000101001", status=status)
        for status in ("pending", "sending", "retrying")
    ]
    for status in ("delivered", "rejected", "reversed"):
        await add_report(mes_dsn, order_key="00000101001", status=status)
    await add_report(mes_dsn, order_key="00000101001001", status="pending")
    await add_report(mes_dsn, order_key="00000201001", status="pending")
    await add_report(mes_dsn, order_key="00000101001", status="pending", branch="02")
    client = await orders_client(protheus_rows.dsn)
    detail = await get(client, url(client, "production_order", order="00000101001"))
    assert [r["id"] for r in detail["pendingReports"]] == wanted
    assert [r["status"] for r in detail["pendingReports"]] == ["pending", "sending", "retrying"]
    first = detail["pendingReports"][0]
    assert (first["operation"], first["goodQuantity"], first["scrapQuantity"]) == ("10", 5.0, 1.0)
    detail = await get(client, url(client, "production_order", order="00000101001001"))
    assert len(detail["pendingReports"]) == 1


async def test_bad_parameters_are_400_naming_the_parameter(protheus_rows, orders_client):
    client = await orders_client(protheus_rows.dsn)
    listing = url(client, "production_orders_list")
    for query, field in (
        ({"status": "suspended"}, "status"),
        ({"page_size": "0"}, "page_size"),
        ({"page_size": "501"}, "page_size"),
        ({"page": "0"}, "page"),
        ({"page": "x"}, "page"),
        ({"planned_from": "2026-13-01"}, "planned_from"),
        ({"planned_to": "01/03/2026"}, "planned_to"),
        ({"planned_from": "2026-03-02", "planned_to": "2026-03-01"}, "planned_to"),
        ({"branch": "0 1"}, "branch"),
        ({"branch": "0123456789ABC"}, "branch"),
        ({"machine": "M" * 21}, "machine"),
    ):
        body = await get(client, listing, expect=400, **query)
        assert body["error"]["code"] == "invalid_parameter"
        assert body["error"]["details"][0]["field"] == field, query
        assert field in body["message"]
    body = await get(
        client, url(client, "production_order", order="00000101001"), expect=400, branch="x;y"
    )
    assert body["error"]["details"][0]["field"] == "branch"
    data = await get(client, listing, branch="", status="")  # empty means absent
    assert data["filters"]["branch"] == "01"
    assert data["filters"]["status"] is None


async def test_routes_need_a_key_with_production_read(protheus_rows, orders_client):
    client = await orders_client(protheus_rows.dsn)
    listing = url(client, "production_orders_list")
    for path in (
        listing,
        url(client, "production_order", order="00000101001"),
        url(client, "production_order", order="bad"),
    ):
        body = await assert_envelope(await client.get(path), 401)
        assert body["error"]["code"] == "unauthorized"
        body = await assert_envelope(await client.get(path, headers=auth(CATALOG_KEY)), 403)
        assert body["error"]["code"] == "forbidden"
    resp = await client.get(listing, headers={"X-API-Key": READ_KEY})
    await assert_envelope(resp, 200)


async def test_openapi_documents_both_routes_with_their_parameters(protheus_rows, orders_client):
    client = await orders_client(protheus_rows.dsn)
    spec = build_spec(client.app, "production", "Production API", "")
    # The published document's path keys, written out: the contract is these literal paths.
    listing = spec["paths"]["/api/v1/production-orders"]["get"]
    assert listing["x-required-scope"] == "production:read"
    names = {p["name"] for p in listing["parameters"]}
    assert names >= {"status", "product", "machine", "planned_from", "planned_to", "branch"}
    assert names >= {"page", "page_size"}
    branch = next(p for p in listing["parameters"] if p["name"] == "branch")
    assert "PROTHEUS_BRANCH" in branch["description"]
    detail = spec["paths"]["/api/v1/production-orders/{order}"]["get"]
    assert {p["name"] for p in detail["parameters"]} == {"order", "branch"}
    assert "404" in detail["responses"]


# --- the demo database -----------------------------------------------------------------------


def python_status(order: asyncpg.Record, dates: list[str], today: str) -> str:
    """The status table written again in Python, over the raw rows."""
    import datetime as dt

    if order["c2_tpop"] == "P":
        return "planned"
    if order["c2_datrf"].strip():
        return "partially_closed" if order["c2_quje"] < order["c2_quant"] else "closed"
    if not dates:
        return "open"
    last = max((d for d in dates if d.strip()), default=None)
    days = order["c2_diasoci"]
    if days > 0 and last:
        age = dt.date.fromisoformat(today) - dt.datetime.strptime(last, "%Y%m%d").date()
        if age.days > days:
            return "idle"
    return "started"


async def test_every_status_of_the_demo_data_appears_when_filtered(
    demo_protheus_dsn, orders_client
):
    # The generator's statuses are the API's six plus the two situations.
    assert set(ORDER_STATUSES) - {"suspended", "sacramented"} == set(queries.STATUSES)
    client = await orders_client(demo_protheus_dsn)
    everything = await get(client, url(client, "production_orders_list"), page_size=500)
    assert everything["total"] == len(everything["data"])
    counted = 0
    for status in queries.STATUSES:
        data = await get(
            client, url(client, "production_orders_list"), status=status, page_size=500
        )
        assert data["total"] > 0, status
        assert {item["status"] for item in data["data"]} == {status}
        counted += data["total"]
    assert counted == everything["total"]
    assert {item["situation"] for item in everything["data"]} == {
        "normal",
        "suspended",
        "sacramented",
    }

    # The same statuses from the raw rows, computed independently.
    conn = await asyncpg.connect(demo_protheus_dsn)
    try:
        orders = await conn.fetch(
            "SELECT * FROM sc2010 WHERE c2_filial = '01' AND d_e_l_e_t_ = ' '"
        )
        activity = await conn.fetch(
            """SELECT h6_op AS op, CASE WHEN h6_dtapont <> '' THEN h6_dtapont ELSE h6_datafin END AS day
               FROM sh6010 WHERE h6_filial = '01' AND d_e_l_e_t_ = ' '
               UNION ALL
               SELECT d3_op, d3_emissao FROM sd3010
               WHERE d3_filial = '01' AND d_e_l_e_t_ = ' ' AND d3_estorno <> 'S'"""
        )
        today = await conn.fetchval("SELECT (now() AT TIME ZONE 'America/Sao_Paulo')::date::text")
    finally:
        await conn.close()
    dates: dict[str, list[str]] = {}
    for row in activity:
        dates.setdefault(row["op"].strip(), []).append(row["day"])
    expected = {}
    for order in orders:
        key = (
            order["c2_num"] + order["c2_item"] + order["c2_sequen"] + order["c2_itemgrd"]
        ).strip()
        expected[key] = python_status(order, dates.get(key, []), today)
    assert {item["order"]: item["status"] for item in everything["data"]} == expected


# --- SQL text ---------------------------------------------------------------------------------


def test_tsql_text_uses_apply_fetch_dateadd_and_no_postgresql_syntax():
    params = {
        "sc2_filial": "01",
        "sb1_filial": " ",
        "sg2_filial": "01",
        "sh6_filial": "01",
        "sd3_filial": "01",
        "today": "20260301",
        "status": "idle",
        "machine": "M1",
        "limit": 50,
        "offset": 0,
    }
    listing = queries.list_orders(TSQL, Tables("01"), "idle", False, True, False, False)
    text, _ = render(listing, params, style="qmark", dialect=TSQL)
    detail_params = {**params, "num": "000001", "item": "01", "sequen": "001", "itemgrd": ""}
    detail, _ = render(
        queries.order_detail(TSQL, Tables("01")), detail_params, style="qmark", dialect=TSQL
    )
    for sql in (text, detail):
        assert "OUTER APPLY" in sql
        assert "DATEADD(day" in sql
        assert "CAST(? AS VARCHAR(8))" in sql  # :today, never an NVARCHAR against CHAR
        for postgres_only in ("::", "||", "bpchar", "LATERAL", "to_char", "to_date"):
            assert postgres_only not in sql
        assert re.search(r"\bLIMIT\b", sql) is None
        assert "sc2010" in sql
        assert "sh6010" in sql
        assert "sd3010" in sql
    assert "OFFSET ? ROWS FETCH NEXT ? ROWS ONLY" in text
    assert "SELECT TOP (1) c.*" in detail
    # Every table read filters D_E_L_E_T_ (SC2, SB1, SG2, SH6, SD3 and their aliases).
    for alias in ("c2.", "b1.", "g2.", "h6.", "d3."):
        assert f"{alias}d_e_l_e_t_ = ' '" in text + detail, alias


async def test_odbc_path_answers_exactly_like_asyncpg(statuses, orders_client):
    native = await orders_client(statuses.dsn)
    odbc = await orders_client(odbc_url(statuses.dsn))
    listing = url(native, "production_orders_list")
    for path, query in (
        (listing, {"page_size": "7", "page": "2"}),
        (listing, {"status": "idle"}),
        (listing, {"status": "closed", "planned_from": "2000-01-01"}),
        (url(native, "production_order", order="00000801001"), {}),
        (url(native, "production_order", order="00000801009"), {}),
    ):
        a = await native.get(path, params=query, headers=READ)
        b = await odbc.get(path, params=query, headers=READ)
        body_a, body_b = await a.json(), await b.json()
        assert a.status == b.status, path
        for body in (body_a, body_b):
            body.get("error", {}).pop("requestId", None)
        assert body_a == body_b, (path, query)

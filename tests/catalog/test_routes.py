"""Product, list, stock, suppliers, invoices and guide on crafted rows: filters, joins, shapes."""

from __future__ import annotations

import pytest

from tests.helpers import assert_envelope
from tests.support.catalog import HEADERS
from tests.support.urls import url


async def get(client, path, status=200, **query):
    return await assert_envelope(await client.get(path, params=query, headers=HEADERS), status)


async def test_list_orders_by_code_limits_and_counts_returned_rows(crafted, catalog_client):
    for code in ("P3", "P1", "P2", "P4"):
        await crafted.product(code, f"PRODUTO {code}")
    await crafted.product("P0", "BLOQUEADO", B1_MSBLQL="1")
    await crafted.product("P5", "APAGADO", D_E_L_E_T_="*")
    client = await catalog_client(crafted.dsn)
    # The seed's unversioned path, written out: the contract is this literal URL.
    data = await get(client, "/products", limit=3)
    assert data["total"] == 3
    assert [p["B1_COD"] for p in data["produtos"]] == ["P1", "P2", "P3"]
    assert set(data["produtos"][0]) >= {"B1_COD", "B1_DESC", "B1_GRUPO"}
    # A trailing slash answers too (a literal: the contract is the URL as clients write it).
    data = await get(client, "/api/v1/products/", include_blocked="true")
    assert [p["B1_COD"] for p in data["produtos"]] == ["P0", "P1", "P2", "P3", "P4"]
    for bad in ("0", "501", "x"):
        body = await get(client, url(client, "products_list"), status=400, limit=bad)
        assert body["error"]["details"][0]["field"] == "limit"


async def test_product_detail_flags_blocked_and_trims(crafted, catalog_client):
    await crafted.product(
        "10080522", "TERMINAL BANDEIRA 6,30X0,80MM2", B1_GRUPO="1008", B1_MSBLQL="1"
    )
    client = await catalog_client(crafted.dsn)
    data = await get(client, url(client, "legacy_product", code="10080522"))
    product = data["produto"]
    assert product["B1_COD"] == "10080522"
    assert product["B1_DESC"] == "TERMINAL BANDEIRA 6,30X0,80MM2"
    assert product["blocked"] is True
    body = await get(client, url(client, "legacy_product", code="NOPE"), status=404)
    assert "NOPE" in body["message"]


@pytest.fixture
async def stocked(crafted):
    db = crafted
    await db.product("P1", "PARAFUSO", B1_SEGUM="CX")
    await db.product("EMPTY", "SEM MOVIMENTO")
    await db.add(
        "SB2",
        B2_FILIAL="01",
        B2_COD="P1",
        B2_LOCAL="01",
        B2_QATU=100,
        B2_RESERVA=10,
        B2_QEMP=20,
        B2_QACLASS=5,
        B2_SALPEDI=7,
    )
    await db.add("SB2", B2_FILIAL="01", B2_COD="P1", B2_LOCAL="02", B2_QATU=30)
    await db.add("SB2", B2_FILIAL="02", B2_COD="P1", B2_LOCAL="01", B2_QATU=3)
    await db.add("SB2", B2_FILIAL="01", B2_COD="P1", B2_LOCAL="03", B2_QATU=999, D_E_L_E_T_="*")
    return db


async def test_stock_rows_carry_seed_keys_and_available(stocked, catalog_client):
    client = await catalog_client(stocked.dsn)
    data = await get(client, url(client, "product_stock", code="P1"))
    assert data["total"] == 3
    assert data["filters"] == {"branch": None, "location": None}
    first = data["data"][0]
    assert (first["B2_FILIAL"], first["B2_LOCAL"]) == ("01", "01")
    assert first["available"] == 100 - 10 - 20 - 5
    assert first["B2_QPEDI"] == 7
    assert first["B2_QTREC"] == 5
    assert first["B2_SEGUM"] == "CX"
    assert first["B2_QEMP"] == 20
    data = await get(client, url(client, "product_stock", code="P1"), branch="01", location="02")
    assert [(r["B2_FILIAL"], r["B2_LOCAL"], r["B2_QATU"]) for r in data["data"]] == [
        ("01", "02", 30.0)
    ]
    data = await get(client, url(client, "product_stock", code="P1"), branch="02")
    assert [r["B2_QATU"] for r in data["data"]] == [3.0]


async def test_known_product_without_rows_is_an_empty_page_unknown_is_404(stocked, catalog_client):
    client = await catalog_client(stocked.dsn)
    for route in (
        "product_stock",
        "product_suppliers",
        "product_inbound_invoice_items",
        "product_outbound_invoice_items",
        "product_guide",
    ):
        data = await get(client, url(client, route, code="EMPTY"))
        assert data["total"] == 0, route
        assert data["data"] == [], route
        await get(client, url(client, route, code="NOPE"), status=404)


async def test_suppliers_join_on_code_and_store(crafted, catalog_client):
    await crafted.product("P1", "PARAFUSO")
    await crafted.add(
        "SA2", A2_FILIAL="", A2_COD="000001", A2_LOJA="01", A2_NOME="METALURGICA MATRIZ"
    )
    await crafted.add(
        "SA2", A2_FILIAL="", A2_COD="000001", A2_LOJA="02", A2_NOME="METALURGICA FILIAL SUL"
    )
    await crafted.add(
        "SA5", A5_FILIAL="", A5_FORNECE="000001", A5_LOJA="02", A5_PRODUTO="P1", A5_CODPRF="XPTO-9"
    )
    await crafted.add(
        "SA5",
        A5_FILIAL="",
        A5_FORNECE="000001",
        A5_LOJA="01",
        A5_PRODUTO="P1",
        A5_CODPRF="OLD",
        D_E_L_E_T_="*",
    )
    client = await catalog_client(crafted.dsn)
    data = await get(client, url(client, "product_suppliers", code="P1"))
    assert data["total"] == 1
    assert data["data"] == [
        {
            "A5_FORNECE": "000001",
            "A5_LOJA": "02",
            "A2_NOME": "METALURGICA FILIAL SUL",
            "A5_CODPRF": "XPTO-9",
            "A5_NOMPROD": "",
        }
    ]


async def add_inbound(
    db, doc, date, tipo="N", branch="01", partner="000001", store="01", deleted=" ", quantity=150
):
    """An SF1 header and its one SD1 item."""
    await db.add(
        "SF1",
        F1_FILIAL=branch,
        F1_DOC=doc,
        F1_SERIE="1",
        F1_FORNECE=partner,
        F1_LOJA=store,
        F1_TIPO=tipo,
        F1_EMISSAO=date,
    )
    await db.add(
        "SD1",
        D1_FILIAL=branch,
        D1_DOC=doc,
        D1_SERIE="1",
        D1_FORNECE=partner,
        D1_LOJA=store,
        D1_ITEM="0001",
        D1_COD="P1",
        D1_QUANT=quantity,
        D1_VUNIT=2,
        D1_TOTAL=2 * quantity,
        D1_EMISSAO=date,
        D1_TIPO=tipo,
        D1_LOCAL="01",
        D_E_L_E_T_=deleted,
    )


async def add_outbound(db, doc, date, tipo="N", partner="000001", store="01", quantity=75):
    """An SF2 header and its one SD2 item."""
    await db.add(
        "SF2",
        F2_FILIAL="01",
        F2_DOC=doc,
        F2_SERIE="1",
        F2_CLIENTE=partner,
        F2_LOJA=store,
        F2_TIPO=tipo,
        F2_EMISSAO=date,
    )
    await db.add(
        "SD2",
        D2_FILIAL="01",
        D2_DOC=doc,
        D2_SERIE="1",
        D2_CLIENTE=partner,
        D2_LOJA=store,
        D2_ITEM="01",
        D2_COD="P1",
        D2_QUANT=quantity,
        D2_PRCVEN=3,
        D2_TOTAL=3 * quantity,
        D2_EMISSAO=date,
        D2_TIPO=tipo,
    )


@pytest.fixture
async def invoiced(crafted):
    db = crafted
    await db.product("P1", "PARAFUSO")
    await db.add("SA2", A2_FILIAL="", A2_COD="000001", A2_LOJA="01", A2_NOME="FORNECEDOR TESTE")
    await db.add(
        "SA2", A2_FILIAL="", A2_COD="000001", A2_LOJA="02", A2_NOME="FORNECEDOR OUTRA LOJA"
    )
    await db.add("SA1", A1_FILIAL="", A1_COD="000001", A1_LOJA="01", A1_NOME="CLIENTE TESTE")
    await add_inbound(db, "000000001", "20240105")
    await add_inbound(db, "000000002", "20240610", store="02")
    await add_inbound(db, "000000003", "20240720", tipo="D")  # a customer's return: partner is SA1
    await add_inbound(db, "000000004", "20240801", branch="02")
    await add_inbound(db, "000000005", "20240802", deleted="*")
    await add_outbound(db, "000000010", "20240210")
    await add_outbound(db, "000000011", "20240211", tipo="B")  # sent to a supplier: partner is SA2
    return db


async def test_inbound_items_name_supplier_or_customer_by_type(invoiced, catalog_client):
    client = await catalog_client(invoiced.dsn)
    data = await get(client, url(client, "product_inbound_invoice_items", code="P1"))
    assert data["total"] == 4
    rows = {r["D1_DOC"]: r for r in data["data"]}
    assert [r["D1_DOC"] for r in data["data"]] == [
        "000000004",
        "000000003",
        "000000002",
        "000000001",
    ]
    assert (rows["000000001"]["supplier_name"], rows["000000001"]["partnerType"]) == (
        "FORNECEDOR TESTE",
        "supplier",
    )
    assert rows["000000002"]["supplier_name"] == "FORNECEDOR OUTRA LOJA"
    assert (rows["000000003"]["supplier_name"], rows["000000003"]["partnerType"]) == (
        "CLIENTE TESTE",
        "customer",
    )
    assert rows["000000001"]["D1_EMISSAO"] == "20240105"
    assert rows["000000001"]["D1_QUANT"] == 150


async def test_inbound_filters_echo_as_the_seed_shows(invoiced, catalog_client):
    client = await catalog_client(invoiced.dsn)
    data = await get(
        client,
        url(client, "legacy_product_inbound_invoice_items", code="P1"),
        issue_date_start="2024-01-01",
        issue_date_end="2024-06-30",
        supplier="000001",
        branch="01",
    )
    assert data["filters"] == {
        "issue_date_start": "20240101",
        "issue_date_end": "20240630",
        "supplier": "000001",
        "branch": "01",
    }
    assert [r["D1_DOC"] for r in data["data"]] == ["000000002", "000000001"]


async def test_outbound_items_name_customer_or_supplier_by_type(invoiced, catalog_client):
    client = await catalog_client(invoiced.dsn)
    data = await get(
        client,
        url(client, "product_outbound_invoice_items", code="P1"),
        customer="000001",
        supplier="000001",
    )
    rows = {r["D2_DOC"]: r for r in data["data"]}
    assert (rows["000000010"]["customer_name"], rows["000000010"]["partnerType"]) == (
        "CLIENTE TESTE",
        "customer",
    )
    assert (rows["000000011"]["customer_name"], rows["000000011"]["partnerType"]) == (
        "FORNECEDOR TESTE",
        "supplier",
    )
    assert data["filters"]["customer"] == "000001"


@pytest.fixture
async def twins(invoiced):
    """PROTHEUS.md section 4's trap: one number, series and partner code (000001/01) as a
    purchase (N) from the supplier and as a return (D) from the customer, in and out."""
    await add_inbound(invoiced, "000000030", "20240901", quantity=10)
    await add_inbound(invoiced, "000000030", "20240901", tipo="D", quantity=20)
    await add_outbound(invoiced, "000000040", "20240902", quantity=30)
    await add_outbound(invoiced, "000000040", "20240902", tipo="D", quantity=40)
    return invoiced


async def test_twin_documents_join_their_own_header_and_partner(twins, catalog_client):
    client = await catalog_client(twins.dsn)
    data = await get(
        client,
        url(client, "product_inbound_invoice_items", code="P1"),
        issue_date_start="2024-09-01",
    )
    rows = [(r["D1_DOC"], r["D1_TIPO"], r["D1_QUANT"], r["supplier_name"]) for r in data["data"]]
    assert data["total"] == 2
    assert sorted(rows) == [
        ("000000030", "D", 20.0, "CLIENTE TESTE"),
        ("000000030", "N", 10.0, "FORNECEDOR TESTE"),
    ]
    data = await get(
        client,
        url(client, "product_outbound_invoice_items", code="P1"),
        issue_date_start="2024-09-01",
    )
    rows = [(r["D2_DOC"], r["D2_TIPO"], r["D2_QUANT"], r["customer_name"]) for r in data["data"]]
    assert data["total"] == 2
    assert sorted(rows) == [
        ("000000040", "D", 40.0, "FORNECEDOR TESTE"),
        ("000000040", "N", 30.0, "CLIENTE TESTE"),
    ]


@pytest.mark.parametrize(
    ("route", "query", "expected"),
    [
        ("inbound", {"supplier": "000001"}, [("000000030", "N")]),
        ("inbound", {"customer": "000001"}, [("000000030", "D")]),
        (
            "inbound",
            {"supplier": "000001", "customer": "000001"},
            [("000000030", "D"), ("000000030", "N")],
        ),
        ("inbound", {"customer": "000002"}, []),
        ("outbound", {"customer": "000001"}, [("000000040", "N")]),
        ("outbound", {"supplier": "000001"}, [("000000040", "D")]),
    ],
)
async def test_partner_filters_match_only_documents_of_that_kind_of_partner(
    twins, catalog_client, route, query, expected
):
    client = await catalog_client(twins.dsn)
    prefix = "D1" if route == "inbound" else "D2"
    data = await get(
        client,
        url(client, f"product_{route}_invoice_items", code="P1"),
        issue_date_start="2024-09-01",
        **query,
    )
    assert sorted((r[f"{prefix}_DOC"], r[f"{prefix}_TIPO"]) for r in data["data"]) == expected
    assert data["total"] == len(expected)
    for name, value in query.items():
        assert data["filters"][name] == value


@pytest.mark.parametrize(
    ("query", "field", "rule"),
    [
        ({"issue_date_start": "20240101"}, "issue_date_start", "format"),
        ({"issue_date_end": "2024-02-30"}, "issue_date_end", "format"),
        (
            {"issue_date_start": "2024-12-31", "issue_date_end": "2024-01-01"},
            "issue_date_end",
            "order",
        ),
        ({"page_size": "600"}, "page_size", "range"),
    ],
)
async def test_bad_invoice_parameters_are_400(invoiced, catalog_client, query, field, rule):
    client = await catalog_client(invoiced.dsn)
    body = await get(
        client, url(client, "product_inbound_invoice_items", code="P1"), status=400, **query
    )
    assert body["error"]["details"][0]["field"] == field
    assert body["error"]["details"][0]["rule"] == rule


@pytest.fixture
async def routed(crafted):
    db = crafted
    await db.product("PA1", "PRODUTO ACABADO", B1_OPERPAD="02")
    await db.product("PI1", "INTERMEDIARIO")
    await db.product("PI2", "INTERMEDIARIO 2")
    await db.line("PA1", "PI1", 1)
    await db.line("PA1", "PI2", 1)
    await db.line("PI1", "PI2", 1)  # PI2 also at level 2: reported at its shallowest, 1

    async def op(product, routing, operation, machine, hours, branch="01", deleted=" "):
        await db.add(
            "SG2",
            G2_FILIAL=branch,
            G2_PRODUTO=product,
            G2_CODIGO=routing,
            G2_OPERAC=operation,
            G2_RECURSO=machine,
            G2_TEMPAD=hours,
            G2_LOTEPAD=1,
            D_E_L_E_T_=deleted,
        )

    await op("PA1", "01", "10", "OLD1", 1.0)  # not its routing: B1_OPERPAD says 02
    await op("PA1", "02", "10", "PREN01", 12.5)
    await op("PA1", "02", "20", "MONT1", 3.0)
    await op("PA1", "02", "30", "MONT2", 1.0, deleted="*")
    await op("PI1", "01", "10", "CORT01", 0.5)
    await op("PI2", "01", "10", "INJ01", 0.25)
    await op("PI2", "01", "10", "INJ09", 0.25, branch="02")
    return db


async def test_guide_returns_the_product_routing_only(routed, catalog_client):
    client = await catalog_client(routed.dsn)
    data = await get(client, url(client, "product_guide", code="PA1"))
    assert [
        (r["G2_OPER"], r["G2_RECURSO"], r["G2_TEMPO"], r["bomLevel"]) for r in data["data"]
    ] == [
        ("10", "PREN01", 12.5, 0),
        ("20", "MONT1", 3.0, 0),
    ]
    row = data["data"][0]
    assert row["G2_OPERAC"] == "10"
    assert row["G2_TEMPAD"] == 12.5
    assert row["G2_CODIGO"] == "02"


async def test_guide_with_components_orders_by_level_product_operation(routed, catalog_client):
    client = await catalog_client(routed.dsn)
    data = await get(
        client, url(client, "product_guide", code="PA1"), include_components="true", branch="01"
    )
    assert [
        (r["bomLevel"], r["G2_PRODUTO"], r["G2_OPER"], r["G2_RECURSO"]) for r in data["data"]
    ] == [
        (0, "PA1", "10", "PREN01"),
        (0, "PA1", "20", "MONT1"),
        (1, "PI1", "10", "CORT01"),
        (1, "PI2", "10", "INJ01"),
    ]
    assert data["filters"] == {"branch": "01", "include_components": True, "max_depth": 10}
    everywhere = await get(
        client, url(client, "product_guide", code="PA1"), include_components="true"
    )
    assert {r["G2_RECURSO"] for r in everywhere["data"]} == {
        "PREN01",
        "MONT1",
        "CORT01",
        "INJ01",
        "INJ09",
    }
    body = await get(
        client, url(client, "product_guide", code="PA1"), status=400, include_components="maybe"
    )
    assert body["error"]["details"][0]["field"] == "include_components"


async def test_nul_in_a_code_or_search_is_400(crafted, catalog_client):
    client = await catalog_client(crafted.dsn)
    for path in (
        url(client, "product", code="A\x00B"),
        url(client, "product_stock", code="A\x00B"),
        url(client, "products_search_description", query={"description": "\x00x"}),
    ):
        body = await get(client, path, status=400)
        assert body["error"]["details"][0]["rule"] == "characters"

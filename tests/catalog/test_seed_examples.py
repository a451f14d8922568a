"""Every example request of the seed, against the demo database, answers in the seed's shape."""

from __future__ import annotations

import pytest

from protheus_demo.generate import DEEP_PRODUCTS, WIDELY_USED_COMPONENT
from tests.helpers import assert_envelope
from tests.support.catalog import HEADERS

PAGED = {"total", "page", "pageSize", "totalPages", "filters", "data"}


@pytest.fixture
async def client(demo_protheus_dsn, catalog_client):
    return await catalog_client(demo_protheus_dsn)


async def get(client, url, status=200):
    return await assert_envelope(await client.get(url, headers=HEADERS), status)


async def a_code_with(client, route: str) -> str:
    """A product of the demo data that has rows on a sub-route (found, not assumed)."""
    listing = await get(client, "/products?limit=500")
    for product in listing["produtos"]:
        data = await get(client, f"/products/{product['B1_COD']}/{route}?page_size=1")
        if data["total"]:
            return product["B1_COD"]
    raise AssertionError(f"no demo product has {route}")


async def test_list_products(client):
    data = await get(client, "/products?limit=20")
    assert set(data) == {"total", "produtos"}
    assert data["total"] == len(data["produtos"]) == 20
    assert {"B1_COD", "B1_DESC", "B1_GRUPO"} <= set(data["produtos"][0])
    codes = [p["B1_COD"] for p in data["produtos"]]
    assert codes == sorted(codes)


async def test_search_description(client):
    data = await get(
        client, "/products/search/description?description=TERM BANDEIRA&page=1&page_size=5"
    )
    assert {"page", "pageSize", "total", "totalPages", "description", "results"} <= set(data)
    assert (data["page"], data["pageSize"], data["description"]) == (1, 5, "TERM BANDEIRA")
    assert 0 < len(data["results"]) <= 5
    assert data["totalPages"] == -(-data["total"] // 5)
    scores = [r["relevance_score"] for r in data["results"]]
    assert scores == sorted(scores, reverse=True)
    assert all(isinstance(s, int) for s in scores)
    assert set(data["results"][0]) == {
        "B1_COD",
        "B1_DESC",
        "B1_GRUPO",
        "B1_TIPO",
        "B1_UM",
        "B1_MSBLQL",
        "relevance_score",
    }


@pytest.mark.parametrize(
    "query",
    [
        "page=1&page_size=5&description=TERM BANDEIRA",
        "page=1&page_size=50&code=100&description=TERM. BANDEIRA&group=1008",
        "page=1&page_size=20&description=terminal",
    ],
)
async def test_search_products(client, query):
    data = await get(client, f"/products/search?{query}")
    assert set(data) >= PAGED
    assert set(data["filters"]) == {"code", "description", "group"}
    for row in data["data"]:
        assert set(row) == {
            "B1_COD",
            "B1_DESC",
            "B1_GRUPO",
            "B1_UM",
            "B1_TIPO",
            "B1_MSBLQL",
            "relevance_score",
        }
    if "terminal" in query:
        assert data["total"] > 0
        assert all("TERM" in r["B1_DESC"] for r in data["data"])


async def test_product(client):
    code = (await get(client, "/products?limit=1"))["produtos"][0]["B1_COD"]
    data = await get(client, f"/products/{code}")
    assert data["produto"]["B1_COD"] == code
    assert {"B1_COD", "B1_DESC", "B1_GRUPO"} <= set(data["produto"])


async def test_structure_of_a_deep_product(client):
    code = DEEP_PRODUCTS[0]
    data = await get(client, f"/products/{code}/structure?max_depth=10&page=1&page_size=50")
    assert {"total", "page", "pageSize", "data"} <= set(data)
    tree = data["data"]
    assert tree["code"] == code
    assert tree["description"]
    first = tree["components"][0]
    assert {
        "code",
        "description",
        "quantity",
        "components",
        "level",
        "trt",
        "cumulativeQuantity",
        "loss",
        "cycle",
    } <= set(first)
    depth = 0

    def walk(nodes, level):
        nonlocal depth
        for n in nodes:
            assert n["level"] == level
            depth = max(depth, level)
            walk(n["components"], level + 1)

    walk(tree["components"], 1)
    assert data["total"] > 50 or depth >= 5


async def test_parents_of_a_widely_used_component(client):
    data = await get(
        client, f"/products/{WIDELY_USED_COMPONENT}/parents?max_depth=5&page=1&page_size=50"
    )
    assert data["data"]["code"] == WIDELY_USED_COMPONENT
    assert data["total"] > 0
    assert {"code", "description", "quantity"} <= set(data["data"]["components"][0])


async def test_inbound_invoice_items(client):
    code = await a_code_with(client, "inbound-invoice-items")
    data = await get(
        client, f"/products/{code}/inbound-invoice-items?page=1&page_size=50&branch=01"
    )
    assert set(data) >= PAGED
    assert set(data["filters"]) == {"issue_date_start", "issue_date_end", "supplier", "branch"}
    for row in data["data"]:
        assert {
            "D1_FILIAL",
            "D1_DOC",
            "D1_SERIE",
            "D1_FORNECE",
            "supplier_name",
            "D1_COD",
            "D1_QUANT",
            "D1_EMISSAO",
            "D1_LOCAL",
        } <= set(row)
        assert row["D1_FILIAL"] == "01"
        assert len(row["D1_EMISSAO"]) == 8


async def test_outbound_invoice_items(client):
    code = await a_code_with(client, "outbound-invoice-items")
    data = await get(client, f"/products/{code}/outbound-invoice-items?page=1&page_size=50")
    assert set(data["filters"]) == {"issue_date_start", "issue_date_end", "customer", "branch"}
    row = data["data"][0]
    assert {
        "D2_FILIAL",
        "D2_DOC",
        "D2_SERIE",
        "D2_CLIENTE",
        "customer_name",
        "D2_COD",
        "D2_QUANT",
        "D2_EMISSAO",
        "D2_LOCAL",
    } <= set(row)


async def test_stock(client):
    code = await a_code_with(client, "stock")
    data = await get(client, f"/products/{code}/stock?page=1&page_size=50")
    assert set(data["filters"]) == {"branch", "location"}
    row = data["data"][0]
    assert {
        "B2_FILIAL",
        "B2_LOCAL",
        "B2_COD",
        "B2_QATU",
        "B2_QEMP",
        "B2_QPEDI",
        "B2_SEGUM",
        "B2_QTREC",
        "available",
    } <= set(row)


async def test_guide_with_components(client):
    code = DEEP_PRODUCTS[0]
    data = await get(client, f"/products/{code}/guide?include_components=true&page=1&page_size=20")
    assert set(data) >= PAGED
    assert data["filters"] == {"branch": None, "include_components": True, "max_depth": 10}
    rows = data["data"]
    assert rows
    for row in rows:
        assert {"G2_FILIAL", "G2_PRODUTO", "G2_OPER", "G2_RECURSO", "G2_TEMPO", "bomLevel"} <= set(
            row
        )
    keys = [(r["bomLevel"], r["G2_PRODUTO"], r["G2_OPER"]) for r in rows]
    assert keys == sorted(keys)


async def test_suppliers(client):
    code = await a_code_with(client, "suppliers")
    data = await get(client, f"/products/{code}/suppliers")
    assert {"A5_FORNECE", "A5_LOJA", "A2_NOME", "A5_CODPRF"} <= set(data["data"][0])

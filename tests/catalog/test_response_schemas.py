"""Every catalog route answers exactly what its response schema documents.

The answers are dumped by those schemas (@endpoint), so an undeclared field cannot leak out;
what this guards is the other way: a field the service stops producing would silently vanish
from the answer, so every `required` field must be present, `allow_none` must say where null
comes, and dumping the answer again must give the same JSON (types included: 1 is not 1.0)."""

from __future__ import annotations

from typing import Any

import asyncpg
import marshmallow as ma
import orjson
import pytest

from protheus_demo.generate import DEEP_PRODUCTS, WIDELY_USED_COMPONENT
from services.catalog import schemas
from tests.support.catalog import HEADERS


def canonical(value: Any) -> bytes:
    """JSON with sorted keys: 1 and 1.0 differ, key order does not."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


async def answer(client: Any, name: str, query: dict[str, str], **parts: str) -> Any:
    url = client.server.app.router[name].url_for(**parts).with_query(query)
    resp = await client.get(url, headers=HEADERS)
    body = await resp.json()
    assert resp.status == 200, body
    return body


def assert_documented(body: Any, schema: ma.Schema) -> None:
    assert schema.validate(body) == {}
    assert canonical(schema.dump(body)) == canonical(body)


@pytest.fixture
async def client(demo_protheus_dsn, catalog_client):
    return await catalog_client(demo_protheus_dsn)


@pytest.fixture
async def demo_codes(demo_protheus_dsn) -> dict[str, str]:
    """A product of the demo data with rows in each table a sub-route reads."""
    conn = await asyncpg.connect(demo_protheus_dsn)
    try:
        codes = {}
        for route, table, column in (
            ("stock", "sb2010", "b2_cod"),
            ("suppliers", "sa5010", "a5_produto"),
            ("inbound", "sd1010", "d1_cod"),
            ("outbound", "sd2010", "d2_cod"),
        ):
            codes[route] = await conn.fetchval(
                f"SELECT rtrim({column}) FROM {table} WHERE d_e_l_e_t_ = ' ' "
                f"GROUP BY {column} ORDER BY count(*) DESC, {column} LIMIT 1"
            )
        # Returns and goods sent for processing: the other kind of partner, filtered on.
        for route, table, prefix, partner in (
            ("inbound_special", "sd1010", "d1", "d1_fornece"),
            ("outbound_special", "sd2010", "d2", "d2_cliente"),
        ):
            row = await conn.fetchrow(
                f"SELECT rtrim({prefix}_cod) AS code, rtrim({partner}) AS partner "
                f"FROM {table} WHERE d_e_l_e_t_ = ' ' AND {prefix}_tipo IN ('D', 'B') "
                f"ORDER BY {prefix}_cod LIMIT 1"
            )
            assert row is not None, f"the demo data has no {route} document"
            codes[route], codes[f"{route}_partner"] = row["code"], row["partner"]
        return codes
    finally:
        await conn.close()


DEEP = DEEP_PRODUCTS[0]

CASES = [
    ("products_list", schemas.ListResponse(), {}, {"limit": "500", "include_blocked": "true"}),
    (
        "products_search_description",
        schemas.DescriptionSearchResponse(),
        {},
        {"description": "TERM BANDEIRA", "page_size": "20"},
    ),
    (
        "products_search",
        schemas.ProductSearchResponse(),
        {},
        {"code": "1", "description": "TERMINAL"},
    ),
    ("products_search", schemas.ProductSearchResponse(), {}, {"page_size": "30"}),
    ("product", schemas.ProductResponse(), {"code": DEEP}, {}),
    ("product_structure", schemas.TreeResponse(), {"code": DEEP}, {"page_size": "500"}),
    # A later page: nodes whose parent is on an earlier page carry parentCode.
    (
        "product_structure",
        schemas.TreeResponse(),
        {"code": DEEP},
        {"page": "2", "page_size": "7", "date": "2024-06-01"},
    ),
    ("product_structure", schemas.TreeResponse(), {"code": DEEP}, {"format": "flat"}),
    (
        "product_parents",
        schemas.TreeResponse(),
        {"code": WIDELY_USED_COMPONENT},
        {"max_depth": "5"},
    ),
    (
        "product_parents",
        schemas.TreeResponse(),
        {"code": WIDELY_USED_COMPONENT},
        {"max_depth": "5", "format": "flat", "page": "3", "page_size": "10"},
    ),
    ("product_guide", schemas.GuideResponse(), {"code": DEEP}, {"include_components": "true"}),
    ("product_guide", schemas.GuideResponse(), {"code": DEEP}, {"branch": "01"}),
    ("product_stock", schemas.StockResponse(), {"code": "stock"}, {}),
    ("product_stock", schemas.StockResponse(), {"code": "stock"}, {"branch": "01"}),
    ("product_suppliers", schemas.SuppliersResponse(), {"code": "suppliers"}, {}),
    (
        "product_inbound_invoice_items",
        schemas.InboundResponse(),
        {"code": "inbound"},
        {"page_size": "100"},
    ),
    (
        "product_inbound_invoice_items",
        schemas.InboundResponse(),
        {"code": "inbound_special"},
        {"customer": "inbound_special_partner", "issue_date_start": "2000-01-01"},
    ),
    (
        "product_outbound_invoice_items",
        schemas.OutboundResponse(),
        {"code": "outbound"},
        {"page_size": "100"},
    ),
    (
        "product_outbound_invoice_items",
        schemas.OutboundResponse(),
        {"code": "outbound_special"},
        {"supplier": "outbound_special_partner", "issue_date_end": "2099-12-31"},
    ),
]


@pytest.mark.parametrize(
    ("name", "schema", "parts", "query"),
    CASES,
    ids=[f"{case[0]}-{index}" for index, case in enumerate(CASES)],
)
async def test_route_answers_what_its_response_schema_documents(
    client, demo_codes, name, schema, parts, query
):
    parts = {key: demo_codes.get(value, value) for key, value in parts.items()}
    query = {key: demo_codes.get(value, value) for key, value in query.items()}
    body = await answer(client, name, query, **parts)
    data = body["data"]
    rows = data.get("data", data.get("produtos", data.get("results")))
    if isinstance(rows, dict):  # a tree: its root's nodes
        rows = rows["components"]
    assert rows is None or rows, f"{name} {query}: an empty answer checks nothing"
    assert_documented(body, schema)


async def test_every_catalog_route_is_covered():
    from services.catalog.routes import ROUTES

    covered = {case[0] for case in CASES}
    assert {name for _, _, name in ROUTES} - covered == {"products_list_slash"}


async def test_nullable_columns_are_documented_as_such(crafted, catalog_client):
    """Outer joins that find nothing answer null: an SA5 link without its SA2 supplier."""
    await crafted.product("P1", "PARAFUSO")
    await crafted.add("SA5", A5_FILIAL="", A5_FORNECE="999999", A5_LOJA="01", A5_PRODUTO="P1")
    client = await catalog_client(crafted.dsn)
    body = await answer(client, "product_suppliers", {}, code="P1")
    assert body["data"]["data"][0]["A2_NOME"] is None
    assert_documented(body, schemas.SuppliersResponse())

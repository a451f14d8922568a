"""@endpoint loads what a handler declares and dumps its Reply through the response schema."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
import pytest
from aiohttp import web
from marshmallow import fields

from shared.endpoint import endpoint, endpoint_of
from shared.envelope import Reply, envelope, paged, paged_envelope, success
from shared.middleware import errors
from shared.openapi import build_spec
from shared.pagination import Page, PageQuery
from shared.validation import BodySchema, Integer, String, between, load_query


class ItemPath(ma.Schema):
    code = String(required=True)


class ItemBody(BodySchema):
    name = String(required=True)
    quantity = Integer(required=True, validate=between(1, 10))


class Item(ma.Schema):
    code = fields.String()
    name = fields.String(attribute="item_name")
    quantity = fields.Integer()


ItemResponse = envelope(Item, name="ItemResponse")
ItemListResponse = paged_envelope(Item, name="ItemListResponse", page_name="ItemPage")

COMMON: dict[str, Any] = {"service": "test", "scope": "test:read", "summary": "s"}


@endpoint(**COMMON, query=PageQuery, response=ItemListResponse)
async def list_items(request: web.Request, *, page: Page) -> Reply:
    rows = [{"code": "A", "item_name": "Alfa", "quantity": 1, "secret": "not declared"}]
    return Reply(page.envelope(1, rows, filters={}), f"Itens ({page.label(1)}).")


@endpoint(**COMMON, query=PageQuery)
async def list_items_by_hand(request: web.Request) -> web.Response:
    """Not converted: the declared query is documented, the handler still loads it."""
    params = load_query(request, PageQuery())
    return success({"page": params["page"], "extra": "kept"}, "à mão")


@endpoint(**COMMON, path=ItemPath, body=ItemBody, response=ItemResponse, status=201, partial=True)
async def patch_item(request: web.Request, *, path: dict[str, Any], body: dict[str, Any]) -> Reply:
    return Reply({"code": path["code"], "item_name": body.get("name"), **body}, "Corrigido.")


@endpoint(**COMMON, path=ItemPath, response=ItemResponse)
async def get_item(request: web.Request, *, path: dict[str, Any]) -> Reply:
    if path["code"] == "new":
        return Reply({"code": "new"}, "Criado.", status=202, headers={"X-Test": "1"})
    return Reply({"code": path["code"], "item_name": "Alfa", "quantity": 2}, "Localizado.")


def make_app() -> web.Application:
    app = web.Application(middlewares=[errors])
    app.router.add_get("/api/v1/items", list_items, name="items_list")
    app.router.add_get("/api/v1/by-hand", list_items_by_hand, name="items_by_hand")
    app.router.add_patch("/api/v1/items/{code}", patch_item, name="items_patch")
    app.router.add_get("/api/v1/items/{code}", get_item, name="items_get")
    return app


async def test_the_declared_query_is_loaded_and_the_reply_dumped_by_the_response_schema(
    aiohttp_client: Any,
) -> None:
    client = await aiohttp_client(make_app())
    response = await client.get("/api/v1/items", params={"page": "2", "page_size": "5"})
    assert response.status == 200
    assert await response.json() == {
        "success": True,
        "message": "Itens (página 2/1).",
        "data": {
            "total": 1,
            "page": 2,
            "pageSize": 5,
            "totalPages": 1,
            "filters": {},
            # `secret` is not in Item: the dump drops it; `name` comes from `item_name`.
            "data": [{"code": "A", "name": "Alfa", "quantity": 1}],
        },
    }


async def test_a_bad_query_is_the_same_400_as_the_loader_gives(aiohttp_client: Any) -> None:
    client = await aiohttp_client(make_app())
    converted = await client.get("/api/v1/items", params={"page": "0"})
    by_hand = await client.get("/api/v1/by-hand", params={"page": "0"})
    assert converted.status == by_hand.status == 400
    assert await converted.json() == await by_hand.json()
    assert (await converted.json())["error"]["details"][0]["field"] == "page"


async def test_an_unconverted_handler_is_called_as_before_and_answers_untouched(
    aiohttp_client: Any,
) -> None:
    client = await aiohttp_client(make_app())
    response = await client.get("/api/v1/by-hand", params={"page": "3"})
    assert await response.json() == {
        "success": True,
        "message": "à mão",
        "data": {"page": 3, "extra": "kept"},
    }


async def test_path_and_partial_body_are_loaded_and_the_declared_status_used(
    aiohttp_client: Any,
) -> None:
    client = await aiohttp_client(make_app())
    response = await client.patch("/api/v1/items/X1", json={"name": "Beta"})
    assert response.status == 201
    assert (await response.json())["data"] == {"code": "X1", "name": "Beta"}
    bad = await client.patch("/api/v1/items/X1", json={"quantity": 11})
    assert bad.status == 400
    body = await bad.json()
    assert body["error"]["code"] == "invalid_body"
    assert body["error"]["details"][0]["field"] == "quantity"
    unsupported = await client.patch(
        "/api/v1/items/X1", data="x", headers={"Content-Type": "text/plain"}
    )
    assert unsupported.status == 415


async def test_a_reply_may_override_status_and_add_headers(aiohttp_client: Any) -> None:
    client = await aiohttp_client(make_app())
    response = await client.get("/api/v1/items/new")
    assert response.status == 202
    assert response.headers["X-Test"] == "1"
    assert (await response.json())["data"] == {"code": "new"}


def test_the_wrapper_carries_its_endpoint_for_auth_audit_and_openapi() -> None:
    info = endpoint_of(list_items)
    assert info is not None
    assert info.scope == "test:read"
    assert info.query is PageQuery
    assert list_items.__name__ == "list_items"
    spec = build_spec(make_app(), "test", "t", "d")
    operation = spec["paths"]["/api/v1/items"]["get"]
    assert {p["name"] for p in operation["parameters"]} == {"page", "page_size"}
    schemas = spec["components"]["schemas"]
    assert set(schemas["ItemListResponse"]["properties"]) == {"success", "message", "data"}
    assert list(schemas["ItemPage"]["properties"]) == [
        "total",
        "page",
        "pageSize",
        "totalPages",
        "filters",
        "data",
    ]


def test_a_handler_taking_what_it_does_not_declare_is_refused_at_import() -> None:
    with pytest.raises(TypeError, match="takes body="):

        @endpoint(**COMMON)
        async def wrong(request: web.Request, *, body: dict[str, Any]) -> Reply:
            return Reply(body, "")


def test_a_handler_taking_a_page_without_a_page_query_is_refused_at_import() -> None:
    with pytest.raises(TypeError, match="takes page= but its query is no PageQuery"):

        @endpoint(**COMMON, query=ItemPath)
        async def broken(request: web.Request, *, page: Page) -> Reply:
            return Reply({}, "")


def test_a_response_that_is_not_an_envelope_is_refused_at_import() -> None:
    with pytest.raises(TypeError, match="not an envelope"):
        endpoint(**COMMON, response=Item)


def test_the_factories_build_the_envelopes_as_the_seed_shows_them() -> None:
    assert list(ItemResponse().fields) == ["success", "message", "data"]
    assert ItemResponse.__name__ == "ItemResponse"
    listing = envelope(fields.List(fields.Nested(Item)), name="ItemsResponse")
    assert listing().dump({"success": True, "message": "m", "data": [{"code": "A"}]}) == {
        "success": True,
        "message": "m",
        "data": [{"code": "A"}],
    }
    search = paged(
        Item,
        name="SearchPage",
        rows_key="results",
        extra={"description": fields.String()},
        filters=fields.Dict(metadata={"description": "Filtros aplicados."}),
    )
    assert list(search().fields) == [
        "total",
        "page",
        "pageSize",
        "totalPages",
        "filters",
        "description",
        "results",
    ]


def test_a_page_that_is_not_a_plain_list_of_rows_takes_its_field() -> None:
    tree = paged(fields.Nested(Item), name="TreePage")
    dumped = tree().dump({"total": 1, "page": 1, "data": {"code": "R", "item_name": "Raiz"}})
    assert dumped == {"total": 1, "page": 1, "data": {"code": "R", "name": "Raiz"}}

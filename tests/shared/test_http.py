"""The common middlewares and envelopes, through a test app with deliberately failing routes."""

from __future__ import annotations

import asyncio
import io

import pytest
from aiohttp import web

from shared.app import create_base_app
from shared.endpoint import endpoint
from shared.envelope import success
from shared.errors import NotFound
from shared.health import add_check
from shared.openapi import publish_openapi
from shared.pagination import Page, PageQuery
from shared.settings import Settings, parse_api_keys
from shared.validation import BodySchema, Integer, String, load_body, load_query
from tests.helpers import assert_envelope, auth

R_KEY, W_KEY, A_KEY = (
    "r-key-0123456789abcdefghij",
    "w-key-0123456789abcdefghij",
    "a-key-0123456789abcdefghij",
)
KEYS = f"reader:{R_KEY}:catalog:read;writer:{W_KEY}:production:read,production:write;root:{A_KEY}:admin"


class EchoBody(BodySchema):
    quantity = Integer(required=True)
    note = String()


@endpoint(service="demo", scope="catalog:read", summary="Paginated list", query=PageQuery)
async def list_items(request: web.Request) -> web.Response:
    page = Page.from_params(load_query(request, PageQuery()))
    return success(page.envelope(7, [1, 2], filters={"x": None}), "ok")


@endpoint(service="demo", scope="production:write", summary="Echo a body", body=EchoBody)
async def post_item(request: web.Request) -> web.Response:
    return success(await load_body(request, EchoBody()), "criado", status=202)


@endpoint(service="demo", scope="catalog:read", summary="Always breaks")
async def broken(request: web.Request) -> web.Response:
    raise ValueError("secret internals")


@endpoint(service="demo", scope="catalog:read", summary="Not found")
async def missing(request: web.Request) -> web.Response:
    raise NotFound("Produto XYZ não encontrado.")


async def no_spec(request: web.Request) -> web.Response:
    return success({}, "ok")


@pytest.fixture
def make_app():
    def make(**overrides) -> web.Application:
        settings = Settings(api_keys=parse_api_keys(KEYS), **overrides)
        app = create_base_app(settings)
        app.router.add_get("/api/v1/items", list_items, name="items")
        app.router.add_post("/api/v1/items", post_item, name="post_item")
        app.router.add_get("/api/v1/broken", broken)
        app.router.add_get("/api/v1/missing", missing)
        app.router.add_get("/api/v1/no-spec", no_spec)
        app.router.add_get("/products/seed-alias", list_items)
        publish_openapi(app, "demo", "Demo", "Demo service")
        return app

    return make


async def test_request_without_key_is_401_in_envelope(aiohttp_client, make_app):
    client = await aiohttp_client(make_app())
    resp = await client.get("/api/v1/items")
    body = await assert_envelope(resp, 401)
    assert body["error"]["code"] == "unauthorized"
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")


async def test_unversioned_seed_paths_need_a_key_too(aiohttp_client, make_app):
    client = await aiohttp_client(make_app())
    await assert_envelope(await client.get("/products/seed-alias"), 401)
    await assert_envelope(await client.get("/products/seed-alias", headers=auth(R_KEY)), 200)


async def test_wrong_key_is_401_and_missing_scope_is_403(aiohttp_client, make_app):
    client = await aiohttp_client(make_app())
    body = await assert_envelope(await client.get("/api/v1/items", headers=auth("nope")), 401)
    assert body["error"]["code"] == "unauthorized"
    resp = await client.post("/api/v1/items", json={"quantity": 1}, headers=auth(R_KEY))
    body = await assert_envelope(resp, 403)
    assert body["error"]["code"] == "forbidden"


async def test_admin_implies_every_scope_and_x_api_key_works(aiohttp_client, make_app):
    client = await aiohttp_client(make_app())
    resp = await client.post("/api/v1/items", json={"quantity": 3}, headers={"X-API-Key": A_KEY})
    assert await assert_envelope(resp, 202) == {"quantity": 3}
    data = await assert_envelope(
        await client.get("/api/v1/items", headers={"X-API-Key": A_KEY}), 200
    )
    assert data["total"] == 7


async def test_route_without_endpoint_spec_requires_admin(aiohttp_client, make_app):
    client = await aiohttp_client(make_app())
    await assert_envelope(await client.get("/api/v1/no-spec", headers=auth(R_KEY)), 403)
    await assert_envelope(await client.get("/api/v1/no-spec", headers=auth(A_KEY)), 200)


async def test_authentication_comes_before_validation(aiohttp_client, make_app):
    client = await aiohttp_client(make_app())
    resp = await client.get("/api/v1/items?page_size=9999")
    await assert_envelope(resp, 401)


@pytest.mark.parametrize(
    ("query", "rule"),
    [
        ("page_size=0", "range"),
        ("page_size=501", "range"),
        ("page_size=abc", "type"),
        ("page_size=1.5", "type"),
    ],
)
async def test_bad_page_size_is_400_naming_the_parameter(aiohttp_client, make_app, query, rule):
    client = await aiohttp_client(make_app())
    resp = await client.get(f"/api/v1/items?{query}", headers=auth(R_KEY))
    body = await assert_envelope(resp, 400)
    assert body["error"]["code"] == "invalid_parameter"
    assert body["error"]["details"][0]["field"] == "page_size"
    assert body["error"]["details"][0]["rule"] == rule
    assert "page_size" in body["message"]


async def test_bad_page_is_400_not_clamped(aiohttp_client, make_app):
    client = await aiohttp_client(make_app())
    body = await assert_envelope(await client.get("/api/v1/items?page=0", headers=auth(R_KEY)), 400)
    assert body["error"]["details"][0]["field"] == "page"


async def test_paginated_shape(aiohttp_client, make_app):
    client = await aiohttp_client(make_app())
    resp = await client.get("/api/v1/items?page=2&page_size=3", headers=auth(R_KEY))
    data = await assert_envelope(resp, 200)
    assert data == {
        "total": 7,
        "page": 2,
        "pageSize": 3,
        "totalPages": 3,
        "filters": {"x": None},
        "data": [1, 2],
    }


async def test_unexpected_error_is_500_with_request_id_and_no_traceback(
    aiohttp_client, make_app, caplog
):
    client = await aiohttp_client(make_app())
    resp = await client.get("/api/v1/broken", headers={**auth(R_KEY), "X-Request-ID": "req-42"})
    body = await assert_envelope(resp, 500)
    assert body["error"]["code"] == "internal_error"
    assert body["error"]["requestId"] == "req-42"
    assert "secret internals" not in await resp.text()
    assert "Traceback" not in await resp.text()
    assert any(r.exc_info and "secret internals" in str(r.exc_info[1]) for r in caplog.records)


async def test_typed_error_and_unknown_route_are_404(aiohttp_client, make_app):
    client = await aiohttp_client(make_app())
    body = await assert_envelope(await client.get("/api/v1/missing", headers=auth(R_KEY)), 404)
    assert body["message"] == "Produto XYZ não encontrado."
    body = await assert_envelope(await client.get("/api/v1/nowhere", headers=auth(R_KEY)), 404)
    assert body["error"]["code"] == "not_found"
    body = await assert_envelope(await client.get("/elsewhere"), 404)
    assert body["error"]["code"] == "not_found"


async def test_body_errors(aiohttp_client, make_app):
    client = await aiohttp_client(make_app())
    headers = auth(W_KEY)
    resp = await client.post(
        "/api/v1/items", data="{not json", headers={**headers, "Content-Type": "application/json"}
    )
    assert (await assert_envelope(resp, 400))["error"]["code"] == "invalid_body"
    resp = await client.post(
        "/api/v1/items", data="quantity=1", headers={**headers, "Content-Type": "text/plain"}
    )
    assert (await assert_envelope(resp, 415))["error"]["code"] == "unsupported_media_type"
    resp = await client.post("/api/v1/items", json=[1, 2], headers=headers)
    assert (await assert_envelope(resp, 400))["error"]["code"] == "invalid_body"
    resp = await client.post(
        "/api/v1/items", json={"quantity": "x", "color": "red"}, headers=headers
    )
    body = await assert_envelope(resp, 400)
    rules = {d["field"]: d["rule"] for d in body["error"]["details"]}
    assert rules == {"quantity": "type", "color": "unknown"}
    resp = await client.post("/api/v1/items", json={}, headers=headers)
    body = await assert_envelope(resp, 400)
    assert body["error"]["details"] == [
        {"field": "quantity", "rule": "required", "message": "é obrigatório."}
    ]


async def test_body_too_large_is_413(aiohttp_client, make_app):
    client = await aiohttp_client(make_app())
    big = io.BytesIO(b'{"note": "' + b"x" * (2 * 1024 * 1024) + b'"}')
    resp = await client.post(
        "/api/v1/items", data=big, headers={**auth(W_KEY), "Content-Type": "application/json"}
    )
    body = await assert_envelope(resp, 413)
    assert body["error"]["code"] == "payload_too_large"


async def test_request_id_is_echoed_or_generated(aiohttp_client, make_app):
    client = await aiohttp_client(make_app())
    resp = await client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert resp.headers["X-Request-ID"] == "abc-123"
    resp = await client.get("/healthz", headers={"X-Request-ID": "bad id with spaces"})
    assert resp.headers["X-Request-ID"] != "bad id with spaces"
    assert len(resp.headers["X-Request-ID"]) == 32


async def test_readyz_fails_only_on_required_dependencies(aiohttp_client, make_app):
    app = make_app()

    async def up() -> None:
        return None

    async def down() -> None:
        raise ConnectionRefusedError("refused")

    add_check(app, "db", up, required=True)
    add_check(app, "broker", down, required=False)
    client = await aiohttp_client(app)
    data = await assert_envelope(await client.get("/readyz"), 200)
    assert data["checks"]["db"]["status"] == "up"
    assert data["checks"]["broker"]["status"] == "down"

    app2 = make_app()
    add_check(app2, "db", down, required=True)
    client2 = await aiohttp_client(app2)
    body = await assert_envelope(await client2.get("/readyz"), 503)
    assert body["error"]["code"] == "dependency_unavailable"
    assert body["data"]["checks"]["db"]["status"] == "down"


async def test_readyz_tells_why_only_to_a_caller_with_a_key(aiohttp_client, make_app):
    app = make_app()

    async def down() -> None:
        raise ConnectionRefusedError("refused by db-secret-host.plant:5432 as user mes_admin")

    add_check(app, "db", down, required=True)
    client = await aiohttp_client(app)
    resp = await client.get("/readyz")
    body = await assert_envelope(resp, 503)
    assert body["data"]["checks"]["db"]["status"] == "down"
    assert "db-secret-host" not in await resp.text()
    assert "error" not in body["data"]["checks"]["db"]
    assert body["error"]["details"][0]["field"] == "db"
    resp = await client.get("/readyz", headers=auth("not-a-configured-key-at-all-123"))
    assert "db-secret-host" not in await resp.text()
    body = await assert_envelope(await client.get("/readyz", headers=auth(R_KEY)), 503)
    assert "db-secret-host" in body["data"]["checks"]["db"]["error"]
    assert "db-secret-host" in body["error"]["details"][0]["message"]


async def test_readyz_times_out_a_hanging_dependency(aiohttp_client, make_app, monkeypatch):
    monkeypatch.setattr("shared.health.CHECK_TIMEOUT_S", 0.2)
    app = make_app()

    async def hangs() -> None:
        await asyncio.sleep(30)

    add_check(app, "db", hangs, required=True)
    client = await aiohttp_client(app)
    await assert_envelope(await client.get("/readyz"), 503)


async def test_metrics_count_requests_per_route(aiohttp_client, make_app):
    client = await aiohttp_client(make_app())
    await client.get("/api/v1/items", headers=auth(R_KEY))
    await client.get("/api/v1/items", headers=auth(R_KEY))
    await client.get("/api/v1/items")
    resp = await client.get("/metrics")
    assert resp.status == 200
    assert resp.content_type == "text/plain"
    text = await resp.text()
    assert 'http_requests_total{method="GET",route="/api/v1/items",status="200"} 2.0' in text
    assert 'http_requests_total{method="GET",route="/api/v1/items",status="401"} 1.0' in text
    assert (
        'http_request_duration_seconds_bucket{le="0.005",method="GET",route="/api/v1/items"}'
        in text
    )


async def test_only_published_openapi_documents_are_public(aiohttp_client, make_app):
    app = make_app()
    app.router.add_get("/api/v1/products/{code}", list_items)
    client = await aiohttp_client(app)
    await assert_envelope(await client.get("/api/v1/products/openapi.json"), 401)
    await assert_envelope(await client.get("/api/v1/other/openapi.json"), 401)
    await assert_envelope(await client.get("/api/v1/items/openapi.json"), 401)
    assert (await client.get("/api/v1/demo/openapi.json")).status == 200


async def test_openapi_is_public_and_built_from_the_schemas(aiohttp_client, make_app):
    client = await aiohttp_client(make_app())
    resp = await client.get("/api/v1/demo/openapi.json")
    doc = await resp.json()
    assert resp.status == 200
    assert doc["openapi"].startswith("3.")
    get_items = doc["paths"]["/api/v1/items"]["get"]
    params = {p["name"]: p for p in get_items["parameters"]}
    assert params["page_size"]["in"] == "query"
    assert params["page_size"]["schema"]["type"] == "integer"
    assert get_items["x-required-scope"] == "catalog:read"
    post = doc["paths"]["/api/v1/items"]["post"]
    body_ref = post["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    schema = doc["components"]["schemas"][body_ref.rsplit("/", 1)[-1]]
    assert "quantity" in schema["required"]
    assert "/products/seed-alias" not in doc["paths"]


async def test_control_characters_and_huge_pages_are_400_not_500(aiohttp_client, make_app):
    client = await aiohttp_client(make_app())
    body = await assert_envelope(
        await client.get("/api/v1/items?page=1000000000000000000", headers=auth(R_KEY)), 400
    )
    assert body["error"]["details"][0]["field"] == "page"
    resp = await client.post(
        "/api/v1/items", json={"quantity": 1, "note": "a\u0000b"}, headers=auth(W_KEY)
    )
    body = await assert_envelope(resp, 400)
    assert body["error"]["details"][0] == {
        "field": "note",
        "rule": "characters",
        "message": "não pode conter caracteres de controle.",
    }

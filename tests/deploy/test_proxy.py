"""nginx with the project's configuration in front of the services: every route
family reaches its own service with the request id, and nginx's own answers (401 passed
through, 403 /metrics, 404, 413) come in the error envelope."""

from __future__ import annotations

import asyncio
import io
import json
import uuid
from urllib.parse import urlsplit

import aiohttp
import pytest
from yarl import URL

from tests.helpers import assert_envelope, auth
from tests.support.deploy import API_KEY, Stack, read_lines, wait_for_line

# (service that must answer, path): the canonical families, the seed's unversioned
# /products paths and each OpenAPI document.
ROUTES = [
    ("catalog", "/products?limit=3"),
    ("catalog", "/products/?limit=3"),
    ("catalog", "/api/v1/products/search?description=terminal&page_size=2"),
    ("catalog", "/api/v1/products/search/description?description=TERMINAL&page_size=2"),
    ("catalog", "/api/v1/catalog/openapi.json"),
    ("production", "/api/v1/production-orders?page_size=2"),
    ("production", "/api/v1/production-reports?page_size=2"),
    ("production", "/api/v1/production/openapi.json"),
    ("production", "/api/v1/audit?page_size=2&key=ops"),
    ("production", "/api/v1/stops?status=unclassified&page_size=2"),
    ("production", "/api/v1/stop-reasons"),
    (
        "production",
        "/api/v1/downtime/pareto?from=2026-01-05T06:00:00-03:00&to=2026-01-05T22:00:00-03:00",
    ),
    ("telemetry", "/api/v1/machines"),
    ("telemetry", "/api/v1/telemetry/dead-letters"),
    (
        "telemetry",
        "/api/v1/oee?machine=CORTE1&from=2026-01-05T06:00:00-03:00&to=2026-01-05T22:00:00-03:00",
    ),
    ("telemetry", "/api/v1/telemetry/openapi.json"),
    ("telemetry", "/api/v1/sparkplug/nodes?online=true"),
    ("telemetry", "/api/v1/sparkplug/mapping"),
    ("telemetry", "/api/v1/plant"),
    ("web", "/api/v1/session"),
    ("web", "/api/v1/web/openapi.json"),
    ("analytics", "/api/v1/anomalies?kind=spike"),
    ("analytics", "/api/v1/analytics/openapi.json"),
]


def new_id() -> str:
    return f"deploy-{uuid.uuid4().hex}"


def assert_answered_by(stack: Stack, service: str, request_id: str) -> dict:
    """The request id is in that service's access log line only, and in nginx's."""
    line = wait_for_line(stack.logs[service], request_id)
    record = json.loads(line)
    assert record["service"] == service
    for other, lines in stack.service_logs().items():
        if other != service:
            assert not any(request_id in entry for entry in lines), other
    access = json.loads(wait_for_line(stack.access_log, request_id))
    assert access["upstream"] == f"127.0.0.1:{stack.ports[service]}"
    return access


@pytest.mark.parametrize(("service", "path"), ROUTES)
async def test_route_reaches_its_service_with_the_request_id(
    stack: Stack, service: str, path: str
) -> None:
    request_id = new_id()
    headers = {**auth(API_KEY), "X-Request-ID": request_id}
    async with (
        aiohttp.ClientSession() as http,
        http.get(stack.base_url + path, headers=headers) as resp,
    ):
        body = await resp.json()
        assert resp.status == 200, body
        assert resp.headers["X-Request-ID"] == request_id
        # One X-Request-ID, not the service's and nginx's side by side.
        assert len(resp.headers.getall("X-Request-ID")) == 1
    if path.endswith("openapi.json"):
        assert body["openapi"].startswith("3.")
    else:
        assert body["success"] is True
    access = assert_answered_by(stack, service, request_id)
    assert access["status"] == 200
    assert access["method"] == "GET"
    assert "?" not in access["path"]  # query strings may carry secrets: not logged


async def test_detail_routes_and_a_post_reach_their_service(stack: Stack) -> None:
    """Paths below each family (a product, an order, a machine) and a POST body."""
    async with aiohttp.ClientSession(headers=auth(API_KEY)) as http:
        async with http.get(f"{stack.base_url}/products?limit=1") as resp:
            code = (await assert_envelope(resp, 200))["produtos"][0]["B1_COD"].strip()
        async with http.get(f"{stack.base_url}/api/v1/production-orders?page_size=1") as resp:
            order = (await assert_envelope(resp, 200))["data"][0]["order"]
        checks = [
            ("catalog", "GET", f"/api/v1/products/{code}", 200),
            ("catalog", "GET", f"/products/{code}/structure?max_depth=2", 200),
            ("production", "GET", f"/api/v1/production-orders/{order}", 200),
            ("telemetry", "GET", "/api/v1/machines/CORTE1/latest", 200),
            # The regex location: a machine's anomalies (and risk) go to analytics.
            ("analytics", "GET", "/api/v1/machines/NO-SUCH-1/anomalies", 404),
            # A body the service refuses: it is the production service that says so.
            ("production", "POST", "/api/v1/production-reports", 400),
        ]
        for service, method, path, status in checks:
            request_id = new_id()
            kwargs = {"json": {}} if method == "POST" else {}
            async with http.request(
                method, stack.base_url + path, headers={"X-Request-ID": request_id}, **kwargs
            ) as resp:
                await assert_envelope(resp, status)
                assert resp.headers["X-Request-ID"] == request_id
            assert_answered_by(stack, service, request_id)


@pytest.mark.parametrize(
    "path", ["/api/v1/products/search?description=x", "/products?limit=1", "/api/v1/machines"]
)
async def test_a_request_without_a_key_is_refused(stack: Stack, path: str) -> None:
    request_id = new_id()
    async with (
        aiohttp.ClientSession() as http,
        http.get(stack.base_url + path, headers={"X-Request-ID": request_id}) as resp,
    ):
        body = await assert_envelope(resp, 401)
    assert body["error"]["code"] == "unauthorized"
    assert body["error"]["requestId"] == request_id
    async with (
        aiohttp.ClientSession() as http,
        http.get(stack.base_url + path, headers=auth("not-a-key")) as resp,
    ):
        assert (await assert_envelope(resp, 401))["error"]["code"] == "unauthorized"


async def test_metrics_is_refused_from_outside(stack: Stack) -> None:
    async with aiohttp.ClientSession() as http:
        # Sent as written (encoded=True): dot segments and escapes are nginx's to resolve.
        for path in ("/metrics", "/metrics?name=x", "/products/../metrics", "/%6detrics"):
            url = URL(stack.base_url + path, encoded=True)
            async with http.get(url, headers=auth(API_KEY)) as resp:
                body = await assert_envelope(resp, 403)
                assert body["error"]["code"] == "forbidden"
        # ...while each service still serves it on its own port, for Prometheus inside.
        for port in stack.ports.values():
            async with http.get(f"http://127.0.0.1:{port}/metrics") as resp:
                assert resp.status == 200
                assert "http_requests_total" in await resp.text()


async def test_unknown_paths_get_the_envelope(stack: Stack) -> None:
    async with aiohttp.ClientSession(headers=auth(API_KEY)) as http:
        # `/` exactly is the web app's page (test_web.py); anything else stays unknown.
        for path in ("/nope", "/static", "/api/v2/products", "/api/v1/unknown"):
            async with http.get(stack.base_url + path) as resp:
                assert (await assert_envelope(resp, 404))["error"]["code"] == "not_found"


async def test_a_body_over_the_limit_gets_nginxs_413(stack: Stack) -> None:
    request_id = new_id()
    body = b'{"pad": "' + b"x" * (1024 * 1024 + 100) + b'"}'
    headers = {
        **auth(API_KEY),
        "X-Request-ID": request_id,
        "Content-Type": "application/json",
    }
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{stack.base_url}/api/v1/production-reports", data=io.BytesIO(body), headers=headers
        ) as resp,
    ):
        answer = await assert_envelope(resp, 413)
    assert answer["error"]["code"] == "payload_too_large"
    assert answer["error"]["requestId"] == request_id
    access = json.loads(wait_for_line(stack.access_log, request_id))
    assert access["status"] == 413
    assert access["upstream"] == ""
    assert not any(request_id in line for line in read_lines(stack.logs["production"]))


async def test_a_request_nginx_cannot_read_gets_the_envelope(stack: Stack) -> None:
    """Headers over nginx's buffers: its 400 in JSON, not its HTML page."""
    async with (
        aiohttp.ClientSession(headers=auth(API_KEY)) as http,
        http.get(f"{stack.base_url}/api/v1/machines", headers={"X-Padding": "x" * 9000}) as resp,
    ):
        body = await assert_envelope(resp, 400)
    assert body["error"]["code"] == "invalid_parameter"


async def raw_request(base_url: str, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send bytes as they are (no client library would send these) and read the answer."""
    address = urlsplit(base_url)
    assert address.hostname
    assert address.port
    reader, writer = await asyncio.open_connection(address.hostname, address.port)
    try:
        writer.write(request)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, body


# Request lines nginx cannot parse: it has no URI for them (a named-location error page
# then failed with 500 "empty URI in redirect to named location").
UNPARSABLE = [
    b"GET /api/v1/products/a%00b HTTP/1.1",
    b"GET /api/v1/products/%zz HTTP/1.1",
    b"GET /../../etc/passwd HTTP/1.1",
    b"GET /api/v1/pro\x01ducts HTTP/1.1",
    b"GET /api/v1/products/a\x7fb HTTP/1.1",
    b"GARBAGE",
    b"GET",
]


@pytest.mark.parametrize("line", UNPARSABLE, ids=lambda line: repr(line)[2:30])
async def test_a_request_line_nginx_cannot_parse_gets_400_in_the_envelope(
    stack: Stack, line: bytes
) -> None:
    status, headers, body = await raw_request(
        stack.base_url, line + b"\r\nHost: mes\r\nConnection: close\r\n\r\n"
    )
    assert status == 400, body
    assert headers["content-type"].startswith("application/json")
    answer = json.loads(body)
    assert answer["success"] is False
    assert answer["error"]["code"] == "invalid_parameter"
    assert answer["error"]["requestId"] == headers["x-request-id"]
    assert headers["x-content-type-options"] == "nosniff"
    assert "empty URI" not in (stack.workdir / "nginx" / "logs" / "error.log").read_text()


async def test_a_request_line_without_version_gets_the_envelope_as_http09(stack: Stack) -> None:
    """HTTP/0.9 has no status line or headers: nginx answers the envelope alone."""
    address = urlsplit(stack.base_url)
    assert address.hostname
    assert address.port
    reader, writer = await asyncio.open_connection(address.hostname, address.port)
    try:
        writer.write(b"GET /api/v1/products/%zz\r\n")
        answer = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
    assert json.loads(answer)["error"]["code"] == "invalid_parameter"


async def test_trace_gets_405_with_allow_in_the_envelope(stack: Stack) -> None:
    status, headers, body = await raw_request(
        stack.base_url,
        b"TRACE /api/v1/products HTTP/1.1\r\nHost: mes\r\nConnection: close\r\n\r\n",
    )
    assert status == 405
    assert headers["allow"] == "GET, HEAD, POST, PATCH"
    assert headers["content-type"].startswith("application/json")
    answer = json.loads(body)
    assert answer["success"] is False
    assert answer["error"]["requestId"] == headers["x-request-id"]
    # A service's own 405 keeps the service's headers: nginx adds no second Allow.
    async with (
        aiohttp.ClientSession(headers=auth(API_KEY)) as http,
        http.delete(f"{stack.base_url}/api/v1/machines") as resp,
    ):
        await assert_envelope(resp, 405)
        assert len(resp.headers.getall("Allow", [])) <= 1
        assert resp.headers.get("Allow") != "GET, HEAD, POST, PATCH"


async def test_the_internal_error_uri_is_not_reachable(stack: Stack) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{stack.base_url}/.mes-errors/bad-request") as resp,
    ):
        assert (await assert_envelope(resp, 404))["error"]["code"] == "not_found"


async def test_request_id_nginx_makes_up_reaches_the_service(stack: Stack) -> None:
    """No id, or one the services would reject: nginx's own goes everywhere instead."""
    async with aiohttp.ClientSession(headers=auth(API_KEY)) as http:
        for sent in (None, "has spaces and !", "x" * 200):
            headers = {} if sent is None else {"X-Request-ID": sent}
            async with http.get(f"{stack.base_url}/api/v1/machines", headers=headers) as resp:
                assert resp.status == 200
                request_id = resp.headers["X-Request-ID"]
            assert request_id != sent
            assert len(request_id) == 32
            assert_answered_by(stack, "telemetry", request_id)


async def test_security_headers_and_gzip(stack: Stack) -> None:
    headers = {**auth(API_KEY), "Accept-Encoding": "gzip"}
    async with aiohttp.ClientSession() as http:
        for path in ("/api/v1/catalog/openapi.json", "/metrics"):
            async with http.get(stack.base_url + path, headers=headers) as resp:
                await resp.read()
                assert resp.headers["X-Content-Type-Options"] == "nosniff"
                assert resp.headers["X-Frame-Options"] == "DENY"
                assert resp.headers["Referrer-Policy"] == "no-referrer"
                assert "default-src 'none'" in resp.headers["Content-Security-Policy"]
                # HSTS only on the TLS server (test_limits.py), never on plain HTTP.
                assert "Strict-Transport-Security" not in resp.headers
                assert "nginx/" not in resp.headers.get("Server", "")  # no version
        async with http.get(
            f"{stack.base_url}/api/v1/catalog/openapi.json", headers=headers
        ) as resp:
            assert resp.headers["Content-Encoding"] == "gzip"
            assert (await resp.json())["openapi"].startswith("3.")


async def test_access_log_is_json_lines(stack: Stack) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{stack.base_url}/api/v1/catalog/openapi.json") as resp,
    ):
        assert resp.status == 200
        request_id = resp.headers["X-Request-ID"]
    wait_for_line(stack.access_log, request_id)
    records = [json.loads(line) for line in read_lines(stack.access_log)]
    assert records
    for record in records:
        assert {"time", "request_id", "method", "path", "status", "request_time"} <= set(record)
        assert record["request_id"]

"""nginx's own answers with its own instances (the rate limit must not hit the other
tests): 429 over the per-client limit, 502 and 504 from a dead or silent service, and the
TLS server block with a certificate. All in the error envelope with the request id."""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import ssl
import subprocess
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiohttp

from deploy.supervisor import free_port
from tests.helpers import assert_envelope, auth
from tests.support.deploy import API_KEY, Stack, private_dir


async def test_a_burst_over_the_rate_limit_gets_429(
    stack: Stack, own_nginx: Callable[..., str]
) -> None:
    base = own_nginx(NGINX_RATE_LIMIT="1r/s", NGINX_RATE_BURST="2")
    answers: list[tuple[int, dict, str]] = []

    async def one(http: aiohttp.ClientSession) -> None:
        request_id = f"burst-{uuid.uuid4().hex}"
        headers = {**auth(API_KEY), "X-Request-ID": request_id}
        async with http.get(f"{base}/products?limit=1", headers=headers) as resp:
            answers.append((resp.status, await resp.json(), resp.headers["X-Request-ID"]))
            assert resp.headers["X-Request-ID"] == request_id

    async with aiohttp.ClientSession() as http:
        await asyncio.gather(*(one(http) for _ in range(12)))
    statuses = sorted(status for status, _, _ in answers)
    # 1 request plus a burst of 2 pass (one more if a second ticks by); the rest are 429.
    assert 1 <= statuses.count(200) <= 4, statuses
    assert statuses.count(429) >= 8, statuses
    assert set(statuses) == {200, 429}
    for status, body, request_id in answers:
        if status == 429:
            assert body["success"] is False
            assert body["error"] == {"code": "rate_limited", "details": [], "requestId": request_id}
    # Routes outside the API are not limited: nginx's own /healthz still answers.
    async with aiohttp.ClientSession() as http, http.get(f"{base}/healthz") as resp:
        assert resp.status == 200


async def test_a_dead_service_gets_502_in_the_envelope(
    stack: Stack, own_nginx: Callable[..., str]
) -> None:
    closed = free_port()  # nothing listens there
    base = own_nginx(PRODUCTION_UPSTREAM=f"127.0.0.1:{closed}")
    async with (
        aiohttp.ClientSession(headers=auth(API_KEY)) as http,
        http.get(f"{base}/api/v1/production-orders") as resp,
    ):
        body = await assert_envelope(resp, 502)
    assert body["error"]["code"] == "dependency_unavailable"
    # The other services behind the same nginx are unaffected.
    async with (
        aiohttp.ClientSession(headers=auth(API_KEY)) as http,
        http.get(f"{base}/api/v1/machines") as resp,
    ):
        await assert_envelope(resp, 200)


@contextlib.asynccontextmanager
async def silent_server() -> AsyncIterator[int]:
    """Accepts connections and reads, never answers: a service stuck on a query."""
    held: list[asyncio.StreamWriter] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)
        with contextlib.suppress(ConnectionError):
            await reader.read(65536)

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_a_silent_service_gets_504_in_the_envelope(
    stack: Stack, own_nginx: Callable[..., str]
) -> None:
    async with silent_server() as port:
        base = own_nginx(TELEMETRY_UPSTREAM=f"127.0.0.1:{port}", NGINX_PROXY_READ_TIMEOUT="1s")
        request_id = f"slow-{uuid.uuid4().hex}"
        headers = {**auth(API_KEY), "X-Request-ID": request_id}
        async with (
            aiohttp.ClientSession() as http,
            http.get(
                f"{base}/api/v1/machines", headers=headers, timeout=aiohttp.ClientTimeout(10)
            ) as resp,
        ):
            body = await assert_envelope(resp, 504)
    assert body["error"]["code"] == "dependency_unavailable"
    assert body["error"]["requestId"] == request_id


def self_signed(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "mes.crt", directory / "mes.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


async def test_with_tls_on_plain_http_only_redirects_and_the_tls_server_serves_the_api(
    stack: Stack, own_nginx: Callable[..., str]
) -> None:
    """NGINX_TLS=on: the HTTPS server has the routes (with HSTS); plain HTTP answers only
    /healthz and a 308 to the same path and query on the HTTPS port, whatever the method
    or the path (the API, /metrics, unknown paths), and reaches no service."""
    certs = private_dir("mes-certs-")
    try:
        cert, key = self_signed(certs)
        tls_port = free_port()
        plain = own_nginx(
            NGINX_TLS="on",
            NGINX_TLS_LISTEN=f"127.0.0.1:{tls_port}",
            NGINX_HTTPS_PORT=str(tls_port),
            NGINX_TLS_CERT=str(cert),
            NGINX_TLS_KEY=str(key),
        )
        context = ssl.create_default_context(cafile=str(cert))
        context.check_hostname = False  # the certificate names localhost, we dial 127.0.0.1
        async with aiohttp.ClientSession(headers=auth(API_KEY)) as http:
            async with http.get(
                f"https://127.0.0.1:{tls_port}/api/v1/machines", ssl=context
            ) as resp:
                await assert_envelope(resp, 200)
                assert resp.headers["Strict-Transport-Security"].startswith("max-age=")
                assert resp.headers["X-Content-Type-Options"] == "nosniff"
            async with http.get(f"https://127.0.0.1:{tls_port}/metrics", ssl=context) as resp:
                assert (await assert_envelope(resp, 403))["error"]["code"] == "forbidden"
            # The web app's locations declare headers of their own: HSTS is repeated there.
            async with http.get(f"https://127.0.0.1:{tls_port}/", ssl=context) as resp:
                page = await resp.text()
                assert resp.status == 200
                assert len(resp.headers.getall("Strict-Transport-Security")) == 1
            asset = re.search(r'src="(/static/[^"]+)"', page)
            assert asset
            async with http.get(f"https://127.0.0.1:{tls_port}{asset[1]}", ssl=context) as resp:
                assert resp.status == 200
                assert resp.headers["Strict-Transport-Security"].startswith("max-age=")

            request_id = f"plain-{uuid.uuid4().hex}"
            for method, path in (
                ("GET", "/api/v1/machines?limit=5"),
                ("POST", "/api/v1/production-reports"),
                ("GET", "/metrics"),
                ("GET", "/nowhere"),
                ("PATCH", "/api/v1/production-reports/x"),
            ):
                async with http.request(
                    method,
                    f"{plain}{path}",
                    json={} if method != "GET" else None,
                    headers={"X-Request-ID": request_id},
                    allow_redirects=False,
                ) as resp:
                    assert resp.status == 308, (method, path, resp.status)
                    assert resp.headers["Location"] == f"https://127.0.0.1:{tls_port}{path}"
                    assert "Strict-Transport-Security" not in resp.headers
            async with http.get(f"{plain}/healthz", allow_redirects=False) as resp:
                assert (await assert_envelope(resp, 200))["status"] == "ok"
            # Following the redirect lands on the API over TLS (the client drops the key on
            # the way, another origin: the service's 401 says the API answered).
            async with http.get(f"{plain}/api/v1/machines", ssl=context) as resp:
                await assert_envelope(resp, 401)
                assert resp.url.scheme == "https"
                assert resp.headers["Strict-Transport-Security"].startswith("max-age=")
        # No plain-HTTP request reached a service.
        assert not any(
            request_id in line for lines in stack.service_logs().values() for line in lines
        )
    finally:
        shutil.rmtree(certs, ignore_errors=True)

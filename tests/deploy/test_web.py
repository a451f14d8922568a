"""The web app through nginx: the page at `/` with its own security headers, versioned files
cached for a year, gzip, and the event stream passed through unbuffered and uncompressed."""

from __future__ import annotations

import asyncio
import datetime as dt
import re

import aiohttp
import asyncpg

from tests.helpers import assert_envelope, auth
from tests.support.deploy import API_KEY, Stack
from tests.web.support import SseReader


async def test_the_page_and_its_files_come_from_the_web_service(stack: Stack) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{stack.base_url}/", headers={"Accept-Encoding": "gzip"}) as resp:
            page = await resp.text()
            assert resp.status == 200
            assert resp.content_type == "text/html"
            assert resp.headers["Cache-Control"] == "no-cache"
            assert resp.headers["Content-Encoding"] == "gzip"
            assert len(resp.headers.getall("X-Request-ID")) == 1
            # The page's policy (its own scripts), not the API's default-src 'none'.
            policy = resp.headers["Content-Security-Policy"]
            assert "script-src 'self'" in policy
            assert "frame-ancestors 'none'" in policy
            assert len(resp.headers.getall("Content-Security-Policy")) == 1
            assert "Strict-Transport-Security" not in resp.headers  # plain HTTP: no HSTS
        assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', page)
        assert assets
        for asset in assets:
            async with http.get(stack.base_url + asset) as resp:
                await resp.read()
                assert resp.status == 200, asset
                assert resp.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        async with http.get(f"{stack.base_url}/static/0123456789ab/app.js") as resp:
            assert (await assert_envelope(resp, 404))["error"]["code"] == "not_found"


async def test_events_pass_through_nginx_unbuffered(stack: Stack) -> None:
    timeout = aiohttp.ClientTimeout(total=60)
    headers = {**auth(API_KEY), "Accept-Encoding": "gzip"}
    async with (
        aiohttp.ClientSession(timeout=timeout) as http,
        http.get(f"{stack.base_url}/api/v1/events", headers=headers) as resp,
    ):
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        assert "Content-Encoding" not in resp.headers
        stream = SseReader(resp)
        await asyncio.sleep(1.5)  # the poller's watermarks are set before the row lands
        conn = await asyncpg.connect(stack.mes_dsn)
        try:
            await conn.execute(
                "INSERT INTO machine_states (machine, ts, state, reason) VALUES ($1, $2, $3, $4)",
                "NGINX1", dt.datetime.now(dt.UTC), "fault", "E7",
            )  # fmt: skip
        finally:
            await conn.close()
        event = await stream.until(
            lambda e: e.name == "machine.state" and e.data["machine"] == "NGINX1", wait_s=20
        )
        assert event.data["state"] == "fault"


async def test_events_without_a_key_get_401_through_nginx(stack: Stack) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{stack.base_url}/api/v1/events") as resp,
    ):
        await assert_envelope(resp, 401)

"""Secrets never reach logs, /readyz or stored errors: every password form is masked."""

from __future__ import annotations

import aiohttp
import pytest
from yarl import URL

from shared.redact import mask_dsn, redact

SECRET = "s3cr3t-Pa55"


@pytest.mark.parametrize(
    ("dsn", "masked"),
    [
        ("postgresql://u:pw@h:5432/db", "postgresql://u:***@h:5432/db"),
        ("postgresql://u:p%40ss%3Aw@h/db", "postgresql://u:***@h/db"),
        (
            "postgresql://h/db?sslmode=require&password=pw",
            "postgresql://h/db?sslmode=require&password=***",
        ),
        ("mqtt://ingestor:pw@broker:1883", "mqtt://ingestor:***@broker:1883"),
        ("postgresql://h/db", "postgresql://h/db"),
        ("odbc://DRIVER={X};UID=u;PWD=secret;", "odbc://DRIVER={X};UID=u;PWD=***;"),
        ("odbc://DRIVER={X};PWD={se;cret};UID=u", "odbc://DRIVER={X};PWD=***;UID=u"),
        ("odbc://DRIVER={X};PWD={a}}b;c};UID=u", "odbc://DRIVER={X};PWD=***;UID=u"),
        ("odbc://DRIVER={X};Password = secret;UID=u", "odbc://DRIVER={X};Password = ***;UID=u"),
        ("odbc://DRIVER={X};pwd={x};UID=u", "odbc://DRIVER={X};pwd=***;UID=u"),
    ],
)
def test_mask_dsn_hides_every_password_form(dsn, masked):
    assert mask_dsn(dsn) == masked


@pytest.mark.parametrize(
    "text",
    [
        f"401, message='Unauthorized', url='http://erp:8084/rest/api/oauth2/v1/token?grant_type=password&username=mes&password={SECRET}'",
        f"Cannot connect to https://mes:{SECRET}@erp:8443/rest",
        f"connect failed for host=erp user=mes password={SECRET} dbname=p12",
        f"[ODBC] login failed: DRIVER={{X}};UID=mes;PWD={{{SECRET}}}",
        f"refresh refused: refresh_token={SECRET}",
    ],
)
def test_redact_removes_credentials_from_error_text(text):
    assert SECRET not in redact(text)


def test_redact_keeps_the_useful_part_of_a_message():
    text = "Cannot connect to host erp:8084 ssl:default [Connection refused]"
    assert redact(text) == text
    assert redact("url='http://erp/rest/x?a=1'") == "url='http://erp/rest/x?***'"


def test_an_aiohttp_error_on_the_token_url_is_redacted():
    url = URL("http://erp:8084/rest/api/oauth2/v1/token").with_query(
        grant_type="password", username="mes", password=SECRET
    )
    info = aiohttp.RequestInfo(url, "POST", {}, url)  # type: ignore[arg-type]
    exc = aiohttp.ClientResponseError(info, (), status=500, message="boom")
    assert SECRET in str(exc)  # what aiohttp itself would let through
    assert SECRET not in redact(str(exc))


async def test_a_stored_pusher_error_never_carries_the_token_url(aiohttp_server):
    """A proxy looping redirects on the token URL: aiohttp's error quotes that URL."""
    from aiohttp import web

    from services.production.pusher.client import TOKEN_PATH, ProtheusClient
    from shared.settings import PusherSettings, Settings

    async def token(request: web.Request) -> web.Response:
        raise web.HTTPTemporaryRedirect(str(request.rel_url))

    app = web.Application()
    app.router.add_post(f"/rest{TOKEN_PATH}", token)
    server = await aiohttp_server(app)
    settings = Settings(protheus_rest_url=str(server.make_url("/rest")), protheus_password=SECRET)
    async with aiohttp.ClientSession() as session:
        client = ProtheusClient(session, settings, PusherSettings(timeout_s=5))
        outcome = await client.post_appointment({"x": 1}, branch="01")
    assert outcome.kind == "not_sent"
    assert outcome.message.startswith("autenticação falhou")
    assert SECRET not in outcome.message

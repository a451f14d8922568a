"""What the validating fields accept is what their OpenAPI properties say (fast checks; the
fuzz in test_openapi_fuzz.py runs the published documents against the services)."""

from __future__ import annotations

import re
from typing import Any

import marshmallow as ma
import pytest

from services.telemetry.query.schemas import AggregateList
from shared.lines import line_rule
from shared.validation import (
    Integer,
    MaxLength,
    ProtheusText,
    Schema,
    String,
    between,
    max_length,
    one_of,
)

SAMPLES = [
    "", " ", "\t", "abc", " abc ", "\tabc\n", "a\tb", "a\x00b", "\x00", "a" * 5, "a" * 6,
    " " + "a" * 5 + " ", "\u2003abcd\u3000", "a\u200bb", "\u202eab", "ab\u0085", "\u0085",
    "a\x7fb", "\U000e0001x", "x y z",
]  # fmt: skip


def accepts(field: ma.fields.Field, value: str) -> bool:
    schema = Schema.from_dict({"value": field})()
    try:
        schema.load({"value": value})
    except ma.ValidationError:
        return False
    return True


@pytest.mark.parametrize(
    "field",
    [
        String(load_default=None),
        String(required=True),
        String(load_default=None, validate=max_length(5)),
        String(required=True, validate=max_length(5)),
        ProtheusText(load_default=None, validate=max_length(5)),
        ProtheusText(required=True),
        String(load_default=None, validate=line_rule),
        AggregateList(load_default=None),
    ],
)
def test_the_documented_pattern_accepts_exactly_what_the_field_loads(field: Any) -> None:
    pattern = re.compile(field.openapi_properties()["pattern"])
    samples = [*SAMPLES, "a/b/c", " a / b /c ", "a//c", "a/\tb/c", "avg", " MAX, ,min ", ","]
    for value in samples:
        assert bool(pattern.search(value)) == accepts(field, value), repr(value)


def test_validators_are_marshmallow_s_own_so_apispec_documents_them() -> None:
    assert (between(1, 500).min, between(1, 500).max) == (1, 500)
    assert one_of(("a", "b")).choices == ("a", "b")
    assert isinstance(max_length(3), MaxLength)  # documented by String's pattern instead
    with pytest.raises(ma.ValidationError, match="deve estar entre 1 e 500"):
        Schema.from_dict({"n": Integer(validate=between(1, 500))})().load({"n": "-372"})


async def test_an_undeclared_method_gets_405_with_allow(aiohttp_client) -> None:
    from aiohttp import web

    from shared.middleware import errors

    async def handler(request: web.Request) -> web.Response:
        return web.json_response({})

    app = web.Application(middlewares=[errors])
    app.router.add_get("/things", handler)
    app.router.add_post("/things", handler)
    client = await aiohttp_client(app)
    resp = await client.request("DELETE", "/things")
    assert resp.status == 405
    assert set(resp.headers["Allow"].split(",")) == {"GET", "HEAD", "POST"}
    body = await resp.json()
    assert body["success"] is False
    assert body["error"]["code"] == "not_found"

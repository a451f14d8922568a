"""Free text written to Protheus (H6_OPERADO, H6_OBSERVA, H6_LOTECTL...) refuses control and
bidirectional-format characters, on POST and on PATCH."""

from __future__ import annotations

import uuid

import pytest

from tests.helpers import assert_envelope
from tests.support.production import WRITE, report_body
from tests.support.urls import url

# A right-to-left override (the character found in H6_OPERADO), the LTR/RTL marks, the
# isolates, a zero-width space, DEL and a C1 control.
REFUSED = [
    "\u202e",
    "\u200e",
    "\u200f",
    "\u2066",
    "\u2067",
    "\u2068",
    "\u2069",
    "\u200b",
    "\x7f",
    "\x85",
]


@pytest.fixture
async def client(aiohttp_client, production_app, protheus_dsn, mes_dsn):
    return await aiohttp_client(production_app(protheus_dsn=protheus_dsn, mes_dsn=mes_dsn))


@pytest.mark.parametrize("character", REFUSED)
@pytest.mark.parametrize("field", ["operator", "scrapReason", "lot"])
async def test_post_refuses_control_and_format_characters(client, orders, field, character):
    body = report_body(orders, **{field: f"AB{character}CD"})
    error = await assert_envelope(
        await client.post(url(client, "production_reports_create"), json=body, headers=WRITE), 400
    )
    assert error["error"]["code"] == "invalid_body"
    details = [(d["field"], d["rule"]) for d in error["error"]["details"]]
    assert (field, "characters") in details
    assert f"U+{ord(character):04X}" in error["message"]


async def test_plain_accented_text_is_accepted(client, orders):
    body = report_body(orders, operator="JOÃO", scrapReason="REBARBA NA FACE — LADO B")
    data = await assert_envelope(
        await client.post(url(client, "production_reports_create"), json=body, headers=WRITE), 202
    )
    assert data["status"] == "pending"


@pytest.mark.parametrize("field", ["operator", "scrapReason", "machine"])
async def test_patch_refuses_format_characters(client, orders, field):
    data = await assert_envelope(
        await client.post(
            url(client, "production_reports_create"), json=report_body(orders), headers=WRITE
        ),
        202,
    )
    for report_id in (data["id"], str(uuid.uuid4())):
        error = await assert_envelope(
            await client.patch(
                url(client, "production_report_correct", id=report_id),
                json={field: "OP\u202e1000"},
                headers=WRITE,
            ),
            400,
        )
        assert error["error"]["code"] == "invalid_body"
        assert {"field": field, "rule": "characters"} in [
            {"field": d["field"], "rule": d["rule"]} for d in error["error"]["details"]
        ]

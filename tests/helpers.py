"""Assertion helpers shared by the test modules."""

from __future__ import annotations

from typing import Any

from aiohttp import ClientResponse

from shared.settings import AuditSettings


async def assert_envelope(resp: ClientResponse, status: int) -> Any:
    """Check status and envelope shape; return `data` on success, the body on error."""
    body = await resp.json()
    assert resp.status == status, (resp.status, body)
    assert resp.content_type == "application/json"
    if status < 400:
        assert body["success"] is True
        assert isinstance(body["message"], str)
        assert body["message"]
        return body["data"]
    assert body["success"] is False
    assert isinstance(body["message"], str)
    assert body["message"]
    assert set(body["error"]) >= {"code", "details"}
    assert body["error"]["requestId"] == resp.headers["X-Request-ID"]
    return body


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


# The apps the tests build record no audit unless a test turns it on (tests/*/test_audit.py).
NO_AUDIT = AuditSettings(enabled=False)

"""The response envelopes of the seed: success with data, error with code and details."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from shared.errors import ApiError
from shared.json import dumps_bytes


def json_response(
    body: Any, *, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """A JSON response rendered with the shared orjson encoder."""
    return web.Response(
        body=dumps_bytes(body), status=status, content_type="application/json", headers=headers
    )


def success(data: Any, message: str, *, status: int = 200) -> web.Response:
    """`{"success": true, "message": ..., "data": ...}` exactly as the seed shows it."""
    return json_response({"success": True, "message": message, "data": data}, status=status)


def error_body(error: ApiError, request_id: str | None) -> dict[str, Any]:
    """`{"success": false, "message": ..., "error": {"code", "details", "requestId"}}`."""
    payload: dict[str, Any] = {
        "code": error.code,
        "details": [detail.as_dict() for detail in error.details],
    }
    if request_id:
        payload["requestId"] = request_id
    body: dict[str, Any] = {"success": False, "message": error.message, "error": payload}
    body.update(error.extra)
    return body


def error_response(error: ApiError, request_id: str | None) -> web.Response:
    return json_response(error_body(error, request_id), status=error.status, headers=error.headers)

"""The response envelopes of the seed: success with data, error with code and details."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import marshmallow as ma
from aiohttp import web
from marshmallow import fields

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


@dataclass(frozen=True)
class Reply:
    """What a converted handler returns: the data and message of a success envelope. The
    @endpoint wrapper dumps it through the route's response schema; `status` defaults to the
    endpoint's declared one."""

    data: Any
    message: str
    status: int | None = None
    headers: dict[str, str] | None = None


def envelope(data: type[ma.Schema] | fields.Field[Any], *, name: str) -> type[ma.Schema]:
    """The `{success, message, data}` schema around a data schema (or any field, e.g. a list).

    `name` is the class name, hence the OpenAPI component name (e.g. "OrderDetailResponse").
    """
    field = fields.Nested(data) if isinstance(data, type) else data
    return ma.Schema.from_dict(
        {"success": fields.Boolean(), "message": fields.String(), "data": field}, name=name
    )


def paged(
    rows: type[ma.Schema] | fields.Field[Any],
    *,
    name: str,
    filters: type[ma.Schema] | fields.Field[Any] | None = None,
    rows_key: str = "data",
    extra: dict[str, fields.Field[Any]] | None = None,
) -> type[ma.Schema]:
    """The paginated `data` of a list route, as Page.envelope builds it: total, page, pageSize,
    totalPages, filters, then the rows under `rows_key` (`extra` fields go before the rows).

    `rows` is the schema of one row (the rows are a list of it) or the field itself when the
    page is not a plain list (a tree's root node, a list of free-form dicts).
    """
    if filters is None:
        filters_field: fields.Field[Any] = fields.Dict()
    elif isinstance(filters, type):
        filters_field = fields.Nested(filters)
    else:
        filters_field = filters
    declared: dict[str, fields.Field[Any]] = {
        "total": fields.Integer(),
        "page": fields.Integer(),
        "pageSize": fields.Integer(),
        "totalPages": fields.Integer(),
        "filters": filters_field,
        **(extra or {}),
        rows_key: fields.List(fields.Nested(rows)) if isinstance(rows, type) else rows,
    }
    return ma.Schema.from_dict(declared, name=name)


def paged_envelope(
    rows: type[ma.Schema] | fields.Field[Any],
    *,
    name: str,
    page_name: str,
    filters: type[ma.Schema] | fields.Field[Any] | None = None,
    rows_key: str = "data",
    extra: dict[str, fields.Field[Any]] | None = None,
) -> type[ma.Schema]:
    """`envelope(paged(rows, ...))`: the response of a list route in one call."""
    page = paged(rows, name=page_name, filters=filters, rows_key=rows_key, extra=extra)
    return envelope(page, name=name)


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

"""Schemathesis hooks for the contract fuzz (loaded through SCHEMATHESIS_HOOKS).

A request valid by its OpenAPI document must be accepted, except where the document itself
says otherwise: a 400 whose every `error.details` item names a rule the operation lists in
`x-refusals` (a rule across fields, or one the ERP's dictionary decides), or a 422 the
operation declares (the request contradicts the ERP's data, like a 404 for an unknown code).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import schemathesis
from hypothesis import strategies as st
from schemathesis.specs.openapi.checks import positive_data_acceptance


def _documented_refusal(operation: dict[str, Any], status: int, body: bytes) -> bool:
    if status == 422:
        return "422" in operation.get("responses", {})
    if status != 400:
        return False
    allowed = {(r["field"], r["rule"]) for r in operation.get("x-refusals", [])}
    try:
        details = json.loads(body)["error"]["details"]
    except (ValueError, KeyError, TypeError):
        return False
    return bool(details) and all((d.get("field"), d.get("rule")) in allowed for d in details)


def _body_is_not_an_object_the_document_asks_for(case: Any) -> bool:
    """Schemathesis's coverage phase labels some cases valid whose JSON body is not even the
    object the operation's document asks for (seen: body `0` beside an operation's optional
    header): such a case is not valid data, whatever its label."""
    schema = (
        case.operation.definition.raw.get("requestBody", {})
        .get("content", {})
        .get("application/json", {})
        .get("schema", {})
    )
    ref = schema.get("$ref", "")
    if ref.startswith("#/components/schemas/"):
        components = case.operation.schema.raw_schema.get("components", {}).get("schemas", {})
        schema = components.get(ref.rsplit("/", 1)[-1], {})
    return schema.get("type") == "object" and not isinstance(case.body, dict)


@schemathesis.check
def positive_data_acceptance_but_documented_refusals(
    ctx: Any, response: Any, case: Any
) -> bool | None:
    """positive_data_acceptance, with the refusals the document lists allowed."""
    if _body_is_not_an_object_the_document_asks_for(case):
        return None
    try:
        return positive_data_acceptance(ctx, response, case)
    except AssertionError:
        operation = case.operation.definition.raw
        if _documented_refusal(operation, response.status_code, response.content):
            return None
        raise


# Instants the services take (shared.validation.Timestamp: an offset, years 1970 to 2999, as
# the documents' pattern says): generated directly, instead of filtering arbitrary years.
_OFFSETS = st.sampled_from(
    [dt.UTC, *(dt.timezone(dt.timedelta(hours=h)) for h in (-3, 5, -12, 14))]
)
schemathesis.openapi.format(
    "date-time",
    st.datetimes(
        min_value=dt.datetime(1970, 1, 2), max_value=dt.datetime(2999, 12, 30), timezones=_OFFSETS
    ).map(dt.datetime.isoformat),
)

"""OpenAPI 3 documents built by apispec from the same marshmallow schemas that validate requests."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from aiohttp import web
from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from apispec.ext.marshmallow.field_converter import FieldConverterMixin

from shared.csv_export import CSV_MEDIA_TYPE, header_of, row_schema
from shared.endpoint import Endpoint, endpoint_of
from shared.envelope import json_response
from shared.keys import OPENAPI_SERVICES
from shared.validation import Refusal, refusals_of

_ERROR_TEXT = {
    400: "Parâmetro ou corpo inválido (`error.details` nomeia o campo e a regra).",
    401: "Chave de API ausente ou inválida.",
    403: "A chave não tem o escopo exigido.",
    404: "Recurso não encontrado.",
    409: "Conflito.",
    413: "Corpo grande demais.",
    415: "Content-Type diferente de application/json.",
    422: "A requisição contradiz os dados do ERP.",
    503: "Dependência (banco, broker, Protheus) indisponível.",
}

_ERROR_ENVELOPE = {
    "type": "object",
    "required": ["success", "message", "error"],
    "properties": {
        "success": {"type": "boolean", "enum": [False]},
        "message": {"type": "string", "description": "Frase legível explicando o erro."},
        "error": {
            "type": "object",
            "properties": {
                "code": {
                    "type": "string",
                    "description": "Código de máquina, ex.: invalid_parameter.",
                },
                "requestId": {"type": "string"},
                "details": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "field": {"type": "string"},
                            "rule": {"type": "string"},
                            "message": {"type": "string"},
                        },
                    },
                },
            },
        },
    },
}


def _schema_name_resolver(schema: Any) -> str:
    cls = schema if isinstance(schema, type) else type(schema)
    name = cls.__name__.removesuffix("Schema") or cls.__name__
    return f"{name}Patch" if getattr(schema, "partial", False) else name


def _accepted_values(
    converter: FieldConverterMixin, field: ma.fields.Field[Any], **kwargs: Any
) -> dict[str, Any]:
    """What a field of shared.validation accepts beyond its type and validators (the blanks a
    string may carry, the characters it refuses, a timestamp's years), as JSON Schema."""
    ret: dict[str, Any] = kwargs.get("ret", {})
    extra = getattr(field, "openapi_properties", None)
    if extra is None or "enum" in ret:
        return {}
    return {key: value for key, value in extra().items() if key not in ret}


def _with_refusals(description: str, refusals: list[Refusal]) -> str:
    """The operation's description, then the 400s its schemas cannot express (also listed,
    for programs, in the operation's `x-refusals`)."""
    if not refusals:
        return description
    lines = [f"- `{r.field}` ({r.rule}): {r.description}" for r in refusals]
    return (
        f"{description}\n\nRegras além do esquema (400 com `error.details` nomeando o "
        "campo e a regra):\n" + "\n".join(lines)
    )


def _csv_text(info: Endpoint) -> str:
    """What the CSV answer of a route holds: its rows and, when fixed, its columns."""
    assert info.csv is not None
    declared = info.csv
    item = declared.item() if declared.item is not None else None
    if item is None and info.response is not None and isinstance(declared.rows, str):
        item = row_schema(info.response(), declared.rows)
    columns = (
        f" Colunas: {', '.join(header_of(item))}."
        if item is not None and declared.columns is None
        else ""
    )
    return (
        "Com format=csv ou excel (ou Accept: text/csv): as linhas em CSV com cabeçalho, "
        "mesmos filtros, transmitido em partes; csv = RFC 4180 (vírgula, UTF-8 sem BOM, "
        "ponto decimal), excel = ponto e vírgula, UTF-8 com BOM, vírgula decimal. Objetos "
        "aninhados viram colunas pai_filho; listas de valores, uma célula unida por ' | '; "
        f"listas de objetos, uma célula JSON. {declared.description}{columns}"
    ).strip()


def build_spec(app: web.Application, service: str, title: str, description: str) -> dict[str, Any]:
    """The OpenAPI document of one service's /api/v1 routes."""
    marshmallow_plugin = MarshmallowPlugin(schema_name_resolver=_schema_name_resolver)
    spec = APISpec(
        title=title,
        version="1.0.0",
        openapi_version="3.0.3",
        plugins=[marshmallow_plugin],
        info={"description": description},
    )
    assert marshmallow_plugin.converter is not None  # set by APISpec's init_spec
    marshmallow_plugin.converter.add_attribute_function(_accepted_values)  # type: ignore[no-untyped-call]
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    spec.components.security_scheme(
        "apiKey", {"type": "apiKey", "in": "header", "name": "X-API-Key"}
    )
    spec.components.schema("ErrorEnvelope", _ERROR_ENVELOPE)
    for route in app.router.routes():
        info = endpoint_of(route.handler)
        resource = route.resource
        if info is None or info.service != service or resource is None or route.method == "HEAD":
            continue
        path = resource.canonical
        if not path.startswith("/api/"):
            continue  # the seed's unversioned aliases answer the same; document one name
        parameters: list[dict[str, Any]] = []
        if info.path is not None:
            parameters.append({"in": "path", "schema": info.path})
        if info.query is not None:
            parameters.append({"in": "query", "schema": info.query})
        if info.headers is not None:
            parameters.append({"in": "header", "schema": info.headers})
        responses: dict[str, Any] = {
            str(info.status): {
                "description": "Sucesso, no envelope {success, message, data}.",
                **(
                    {"content": {"application/json": {"schema": info.response}}}
                    if info.response
                    else {}
                ),
            }
        }
        if info.csv is not None:
            responses[str(info.status)].setdefault("content", {})[CSV_MEDIA_TYPE] = {
                "schema": {"type": "string", "description": _csv_text(info)}
            }
        for status in info.errors:
            responses[str(status)] = {
                "description": _ERROR_TEXT.get(status, "Erro."),
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/ErrorEnvelope"}}
                },
            }
        refusals = [
            refusal
            for schema in (info.path, info.query, info.headers, info.body)
            if schema is not None
            for refusal in refusals_of(schema)
        ]
        operation: dict[str, Any] = {
            "operationId": route.name or f"{route.method.lower()}_{path}",
            "summary": info.summary,
            "description": _with_refusals(info.description or info.summary, refusals),
            "tags": [service],
            "security": [{"bearer": []}, {"apiKey": []}],
            "x-required-scope": info.scope,
            "parameters": parameters,
            "responses": responses,
            **info.extra,
        }
        if info.body is not None:
            # PATCH sends only the fields to change: the same schema, nothing required.
            body = info.body(partial=True) if route.method == "PATCH" else info.body
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": body}},
            }
        if refusals:
            operation["x-refusals"] = [
                {"field": r.field, "rule": r.rule, "description": r.description} for r in refusals
            ]
        spec.path(path=path, operations={route.method.lower(): operation})
    return spec.to_dict()


def openapi_path(service: str) -> str:
    """Where a service's OpenAPI document is served (public, like /healthz)."""
    return f"/api/v1/{service}/openapi.json"


def publish_openapi(app: web.Application, service: str, title: str, description: str) -> None:
    """Serve GET /api/v1/<service>/openapi.json (no key needed), built once on first request."""
    if service in app[OPENAPI_SERVICES]:
        return
    app[OPENAPI_SERVICES][service] = title
    cache: dict[str, Any] = {}

    async def openapi(request: web.Request) -> web.Response:
        if "doc" not in cache:
            cache["doc"] = build_spec(request.app, service, title, description)
        return json_response(cache["doc"])

    app.router.add_get(openapi_path(service), openapi, name=f"{service}_openapi")

"""The common middlewares: request id + access log + metrics, error envelope, API-key auth."""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid

import asyncpg
from aiohttp import web
from aiohttp.typedefs import Handler

from shared.audit.middleware import audit_requests
from shared.auth import authenticate, authorize
from shared.endpoint import endpoint_of
from shared.envelope import error_response
from shared.errors import (
    ApiError,
    Conflict,
    DependencyUnavailable,
    InternalError,
    InvalidBody,
    InvalidParameter,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    UnsupportedMediaType,
)
from shared.keys import CALLER, KEYRING, OPENAPI_SERVICES, REQUEST_ID
from shared.logging import request_id_var
from shared.metrics import HTTP_METRICS
from shared.openapi import openapi_path

log = logging.getLogger("mes.http")

_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
PUBLIC_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


def is_protected(app: web.Application, path: str) -> bool:
    """Every /api route and the seed's unversioned /products routes need a key.

    The public paths are an exact set: the health and metrics routes and the OpenAPI document
    of each service this app publishes. Nothing is public by its shape, so a product coded
    `openapi.json` (/api/v1/products/openapi.json) still needs a key.
    """
    if path in PUBLIC_PATHS or path in {openapi_path(s) for s in app[OPENAPI_SERVICES]}:
        return False
    return path.startswith("/api/") or path == "/products" or path.startswith("/products/")


def route_label(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


@web.middleware
async def request_context(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Request id in and out, one structured access-log line, metrics per route."""
    incoming = request.headers.get("X-Request-ID", "")
    request_id = incoming if _VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex
    request[REQUEST_ID] = request_id
    token = request_id_var.set(request_id)
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        response.headers["X-Request-ID"] = request_id
        return response
    except web.HTTPException as exc:  # redirects and the like pass through untouched
        status = exc.status
        raise
    finally:
        elapsed = time.perf_counter() - started
        route = route_label(request)
        request.app[HTTP_METRICS].observe(request.method, route, status, elapsed)
        log.info(
            "request",
            extra={
                "method": request.method,
                "path": request.path,  # no query string: it may carry tokens upstream
                "route": route,
                "status": status,
                "duration_ms": round(elapsed * 1000, 2),
                "remote": request.remote,
            },
        )
        request_id_var.reset(token)


def _from_http_exception(exc: web.HTTPException) -> ApiError:
    if exc.status == 404:
        return NotFound("Rota não encontrada.")
    if exc.status == 405:
        # RFC 9110: a 405 lists the methods the resource has (aiohttp's own Allow header).
        return MethodNotAllowed(headers={"Allow": exc.headers.get("Allow", "")})
    if exc.status == 413:
        return PayloadTooLarge()
    if exc.status == 415:
        return UnsupportedMediaType()
    if 400 <= exc.status < 500:
        return InvalidBody(exc.text or exc.reason)
    return InternalError()


_PG_UNAVAILABLE = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.InterfaceError,
    asyncpg.QueryCanceledError,
)


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Render every failure in the error envelope; never a traceback to the client."""
    request_id = request.get(REQUEST_ID)
    try:
        return await handler(request)
    except ApiError as exc:
        return error_response(exc, request_id)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return error_response(_from_http_exception(exc), request_id)
    except asyncpg.UniqueViolationError:
        return error_response(Conflict(), request_id)
    except asyncpg.DataError:
        # A value the database cannot take (out of range, bad encoding) slipped past a schema.
        log.warning("input refused by the database", exc_info=True)
        return error_response(
            InvalidParameter("Valor de parâmetro não aceito pelo banco de dados."), request_id
        )
    except _PG_UNAVAILABLE:
        log.warning("dependency unavailable", exc_info=True)
        return error_response(DependencyUnavailable(), request_id)
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("unhandled error", extra={"error_id": request_id})
        return error_response(
            InternalError(f"Erro interno do servidor (id {request_id})."), request_id
        )


@web.middleware
async def api_key_auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Authenticate before anything else is validated; a route's scope comes from its Endpoint."""
    if not is_protected(request.app, request.path) or request.method == "OPTIONS":
        return await handler(request)
    key = authenticate(request, request.app[KEYRING])
    request[CALLER] = key
    if request.match_info.http_exception is None:
        spec = endpoint_of(request.match_info.handler)
        authorize(key, spec.scope if spec else "admin")
    return await handler(request)


# The audit sits outside `errors` so it records the status the client gets.
COMMON_MIDDLEWARES = (request_context, audit_requests, errors, api_key_auth)

"""Protheus's REST error shape (SetRestFault) and the middleware that answers every error in it."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
from aiohttp import web

from shared.json import dumps

log = logging.getLogger("protheus_demo.simulator.access")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class FaultDetail:
    """One item of `details`: a help code and its texts, as the routine's log lines."""

    message: str
    detailed: str
    code: int = 400

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "detailedMessage": self.detailed}


class RestFault(Exception):
    """An answer in SetRestFault's shape; `message` is a human sentence in Portuguese."""

    def __init__(
        self,
        status: int,
        message: str,
        detailed: str = "",
        details: list[FaultDetail] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.detailed = detailed
        self.details = details or []
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        detailed = self.detailed or self.message
        details = self.details or [FaultDetail(self.message, detailed, self.status)]
        return {
            "code": self.status,
            "message": self.message,
            "detailedMessage": detailed,
            "helpUrl": "",
            "details": [detail.as_dict() for detail in details],
        }

    def response(self) -> web.Response:
        return json_response(self.body(), status=self.status, headers=self.headers)


def routine_error(
    help_code: str, message: str, *, more: list[FaultDetail] | None = None
) -> RestFault:
    """A 400 the way MsExecAuto reports a rejected appointment: the help code leads the detail."""
    detailed = f"{help_code}: {message}"
    details = more or [FaultDetail(message, detailed)]
    return RestFault(400, message, detailed, details)


def json_response(
    body: Any, *, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.json_response(body, status=status, headers=headers, dumps=dumps)


# The database is down, restarting or full: a retry later may succeed (503, not 500).
_UNAVAILABLE = (
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    OSError,
)

_HTTP_MESSAGES = {
    404: "Recurso REST não encontrado.",
    405: "Método HTTP não permitido para este recurso.",
    413: "Corpo da requisição muito grande.",
}


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error in the SetRestFault shape; one log line per request (path only: the
    token URL's query string carries credentials)."""
    started = time.perf_counter()
    try:
        response = await handler(request)
    except RestFault as fault:
        response = fault.response()
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        message = _HTTP_MESSAGES.get(exc.status, exc.reason)
        response = RestFault(exc.status, message, f"{exc.status} {exc.reason}").response()
    except _UNAVAILABLE as exc:
        log.warning("database unavailable: %s", exc)
        response = RestFault(
            503, "Banco de dados indisponível.", f"TOPCONN: {type(exc).__name__}"
        ).response()
    except Exception:
        error_id = uuid.uuid4().hex[:12]
        log.exception("unexpected error %s on %s %s", error_id, request.method, request.path)
        response = RestFault(
            500, "Erro interno no servidor de aplicação.", f"THREAD ERROR ({error_id})"
        ).response()
    log.info(
        "%s %s -> %s in %.1f ms",
        request.method,
        request.path,
        response.status,
        (time.perf_counter() - started) * 1000,
    )
    return response

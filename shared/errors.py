"""Typed API errors: each carries its HTTP status, machine code and a Portuguese message."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar


@dataclass(frozen=True)
class Detail:
    """One item of `error.details`: which field broke which rule, and why."""

    field: str
    rule: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "rule": self.rule, "message": self.message}


class ApiError(Exception):
    """Base of every error the error middleware renders into the error envelope."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"
    default_message: ClassVar[str] = "Erro interno do servidor."

    def __init__(
        self,
        message: str | None = None,
        *,
        details: list[Detail] | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.message = message or self.default_message
        self.details = details or []
        self.headers = headers or {}
        self.extra = extra or {}
        super().__init__(self.message)


class InvalidParameter(ApiError):
    status = 400
    code = "invalid_parameter"
    default_message = "Parâmetro inválido."


class InvalidBody(ApiError):
    status = 400
    code = "invalid_body"
    default_message = "Corpo da requisição inválido."


class Unauthorized(ApiError):
    status = 401
    code = "unauthorized"
    default_message = "Chave de API ausente ou inválida."


class Forbidden(ApiError):
    status = 403
    code = "forbidden"
    default_message = "A chave de API não tem permissão para esta operação."


class NotFound(ApiError):
    status = 404
    code = "not_found"
    default_message = "Recurso não encontrado."


class MethodNotAllowed(ApiError):
    """A method the path does not have; the response's `Allow` header lists those it has.

    The code stays `not_found` (DESIGN.md's closed list has no method code; nginx's own 405
    says the same): for a client, the operation it asked for does not exist.
    """

    status = 405
    code = "not_found"
    default_message = "Método não permitido para esta rota."


class Conflict(ApiError):
    status = 409
    code = "conflict"
    default_message = "Conflito com o estado atual do recurso."


class PayloadTooLarge(ApiError):
    status = 413
    code = "payload_too_large"
    default_message = "Corpo da requisição grande demais."


class UnsupportedMediaType(ApiError):
    status = 415
    code = "unsupported_media_type"
    default_message = "Tipo de conteúdo não suportado: envie application/json."


class Unprocessable(ApiError):
    status = 422
    code = "unprocessable"
    default_message = "A requisição contradiz os dados do ERP."


class RateLimited(ApiError):
    status = 429
    code = "rate_limited"
    default_message = "Requisições demais; tente novamente em instantes."


class DependencyUnavailable(ApiError):
    status = 503
    code = "dependency_unavailable"
    default_message = "Um serviço necessário está indisponível no momento."


class InternalError(ApiError):
    status = 500
    code = "internal_error"
    default_message = "Erro interno do servidor."


def invalid_parameter(field: str, rule: str, message: str) -> InvalidParameter:
    """A 400 naming one parameter, for checks that live outside a schema."""
    return InvalidParameter(
        f"Parâmetro '{field}' inválido: {message}",
        details=[Detail(field, rule, message)],
    )

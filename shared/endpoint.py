"""Route metadata in one place: the scope auth enforces and the schemas OpenAPI documents."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import marshmallow as ma

Handler = TypeVar("Handler", bound=Callable[..., Any])


@dataclass(frozen=True)
class Endpoint:
    """What a route needs (scope) and takes (path, query, body schemas) and answers."""

    service: str
    scope: str
    summary: str
    description: str = ""
    path: type[ma.Schema] | None = None
    query: type[ma.Schema] | None = None
    body: type[ma.Schema] | None = None
    response: type[ma.Schema] | None = None
    status: int = 200
    errors: tuple[int, ...] = (400, 401, 403, 503)
    extra: dict[str, Any] = field(default_factory=dict)


def endpoint(**spec: Any) -> Callable[[Handler], Handler]:
    """Decorate a handler with its Endpoint; routes without one need the admin scope."""

    def attach(handler: Handler) -> Handler:
        handler.__endpoint__ = Endpoint(**spec)  # type: ignore[attr-defined]
        return handler

    return attach


def endpoint_of(handler: Any) -> Endpoint | None:
    return getattr(handler, "__endpoint__", None)

"""API-key authentication with scopes: `Authorization: Bearer <key>` or `X-API-Key`."""

from __future__ import annotations

import hmac
from collections.abc import Sequence

from aiohttp import web

from shared.errors import Forbidden, Unauthorized
from shared.settings import ApiKey, key_digest

# The scope of a route any valid key may call (GET /api/v1/session, the event stream): the
# key is still required, its scopes only filter what the answer holds.
ANY_KEY = "any"


class KeyRing:
    """The configured keys, looked up in constant time whatever key is presented."""

    def __init__(self, keys: Sequence[ApiKey]) -> None:
        # Comparing fixed-size digests keeps the comparison time independent of the
        # presented key's length and content.
        self._entries = [(k.digest, k) for k in keys]

    def __len__(self) -> int:
        return len(self._entries)

    def find(self, presented: str) -> ApiKey | None:
        digest = key_digest(presented)
        found: ApiKey | None = None
        for expected, key in self._entries:  # no early exit: every entry is compared
            if hmac.compare_digest(digest, expected):
                found = key
        return found


def presented_key(request: web.Request) -> str | None:
    """The key the client sent, from the Bearer header or X-API-Key."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    api_key = request.headers.get("X-API-Key", "").strip()
    return api_key or None


def authenticate(request: web.Request, ring: KeyRing) -> ApiKey:
    """The caller's key, or 401 (no key, or a key nobody configured)."""
    presented = presented_key(request)
    if presented is None:
        raise Unauthorized(
            "Chave de API ausente: envie 'Authorization: Bearer <chave>' ou 'X-API-Key'.",
            headers={"WWW-Authenticate": 'Bearer realm="mes"'},
        )
    key = ring.find(presented)
    if key is None:
        raise Unauthorized(
            "Chave de API inválida.", headers={"WWW-Authenticate": 'Bearer realm="mes"'}
        )
    return key


def authorize(key: ApiKey, scope: str) -> None:
    """403 when the key lacks the route's scope (admin implies every scope)."""
    if scope != ANY_KEY and not key.allows(scope):
        raise Forbidden(f"A chave '{key.name}' não tem o escopo '{scope}' exigido por esta rota.")

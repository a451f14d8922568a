"""OAuth2 tokens kept in memory: opaque random strings with their expiry, refresh tokens rotating."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class TokenPair:
    """What a grant answers: the access token announces `expires_in`, whatever its real life."""

    access_token: str
    refresh_token: str
    expires_in: int

    def as_body(self) -> dict[str, object]:
        return {
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
            "scope": "default",
        }


class TokenStore:
    """Access and refresh tokens of the simulator's single user, each with its deadline."""

    def __init__(
        self,
        *,
        access_ttl_s: float,
        refresh_ttl_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.access_ttl_s = access_ttl_s
        self.refresh_ttl_s = refresh_ttl_s
        self._clock = clock
        self._access: dict[str, float] = {}
        self._refresh: dict[str, float] = {}

    def issue(self, *, real_access_ttl_s: float | None = None) -> TokenPair:
        """A new pair; `real_access_ttl_s` shortens the access token's life without saying so."""
        now = self._clock()
        self._prune(now)
        access = secrets.token_urlsafe(32)
        refresh = secrets.token_urlsafe(32)
        ttl = self.access_ttl_s if real_access_ttl_s is None else real_access_ttl_s
        self._access[access] = now + ttl
        self._refresh[refresh] = now + self.refresh_ttl_s
        return TokenPair(access, refresh, max(1, round(self.access_ttl_s)))

    def redeem_refresh(self, token: str) -> bool:
        """Consume a refresh token: True when it was valid (it is invalid from now on)."""
        deadline = self._refresh.pop(token, None)
        return deadline is not None and deadline > self._clock()

    def access_state(self, token: str) -> str:
        """'valid', 'expired' (known but past its deadline) or 'unknown'."""
        deadline = self._access.get(token)
        if deadline is None:
            return "unknown"
        return "valid" if deadline > self._clock() else "expired"

    def _prune(self, now: float) -> None:
        # Keeps memory bounded under a long fault-injection run; expired tokens are
        # answered 401 either way.
        for store in (self._access, self._refresh):
            for token in [t for t, deadline in store.items() if deadline <= now]:
                del store[token]

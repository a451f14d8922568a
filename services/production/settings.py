"""Settings of the production service's report pusher (PUSHER_*, PROTHEUS_SETTLE_S)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from shared.settings import ConfigError


@dataclass(frozen=True)
class PusherSettings:
    """How the pusher claims, sends, waits and backs off; every delay is a setting."""

    enabled: bool = True
    concurrency: int = 4  # reports sent at once by one pusher
    batch: int = 20  # outbox rows claimed per round
    poll_s: float = 1.0  # idle wait between rounds
    lease_s: float = 120.0  # a claimed row is another pusher's after this (a killed pusher)
    timeout_s: float = 30.0  # one HTTP call to the AppServer
    backoff_base_s: float = 2.0
    backoff_cap_s: float = 300.0
    breaker_threshold: int = 5  # consecutive transient failures that open the circuit
    breaker_cooldown_s: float = 30.0
    token_margin_s: float = 60.0  # refresh the OAuth2 token this long before it expires
    settle_s: float = (
        45.0  # PROTHEUS_SETTLE_S: wait after an unknown outcome before looking for the marker
    )
    idempotency_days: int = 7

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> PusherSettings:
        env = os.environ if environ is None else environ
        defaults = cls()

        def number(name: str, default: float, *, minimum: float = 0.0) -> float:
            raw = env.get(name, "").strip()
            if not raw:
                return default
            try:
                value = float(raw)
            except ValueError:
                raise ConfigError(name, f"valor {raw!r} não é um número") from None
            if value < minimum:
                raise ConfigError(name, f"valor {value} menor que {minimum}")
            return value

        enabled = env.get("PUSHER_ENABLED", "true").strip().lower()
        if enabled not in ("true", "false", "1", "0"):
            raise ConfigError("PUSHER_ENABLED", "use true ou false")
        settle = number("PROTHEUS_SETTLE_S", defaults.settle_s)
        timeout = number("PUSHER_TIMEOUT_S", defaults.timeout_s, minimum=0.01)
        lease = number("PUSHER_LEASE_S", defaults.lease_s, minimum=0.01)
        if lease <= 3 * timeout:
            # One attempt may take three calls (send, renew the token, send again).
            raise ConfigError("PUSHER_LEASE_S", "deve ser maior que 3 x PUSHER_TIMEOUT_S")
        return cls(
            enabled=enabled in ("true", "1"),
            concurrency=int(number("PUSHER_CONCURRENCY", defaults.concurrency, minimum=1)),
            batch=int(number("PUSHER_BATCH", defaults.batch, minimum=1)),
            poll_s=number("PUSHER_POLL_S", defaults.poll_s, minimum=0.01),
            lease_s=lease,
            timeout_s=timeout,
            backoff_base_s=number("PUSHER_BACKOFF_BASE_S", defaults.backoff_base_s),
            backoff_cap_s=number("PUSHER_BACKOFF_CAP_S", defaults.backoff_cap_s),
            breaker_threshold=int(
                number("PUSHER_BREAKER_THRESHOLD", defaults.breaker_threshold, minimum=1)
            ),
            breaker_cooldown_s=number("PUSHER_BREAKER_COOLDOWN_S", defaults.breaker_cooldown_s),
            token_margin_s=number("PUSHER_TOKEN_MARGIN_S", defaults.token_margin_s),
            settle_s=settle,
            idempotency_days=int(number("IDEMPOTENCY_DAYS", defaults.idempotency_days, minimum=1)),
        )

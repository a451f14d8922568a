"""Fault injection state: the current settings, a seeded random generator and what was injected."""

from __future__ import annotations

import asyncio
import random
from collections import Counter

from protheus_demo.simulator.config import FaultSettings

COUNTERS = (
    "requests",
    "latency",
    "error_500",
    "error_503",
    "drop_before",
    "drop_after",
    "short_lived_tokens",
    "expired_token_rejections",
    "appointments",
    "stop_reports",
    "stop_reversals",
)


class FaultInjector:
    """Decides, request by request, which fault to inject, and counts every injected one.

    Each decision draws from the generator only when its rate is above zero, so a seed
    reproduces the same sequence for the same settings and requests.
    """

    def __init__(self, settings: FaultSettings | None = None) -> None:
        self.settings = FaultSettings()
        self.counters: Counter[str] = Counter()
        self._rng = random.Random()
        self._next_error = 500
        self.configure(settings or FaultSettings())

    def configure(self, settings: FaultSettings) -> None:
        """Replace every setting; counters carry on (tests read them after a run)."""
        self.settings = settings
        self._rng = random.Random(settings.seed)
        self._next_error = 500

    def reset(self) -> None:
        """Every fault off and every counter back to zero."""
        self.configure(FaultSettings())
        self.counters.clear()

    def snapshot(self) -> dict[str, object]:
        return {
            **self.settings.as_dict(),
            "counters": {name: self.counters[name] for name in COUNTERS},
        }

    def _hit(self, rate: float) -> bool:
        return rate > 0 and self._rng.random() < rate

    async def delay(self) -> None:
        if self.settings.latency_ms > 0:
            self.counters["latency"] += 1
            await asyncio.sleep(self.settings.latency_ms / 1000)

    def server_error(self) -> int | None:
        """500 or 503 (alternately) for a request that must fail, else None."""
        if not self._hit(self.settings.error_rate):
            return None
        status = self._next_error
        self._next_error = 503 if status == 500 else 500
        self.counters[f"error_{status}"] += 1
        return status

    def drop_before(self) -> bool:
        hit = self._hit(self.settings.drop_before_rate)
        if hit:
            self.counters["drop_before"] += 1
        return hit

    def drop_after(self) -> bool:
        hit = self._hit(self.settings.drop_after_rate)
        if hit:
            self.counters["drop_after"] += 1
        return hit

    def access_ttl(self) -> float | None:
        """The real life of a new access token when it must expire early, else None."""
        ttl = self.settings.token_ttl_s
        if ttl is not None:
            self.counters["short_lived_tokens"] += 1
        return ttl

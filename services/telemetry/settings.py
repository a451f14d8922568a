"""Settings of the telemetry ingestor (INGEST_*), read once from the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from shared.settings import ConfigError


@dataclass(frozen=True)
class IngestSettings:
    """Batching, backpressure and reconnection of the ingestor; every delay is a setting."""

    enabled: bool = True
    batch_size: int = 1000  # messages per flush at most
    flush_s: float = 0.25  # a partial batch waits at most this long
    # The broker's in-flight window for our client (deploy/mosquitto: max_inflight_messages):
    # a batch is at most half of it, so a full window always flushes and the broker sends
    # the other half while one batch commits. It does not bound what the broker sends
    # (Mosquitto 2.0 keeps sending as acks flow): the client's paused socket does.
    inflight: int = 1000
    reconnect_min_s: float = 0.5
    # MQTT keepalive; a socket paused longer than about twice this (a database outage)
    # loses the connection, and the session resumes once the database answers again.
    keepalive_s: int = 30
    reconnect_max_s: float = 30.0
    retention_every_s: float = 3600.0
    session_expiry_s: int = 7 * 24 * 3600  # MQTT v5 persistent session lifetime

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> IngestSettings:
        env = os.environ if environ is None else environ
        defaults = cls()

        def number(name: str, default: float, *, minimum: float) -> float:
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

        enabled = env.get("INGEST_ENABLED", "true").strip().lower()
        if enabled not in ("true", "false", "1", "0"):
            raise ConfigError("INGEST_ENABLED", "use true ou false")
        return cls(
            enabled=enabled in ("true", "1"),
            batch_size=int(number("INGEST_BATCH_SIZE", defaults.batch_size, minimum=1)),
            flush_s=number("INGEST_FLUSH_S", defaults.flush_s, minimum=0.001),
            inflight=int(number("MQTT_INFLIGHT", defaults.inflight, minimum=1)),
            reconnect_min_s=number(
                "INGEST_RECONNECT_MIN_S", defaults.reconnect_min_s, minimum=0.001
            ),
            reconnect_max_s=number(
                "INGEST_RECONNECT_MAX_S", defaults.reconnect_max_s, minimum=0.001
            ),
            keepalive_s=int(number("MQTT_KEEPALIVE_S", defaults.keepalive_s, minimum=5)),
            retention_every_s=number(
                "TELEMETRY_RETENTION_EVERY_S", defaults.retention_every_s, minimum=1
            ),
            session_expiry_s=int(
                number("MQTT_SESSION_EXPIRY_S", defaults.session_expiry_s, minimum=0)
            ),
        )

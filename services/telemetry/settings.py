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
    batch_size: int = 2000  # messages per drain transaction at most
    flush_s: float = 0.25  # the drainer looks at an idle spool at least this often
    # The in-flight window we ask the broker for (MQTT v5 Receive Maximum; a v3.1.1 broker
    # uses its own max_inflight_messages): messages wait unacknowledged only for the next
    # group commit, so a wide window keeps them off the broker's bounded queue.
    inflight: int = 65535
    # The local durable spool (store and forward): messages are acknowledged once in it.
    spool_dir: str = ".run/spool"  # each MQTT client id gets a directory of its own here
    spool_max_mb: float = 1024.0  # at this size the ingestor stops reading the broker
    spool_segment_mb: float = 16.0
    commit_ms: float = 5.0  # a group commit waits at most this long for more messages
    commit_messages: int = 2000  # ... or until this many are waiting
    # True when the broker is one this project configures (deploy/mosquitto: no queue limit);
    # otherwise the ingestor says what a per-client queue limit there means.
    broker_managed: bool = False
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

        def flag(name: str, default: bool) -> bool:
            raw = env.get(name, "").strip().lower()
            if not raw:
                return default
            if raw not in ("true", "false", "1", "0"):
                raise ConfigError(name, "use true ou false")
            return raw in ("true", "1")

        return cls(
            enabled=flag("INGEST_ENABLED", True),
            spool_dir=env.get("INGEST_SPOOL_DIR", "").strip() or defaults.spool_dir,
            spool_max_mb=number("INGEST_SPOOL_MAX_MB", defaults.spool_max_mb, minimum=1),
            spool_segment_mb=number(
                "INGEST_SPOOL_SEGMENT_MB", defaults.spool_segment_mb, minimum=0.01
            ),
            commit_ms=number("INGEST_SPOOL_COMMIT_MS", defaults.commit_ms, minimum=0),
            commit_messages=int(
                number("INGEST_SPOOL_COMMIT_MESSAGES", defaults.commit_messages, minimum=1)
            ),
            broker_managed=flag("MQTT_BROKER_MANAGED", False),
            batch_size=int(number("INGEST_BATCH_SIZE", defaults.batch_size, minimum=1)),
            flush_s=number("INGEST_FLUSH_S", defaults.flush_s, minimum=0.001),
            inflight=min(65535, int(number("MQTT_INFLIGHT", defaults.inflight, minimum=1))),
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

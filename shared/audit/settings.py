"""Settings of the audit trail (AUDIT_*), read like the others: a bad value names its variable."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from shared.settings import ConfigError

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# nginx in front of the services reaches them from loopback or a private network (compose).
DEFAULT_TRUSTED_PROXIES = "127.0.0.0/8,::1/128,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,fc00::/7"


def parse_networks(name: str, raw: str) -> tuple[Network, ...]:
    networks = []
    for part in (p.strip() for p in raw.split(",")):
        if not part:
            continue
        try:
            networks.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise ConfigError(name, f"rede {part!r} inválida (ex.: 10.0.0.0/8)") from None
    return tuple(networks)


@dataclass(frozen=True)
class AuditSettings:
    """Whether authenticated requests are audited, how long rows are kept, how they are batched."""

    enabled: bool = True
    retention_days: int = 180  # AUDIT_RETENTION_DAYS: whole days (partitions) older are dropped
    buffer_rows: int = (
        20_000  # rows waiting for the writer; beyond, new rows are dropped and counted
    )
    batch_rows: int = 2_000  # rows per COPY
    flush_s: float = 1.0  # the writer's pause between flushes when the buffer is not full
    pool_max: int = 2  # the writer's own connections to the MES database
    trusted_proxies: tuple[Network, ...] = field(
        default_factory=lambda: parse_networks("AUDIT_TRUSTED_PROXIES", DEFAULT_TRUSTED_PROXIES)
    )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> AuditSettings:
        env = os.environ if environ is None else environ

        def number(name: str, default: float, minimum: float) -> float:
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

        enabled = env.get("AUDIT_ENABLED", "true").strip().lower()
        if enabled not in ("true", "false", "1", "0"):
            raise ConfigError("AUDIT_ENABLED", "use true ou false")
        defaults = cls()
        proxies = env.get("AUDIT_TRUSTED_PROXIES")
        return cls(
            enabled=enabled in ("true", "1"),
            retention_days=int(number("AUDIT_RETENTION_DAYS", defaults.retention_days, 1)),
            buffer_rows=int(number("AUDIT_BUFFER_ROWS", defaults.buffer_rows, 1)),
            batch_rows=int(number("AUDIT_BATCH_ROWS", defaults.batch_rows, 1)),
            flush_s=number("AUDIT_FLUSH_S", defaults.flush_s, 0.01),
            pool_max=int(number("AUDIT_DB_POOL_MAX", defaults.pool_max, 1)),
            trusted_proxies=defaults.trusted_proxies
            if proxies is None
            else parse_networks("AUDIT_TRUSTED_PROXIES", proxies),
        )

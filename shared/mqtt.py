"""MQTT connection settings from MQTT_URL, and a readiness probe that really connects."""

from __future__ import annotations

import ssl
import uuid
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

import aiomqtt


@dataclass(frozen=True)
class BrokerAddress:
    """Where the broker is and who we are to it (mqtt:// or mqtts://user:pass@host:port)."""

    host: str
    port: int
    username: str | None
    password: str | None = field(repr=False)
    tls: bool

    @classmethod
    def from_url(cls, url: str) -> BrokerAddress:
        parts = urlsplit(url)
        tls = parts.scheme == "mqtts"
        return cls(
            host=parts.hostname or "localhost",
            port=parts.port or (8883 if tls else 1883),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            tls=tls,
        )

    def tls_context(self, ca_file: str | None) -> ssl.SSLContext | None:
        return ssl.create_default_context(cafile=ca_file) if self.tls else None


async def probe_broker(url: str, ca_file: str | None = None, timeout_s: float = 3.0) -> None:
    """CONNECT and DISCONNECT with a throwaway client id; raises when the broker refuses or is down."""
    address = BrokerAddress.from_url(url)
    client = aiomqtt.Client(
        address.host,
        address.port,
        username=address.username,
        password=address.password,
        identifier=f"mes-probe-{uuid.uuid4().hex[:12]}",
        tls_context=address.tls_context(ca_file),
        timeout=timeout_s,
    )
    async with client:
        pass

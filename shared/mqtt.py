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


# CONNACK codes that still prove an MQTT broker answers: 4/5 (MQTT 3.1.1) and 134/135
# (MQTT 5), bad credentials / not authorised.
_REFUSED_BUT_UP = frozenset({4, 5, 134, 135})


async def probe_broker(url: str, ca_file: str | None = None, timeout_s: float = 3.0) -> None:
    """CONNECT and DISCONNECT without credentials; raises when the broker is down.

    Never with the ingestor's credentials: the project's broker makes every client id the
    username (use_username_as_clientid), so a probe logged in as the ingestor's user would
    take the ingestor's connection over, and with a clean session wipe its queued
    messages. Anonymous, the broker answers "not authorised", which proves it is up.
    """
    address = BrokerAddress.from_url(url)
    client = aiomqtt.Client(
        address.host,
        address.port,
        identifier=f"mes-probe-{uuid.uuid4().hex[:12]}",
        tls_context=address.tls_context(ca_file),
        timeout=timeout_s,
    )
    try:
        async with client:
            pass
    except aiomqtt.MqttCodeError as exc:
        code = getattr(exc.rc, "value", exc.rc)
        if code not in _REFUSED_BUT_UP:
            raise

"""Start-up checks of the servers a process cannot work without, each failure one clear line.

A newcomer who points MES_DB_URL at a server that does not answer should read which variable,
which address and what to do, not a driver's traceback.
"""

from __future__ import annotations

import asyncio
import re
import socket
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from shared.redact import mask_dsn

DEFAULT_PORTS = {"postgresql": 5432, "postgres": 5432, "mqtt": 1883, "mqtts": 8883, "odbc": 1433}
_ODBC_SERVER = re.compile(r"(?i)(?:^|;)\s*(?:server|host)\s*=\s*(?:tcp:)?([^;,\\]+)(?:,(\d+))?")
_ODBC_PORT = re.compile(r"(?i)(?:^|;)\s*port\s*=\s*(\d+)")


class StartupError(Exception):
    """A required server did not answer at start; the message is the one line to print."""


@dataclass(frozen=True)
class Endpoint:
    """A server named by a variable (`MES_DB_URL`) and its URL or ODBC connection string."""

    variable: str
    url: str

    @property
    def scheme(self) -> str:
        return self.url.split(":", 1)[0].lower()

    def address(self) -> tuple[str, int] | None:
        """host and port, or None when the URL does not name a TCP server (a Unix socket)."""
        if self.scheme == "odbc":
            server = _ODBC_SERVER.search(self.url[len("odbc://") :])
            if server is None:
                return None
            port = server[2] or (m[1] if (m := _ODBC_PORT.search(self.url)) else None)
            return server[1].strip(), int(port or DEFAULT_PORTS["odbc"])
        parts = urlsplit(self.url)
        query_host = parse_qs(parts.query).get("host", [""])[0]
        host = parts.hostname or query_host
        if not host or host.startswith("/"):
            return None  # the driver's default or a Unix socket: nothing to dial here
        return host, parts.port or DEFAULT_PORTS.get(self.scheme, 0)


async def why_unreachable(endpoint: Endpoint, *, timeout_s: float = 5.0) -> str | None:
    """None when a TCP connection opens; otherwise the reason, in Portuguese."""
    address = endpoint.address()
    if address is None:
        return None
    host, port = address
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout_s)
    except socket.gaierror:
        return f"o nome {host!r} não foi encontrado (DNS)"
    except TimeoutError:
        return f"sem resposta em {timeout_s:.0f} s"
    except ConnectionRefusedError:
        return "conexão recusada"
    except OSError as exc:
        return exc.strerror or type(exc).__name__
    writer.close()
    return None


def unreachable_line(endpoint: Endpoint, reason: str, *, hint: str | None = None) -> str:
    """The one line a person reads: variable, address, reason, what to do.

    `hint` may name the variable as `{variable}`.
    """
    address = endpoint.address()
    where = f"{address[0]}:{address[1]}" if address else mask_dsn(endpoint.url)
    advice = (hint or "inicie o servidor ou corrija {variable}").format(variable=endpoint.variable)
    return (
        f"{endpoint.variable}: nenhum servidor responde em {where} ({reason}); "
        f"{advice}. Valor lido: {mask_dsn(endpoint.url)}"
    )


async def require(endpoints: list[Endpoint], *, hint: str | None = None) -> None:
    """Raise StartupError for the first endpoint that does not answer (all checked at once)."""
    reasons = await asyncio.gather(*(why_unreachable(e) for e in endpoints))
    for endpoint, reason in zip(endpoints, reasons, strict=True):
        if reason is not None:
            raise StartupError(unreachable_line(endpoint, reason, hint=hint))

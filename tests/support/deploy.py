"""Deploy test support: the stack's description, its API key and ingestor account, the
services' environment, and log helpers."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from deploy.supervisor import Supervisor, wait_until

API_KEY = "deploy-test-key-0123456789abcdef"
INGESTOR_USER = "mes-ingestor"
INGESTOR_PASSWORD = "ingestor-test-password"
# Variables of the developer's shell that would change what the children do.
_OWN_PREFIXES = (
    "PROTHEUS_", "MES_", "MQTT_", "PUSHER_", "INGEST_", "HTTP_", "SIM_", "NGINX_", "SPARKPLUG_",
)  # fmt: skip


def private_dir(prefix: str) -> Path:
    """A temp directory nginx's workers (www-data) can traverse, unlike pytest's 0700 tree."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    return path


def read_lines(path: Path) -> list[str]:
    return path.read_text(errors="replace").splitlines() if path.exists() else []


def wait_for_line(path: Path, text: str, timeout_s: float = 5.0) -> str:
    """The first line of a log holding `text`, polled (bounded): logs are written async."""
    found: list[str] = []

    def check() -> bool:
        found[:] = [line for line in read_lines(path) if text in line]
        return bool(found)

    wait_until(check, what=f"{text!r} em {path.name}", timeout_s=timeout_s)
    return found[0]


@dataclass
class Stack:
    """What the tests need to know about the running stack."""

    workdir: Path
    supervisor: Supervisor
    base_url: str  # nginx
    env: dict[str, str]  # the services' environment
    ports: dict[str, int]  # service -> its own port
    logs: dict[str, Path]  # service (and "ingestor") -> its JSON log
    access_log: Path  # nginx's JSON access log
    mqtt_port: int
    broker_dir: Path
    passwords: dict[str, str]  # MQTT user -> password
    mes_dsn: str
    protheus_dsn: str
    extra: list[Path] = field(default_factory=list)

    @property
    def upstreams(self) -> dict[str, str]:
        return {
            f"{name.upper()}_UPSTREAM": f"127.0.0.1:{port}" for name, port in self.ports.items()
        }

    def service_logs(self) -> Mapping[str, list[str]]:
        return {name: read_lines(path) for name, path in self.logs.items()}


def service_env(mes: str, protheus: str, mqtt_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_OWN_PREFIXES)}
    env.update(
        {
            "MES_DB_URL": mes,
            "PROTHEUS_DB_URL": protheus,
            "MES_API_KEYS": f"deploy-tests:{API_KEY}:admin",
            "MQTT_URL": mqtt_url,
            # Nothing is sent to Protheus here; the ingestor runs alone (as compose may).
            "PUSHER_ENABLED": "false",
            "INGEST_ENABLED": "false",
            "PROTHEUS_REST_URL": "http://127.0.0.1:9/rest",
            "HTTP_HOST": "127.0.0.1",
            "LOG_LEVEL": "INFO",
        }
    )
    return env

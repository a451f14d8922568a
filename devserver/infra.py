"""Find the PostgreSQL server and MQTT broker `make run` uses, or start embedded ones under .run/."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

log = logging.getLogger("devserver")

RUN_DIR = Path(__file__).resolve().parent.parent / ".run"
LOCAL_PG = "postgresql://postgres@127.0.0.1:5432/postgres"
LOCAL_MQTT = "mqtt://localhost:1883"


def with_database(dsn: str, database: str) -> str:
    """The same server URL naming another database (keeps user, host and query string)."""
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path=f"/{database}"))


async def pg_answers(dsn: str) -> bool:
    try:
        conn = await asyncpg.connect(dsn, timeout=3)
    except (TimeoutError, OSError, asyncpg.PostgresError):
        return False
    await conn.close()
    return True


async def mqtt_answers(url: str) -> bool:
    parts = urlsplit(url)
    try:
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(parts.hostname, parts.port or 1883), timeout=3
        )
    except (TimeoutError, OSError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


def pip_install(*packages: str) -> None:
    log.info("installing %s for the embedded fallback", " ".join(packages))
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", *packages], check=True)  # noqa: S603


@contextlib.contextmanager
def embedded_postgres() -> Iterator[str]:
    """A PostgreSQL server from PyPI (pgserver) with its data under .run/pgdata."""
    try:
        import pgserver
    except ImportError:
        pip_install("pgserver")
        import pgserver
    server = pgserver.get_server(RUN_DIR / "pgdata", cleanup_mode="stop")
    try:
        yield server.get_uri("postgres")
    finally:
        server.cleanup()


async def start_embedded_broker(port: int = 1883) -> object:
    """An MQTT broker from PyPI (amqtt) inside this process, on localhost."""
    try:
        from amqtt.broker import Broker
    except ImportError:
        pip_install("amqtt")
        from amqtt.broker import Broker
    broker = Broker(
        {
            "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{port}"}},
            "plugins": {
                "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}
            },
        }
    )
    await broker.start()
    return broker

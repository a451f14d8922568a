"""Find the PostgreSQL server and MQTT broker `make run` uses, or start embedded ones under .run/."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import subprocess
import sys
import time
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


@contextlib.contextmanager
def run_mosquitto(
    binary: str, port: int, bind: str = "127.0.0.1", directory: Path | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """Mosquitto with deploy/mosquitto's settings (deploy.stack_config.broker_config), open
    to anonymous devices, its data and log under .run/mosquitto; stopped on exit."""
    from deploy.stack_config import broker_config  # deploy/ is not in the image: only here

    directory = directory or RUN_DIR / "mosquitto"
    directory.mkdir(parents=True, exist_ok=True)
    log_file = directory / "mosquitto.log"
    config = directory / "mosquitto.conf"
    config.write_text(broker_config(port, directory, bind=bind, log=log_file, anonymous=True))
    process = subprocess.Popen(  # noqa: S603 - fixed command
        [binary, "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
                break
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"o Mosquitto não iniciou na porta {port}; veja {log_file}")
            time.sleep(0.05)
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

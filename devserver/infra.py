"""Find the PostgreSQL server and MQTT broker `make run` uses, or start embedded ones under .run/."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
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


BROKER_STATE = "broker.json"  # the pid and port of the broker `make run` started


def _answers(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
        return True
    return False


def previous_broker(directory: Path) -> tuple[int, int] | None:
    """(pid, port) of the Mosquitto an earlier `make run` started here and left running
    (that run was killed before it could stop it), if it still runs with our config. The
    broker of a run still alive (another `make run` in the same checkout) is its own."""
    try:
        state = json.loads((directory / BROKER_STATE).read_text())
        pid, port, owner = int(state["pid"]), int(state["port"]), int(state["owner"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if owner != os.getpid() and process_alive(owner):
        return None
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return None
    config = str(directory / "mosquitto.conf").encode()
    if (
        not argv
        or not argv[0].endswith(b"mosquitto")
        or config not in argv
        or not process_alive(pid)
    ):
        return None
    return pid, port


def broker_port(directory: Path, wanted: int) -> int:
    """The port for `make run`'s broker: the one it had last time (devices keep their
    configured URL), else `wanted` when free, else any free port."""
    previous = previous_broker(directory)
    if previous is not None:
        return previous[1]
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        remembered = int(json.loads((directory / BROKER_STATE).read_text())["port"])
        if not _answers(remembered):
            return remembered
    from deploy.supervisor import free_port  # deploy/ is not in the image: only here

    return wanted if not _answers(wanted) else free_port()


def process_alive(pid: int) -> bool:
    """Running (not gone, not a zombie waiting for a parent that is not ours to reap)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    except OSError:  # no /proc here: ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    return stat.rpartition(")")[2].split()[0] != "Z"


def _stop(pid: int) -> None:
    """SIGTERM (Mosquitto saves its persistent sessions), then SIGKILL after 10 s."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if not process_alive(pid):
                return
            time.sleep(0.05)
        os.kill(pid, signal.SIGKILL)


@contextlib.contextmanager
def run_mosquitto(
    binary: str, port: int, bind: str = "127.0.0.1", directory: Path | None = None
) -> Iterator[int]:
    """Mosquitto with deploy/mosquitto's settings (deploy.stack_config.broker_config), open to
    anonymous devices, its data and log under .run/mosquitto; stopped on exit; yields its pid.

    A broker that an earlier run left behind (killed with SIGKILL, it could not stop it) is
    taken over as it is, not restarted: devices stay connected and what it queued for the
    ingestor's session while no ingestor ran is delivered now (it has no queue limit).
    """
    from deploy.stack_config import broker_config  # deploy/ is not in the image: only here

    directory = directory or RUN_DIR / "mosquitto"
    directory.mkdir(parents=True, exist_ok=True)
    log_file = directory / "mosquitto.log"
    config = directory / "mosquitto.conf"
    previous = previous_broker(directory)
    if previous is not None and previous[1] == port:
        log.info("taking over the Mosquitto (pid %d) a previous run left on port %d", *previous)
        state = {"pid": previous[0], "port": port, "owner": os.getpid()}
        (directory / BROKER_STATE).write_text(json.dumps(state))
        try:
            yield previous[0]
        finally:
            _stop(previous[0])
        return
    if previous is not None:
        _stop(previous[0])
    config.write_text(broker_config(port, directory, bind=bind, log=log_file, anonymous=True))
    # Its own session, so a Ctrl-C meant for `make run` does not reach it before we stop it.
    process = subprocess.Popen(  # noqa: S603 - fixed command
        [binary, "-c", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    state = {"pid": process.pid, "port": port, "owner": os.getpid()}
    (directory / BROKER_STATE).write_text(json.dumps(state))
    try:
        deadline = time.monotonic() + 15
        while not _answers(port):
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"o Mosquitto não iniciou na porta {port}; veja {log_file}")
            time.sleep(0.05)
        yield process.pid
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

"""The deploy tests' stack: real nginx and Mosquitto with the project's configuration, in
front of the three services run as their own processes, on spare loopback ports.

Started once for the package (a few seconds) by deploy/stack.py's own functions, the ones
`make stack` uses: a private Mosquitto from deploy/mosquitto/mosquitto.conf with passwords
and ACLs generated from devices.example, the catalog, production and telemetry services
(`python -m services.<name>` with HTTP_PORT), the ingestor alone
(`python -m services.telemetry.ingest`) as the ingestor user, and nginx rendered from
deploy/nginx. Databases are created per run like tests/conftest.py's `fresh_database`
(that fixture is function-scoped; this stack outlives one test) and dropped afterwards.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import pytest

from deploy.mosquitto import generate as mqtt_gen
from deploy.stack import SERVICES, start_broker, start_nginx, start_service
from deploy.supervisor import Supervisor, free_port, wait_until
from shared.migrations import migrate
from tests.conftest import create_database, drop_databases

T = TypeVar("T")

API_KEY = "deploy-test-key-0123456789abcdef"
INGESTOR_USER = "mes-ingestor"
INGESTOR_PASSWORD = "ingestor-test-password"
# Variables of the developer's shell that would change what the children do.
_OWN_PREFIXES = ("PROTHEUS_", "MES_", "MQTT_", "PUSHER_", "INGEST_", "HTTP_", "SIM_", "NGINX_")


def run_async(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to the end from a synchronous fixture, on a loop of its own thread
    (the test's event loop is not running at fixture time and must not be replaced)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(make())).result()


async def _create_databases() -> tuple[str, str]:
    """A migrated MES database and a `tiny` demo Protheus copy, both new."""
    from protheus_demo.load import load_demo

    mes, protheus = await create_database("t_deploy_mes_"), await create_database("t_deploy_erp_")
    conn = await asyncpg.connect(mes)
    try:
        await migrate(conn)
    finally:
        await conn.close()
    conn = await asyncpg.connect(protheus)
    try:
        await load_demo(conn, scale="tiny")
    finally:
        await conn.close()
    return mes, protheus


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


@pytest.fixture(scope="package")
def stack() -> Iterator[Stack]:
    started = time.monotonic()
    workdir = private_dir("mes-deploy-")
    supervisor = Supervisor()
    dsns: list[str] = []
    try:
        mes, protheus = run_async(_create_databases)
        dsns = [mes, protheus]

        broker_dir = workdir / "mosquitto"
        mqtt_port = free_port()
        devices = mqtt_gen.parse_devices(mqtt_gen.default_devices_file().read_text())
        passwords = {d.username: f"pw-{d.username}-{uuid.uuid4().hex[:8]}" for d in devices}
        mqtt_gen.generate(
            devices,
            broker_dir,
            ingestor_user=INGESTOR_USER,
            ingestor_password=INGESTOR_PASSWORD,
            passwords=passwords,
        )
        passwords[INGESTOR_USER] = INGESTOR_PASSWORD
        start_broker(supervisor, broker_dir, mqtt_port, log=broker_dir / "mosquitto.log")

        mqtt_url = f"mqtt://{INGESTOR_USER}:{INGESTOR_PASSWORD}@127.0.0.1:{mqtt_port}"
        env = service_env(mes, protheus, mqtt_url)
        logs = {name: workdir / f"{name}.log" for name in ("ingestor", *(s.name for s in SERVICES))}
        supervisor.start(
            "ingestor",
            [sys.executable, "-m", "services.telemetry.ingest"],
            env={
                **env,
                # Its username: the broker replaces every client id by the username.
                "MQTT_CLIENT_ID": INGESTOR_USER,
                "INGEST_SPOOL_DIR": str(workdir / "spool"),
                "INGEST_FLUSH_S": "0.05",
                "INGEST_RECONNECT_MIN_S": "0.05",
                "INGEST_RECONNECT_MAX_S": "0.5",
            },
            log=logs["ingestor"],
        )
        ports = {spec.name: free_port() for spec in SERVICES}
        for spec in SERVICES:
            start_service(supervisor, spec, env, port=ports[spec.name], log=logs[spec.name])
        wait_for_line(logs["ingestor"], "subscribed to", timeout_s=15)

        http_port = free_port()
        nginx_dir = workdir / "nginx"
        stack = Stack(
            workdir=workdir,
            supervisor=supervisor,
            base_url=f"http://127.0.0.1:{http_port}",
            env=env,
            ports=ports,
            logs=logs,
            access_log=nginx_dir / "logs" / "access.log",
            mqtt_port=mqtt_port,
            broker_dir=broker_dir,
            passwords=passwords,
            mes_dsn=mes,
            protheus_dsn=protheus,
        )
        start_nginx(
            supervisor,
            nginx_dir,
            {**stack.upstreams, "NGINX_LISTEN": f"127.0.0.1:{http_port}"},
            port=http_port,
        )
        print(f"deploy stack up in {time.monotonic() - started:.1f} s at {workdir}")
        yield stack
    finally:
        supervisor.stop()
        if dsns:
            run_async(lambda: drop_databases(dsns))
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def own_nginx(stack: Stack) -> Iterator[Callable[..., str]]:
    """Start extra nginx instances from the project's templates (own limits or upstreams);
    returns their base URL. Each one is stopped after the test."""
    supervisor = Supervisor()
    directories: list[Path] = []

    def start(**values: str) -> str:
        port = free_port()
        prefix = private_dir("mes-nginx-")
        directories.append(prefix)
        settings = {**stack.upstreams, "NGINX_LISTEN": f"127.0.0.1:{port}", **values}
        start_nginx(supervisor, prefix, settings, port=port)
        return f"http://127.0.0.1:{port}"

    try:
        yield start
    finally:
        supervisor.stop()
        for prefix in directories:
            shutil.rmtree(prefix, ignore_errors=True)

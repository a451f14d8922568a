"""The deploy tests' stack: real nginx and Mosquitto with the project's configuration, in
front of the three services run as their own processes, on spare loopback ports.

Started once for the package (a few seconds) by deploy/stack.py's own functions, the ones
`make stack` uses: a private Mosquitto from deploy/mosquitto/mosquitto.conf with passwords
and ACLs generated from devices.example, the catalog, production and telemetry services
(`python -m services.<name>` with HTTP_PORT), the ingestor alone
(`python -m services.telemetry.ingest`) as the ingestor user, and nginx rendered from
deploy/nginx. Its databases are clones of tests/plugin.py's templates
(a migrated MES database, the tiny demo), dropped afterwards.
"""

from __future__ import annotations

import shutil
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from deploy.mosquitto import generate as mqtt_gen
from deploy.stack import SERVICES, start_broker, start_nginx, start_service
from deploy.supervisor import Supervisor, free_port
from tests.support.databases import Reaper, create_database, run_async
from tests.support.deploy import (
    INGESTOR_PASSWORD,
    INGESTOR_USER,
    Stack,
    private_dir,
    service_env,
    wait_for_line,
)


@pytest.fixture(scope="package")
def stack(template_database: Callable[[str], str], database_reaper: Reaper) -> Iterator[Stack]:
    started = time.monotonic()
    workdir = private_dir("mes-deploy-")
    supervisor = Supervisor()
    dsns: list[str] = []
    try:
        mes_template, protheus_template = template_database("mes"), template_database("demo")
        mes = run_async(lambda: create_database("t_deploy_mes_", template=mes_template))
        dsns.append(mes)
        protheus = run_async(lambda: create_database("t_deploy_erp_", template=protheus_template))
        dsns.append(protheus)

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
        database_reaper.drop(dsns)
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

"""`make stack`: the compose stack without Docker, and the pieces the deploy tests share.

Each service runs as its own process on its own port (catalog :8081, production :8082,
telemetry :8083 with its ingestor, analytics :8084 with the BI jobs, the web app :8085 (served
at / through nginx), the Protheus simulator
:8090 when the Protheus database is the demo one), Mosquitto runs with the project's configuration and ACLs (generated from
deploy/mosquitto's device list) on a port of its own, and Debian's nginx runs in front on
:8080 with the project's templates. Databases are found like `make run` finds them, then
migrated and seeded by deploy/migrate.py's steps. A process that dies (a crash, a SIGKILL)
is logged and started again with a growing delay, as compose's `restart: unless-stopped`
does. Ctrl-C stops everything, in reverse.

    .venv/bin/python -m deploy.stack       (what scripts/stack.sh and `make stack` run)

This module puts together the supervisor (deploy/supervisor.py: processes started, restarted
and stopped) and the configuration it runs them with (deploy/stack_config.py: Mosquitto,
nginx, the services' environment).

Ports: STACK_HTTP_PORT (8080), STACK_MQTT_PORT (1884: 1883 is usually the system broker
`make test` uses), STACK_CATALOG_PORT, STACK_PRODUCTION_PORT, STACK_TELEMETRY_PORT,
STACK_ANALYTICS_PORT, STACK_WEB_PORT, STACK_SIMULATOR_PORT. The service variables (MES_DB_URL, MQTT_URL,
...) are honoured: with MQTT_URL set, that broker is used and no Mosquitto is started.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from urllib.parse import urlsplit

from deploy.mosquitto import generate as mqtt_gen
from deploy.nginx import render as nginx_render
from deploy.stack_config import (
    ROOT,
    RUN_DIR,
    NginxConfigError,
    broker_config,
    broker_credentials,
    broker_env,
    mosquitto_binary,
    nginx_config,
    port_setting,
    service_defaults,
)
from deploy.supervisor import (
    Child,
    StackError,
    Supervisor,
    http_ok,
    port_open,
    wait_until,
)


@dataclass(frozen=True)
class ServiceSpec:
    """One process of the stack as compose runs it: module, default port, health path."""

    name: str
    module: str
    port: int
    health: str = "/readyz"


SERVICES = (
    ServiceSpec("catalog", "services.catalog", 8081),
    ServiceSpec("production", "services.production", 8082),
    ServiceSpec("telemetry", "services.telemetry", 8083),
    ServiceSpec("web", "services.web", 8085),
    # Its jobs (BI, anomaly detection, alerts) and the API of what they compute.
    ServiceSpec("analytics", "services.analytics", 8084),
)
# Behind no nginx route (none left: the analytics service has routes since issue 16).
BACKGROUND: tuple[ServiceSpec, ...] = ()
SIMULATOR = ServiceSpec("simulator", "protheus_demo.simulator", 8090, "/healthz")


# --- the pieces ------------------------------------------------------------------------------


def start_service(
    supervisor: Supervisor,
    spec: ServiceSpec,
    env: Mapping[str, str],
    *,
    port: int | None = None,
    log: Path | None = None,
    wait_s: float = 60.0,
) -> Child:
    """`python -m <module>` with HTTP_PORT, waited for until its health path answers 2xx."""
    port = port or spec.port
    child = supervisor.start(
        spec.name, [sys.executable, "-m", spec.module], env={**env, "HTTP_PORT": str(port)}, log=log
    )
    url = f"http://127.0.0.1:{port}{spec.health}"
    wait_until(
        lambda: http_ok(url), what=f"{spec.name} em {url}", timeout_s=wait_s, supervisor=supervisor
    )
    return child


def start_broker(
    supervisor: Supervisor,
    directory: Path,
    port: int,
    *,
    log: Path | None = None,
    wait_s: float = 15.0,
) -> Child:
    config = directory / "mosquitto.conf"
    config.write_text(broker_config(port, directory, log=log))
    child = supervisor.start("mosquitto", [mosquitto_binary() or "mosquitto", "-c", str(config)])
    wait_until(
        lambda: port_open("127.0.0.1", port),
        what=f"Mosquitto na porta {port}",
        timeout_s=wait_s,
        supervisor=supervisor,
    )
    return child


def start_nginx(
    supervisor: Supervisor,
    prefix: Path,
    values: Mapping[str, str],
    *,
    port: int,
    name: str = "nginx",
    wait_s: float = 15.0,
) -> Child:
    """Render and check the project's templates under `prefix` (stack_config.nginx_config),
    then serve."""
    try:
        conf = nginx_config(prefix, values)
    except NginxConfigError as exc:
        raise StackError(f"configuração do nginx recusada:\n{exc}") from None
    child = supervisor.start(name, nginx_render.nginx_command(prefix, conf))
    wait_until(
        lambda: port_open("127.0.0.1", port),
        what=f"nginx na porta {port}",
        timeout_s=wait_s,
        supervisor=supervisor,
    )
    return child


# --- make stack ------------------------------------------------------------------------------


async def _prepare_databases(env: dict[str, str], scale: str) -> bool:
    """Migrate the MES database, seed the demo Protheus one; True when Protheus is the demo."""
    from deploy.migrate import prepare_demo_protheus, prepare_mes
    from devserver.launcher import is_demo
    from shared.app import load_settings_or_exit

    settings = load_settings_or_exit(env)
    await prepare_mes(settings.mes_db_url)
    if settings.protheus_db_url.lower().startswith("odbc://"):
        return False
    await prepare_demo_protheus(settings.protheus_db_url, settings.protheus_company, scale)
    return await is_demo(settings.protheus_db_url)


def _find_postgres(env: dict[str, str], resources: contextlib.ExitStack) -> None:
    """Like `make run`: the variables, else PostgreSQL on 127.0.0.1:5432, else an embedded one."""
    from devserver.infra import LOCAL_PG, embedded_postgres, pg_answers, with_database

    if "MES_DB_URL" in env and "PROTHEUS_DB_URL" in env:
        return
    if asyncio.run(pg_answers(LOCAL_PG)):
        server = LOCAL_PG
    else:
        print("Nenhum PostgreSQL em 127.0.0.1:5432; iniciando um embutido em .run/ ...", flush=True)
        server = resources.enter_context(embedded_postgres())
    env.setdefault("MES_DB_URL", with_database(server, "mes"))
    env.setdefault("PROTHEUS_DB_URL", with_database(server, "protheus"))


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def run_stack() -> int:
    from devserver.launcher import dev_api_key

    env = dict(os.environ)
    http_port = port_setting(env, "STACK_HTTP_PORT", 8080)
    mqtt_port = port_setting(env, "STACK_MQTT_PORT", 1884)
    ports = {
        spec.name: port_setting(env, f"STACK_{spec.name.upper()}_PORT", spec.port)
        for spec in (*SERVICES, *BACKGROUND, SIMULATOR)
    }
    key = None if env.get("MES_API_KEYS") else dev_api_key()
    service_defaults(env, key)

    # Ctrl-C, `kill` and a closed terminal all stop the stack in order. SIGINT is set
    # explicitly: a shell starting us in the background would have it ignored.
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _raise_interrupt)
    supervisor = Supervisor()
    with contextlib.ExitStack() as resources:
        try:
            _find_postgres(env, resources)
            demo = asyncio.run(_prepare_databases(env, env.get("DEMO_SCALE", "default")))

            # The host only: MQTT_URL carries the ingestor's password, never printed.
            external = urlsplit(env.get("MQTT_URL", ""))
            broker_note = f"broker MQTT externo em {external.hostname}:{external.port or 1883}"
            if "MQTT_URL" not in env:
                directory = RUN_DIR / "mosquitto"
                devices = mqtt_gen.default_devices_file()
                passwords = broker_credentials(directory, devices)
                start_broker(supervisor, directory, mqtt_port)
                env.update(broker_env(passwords, mqtt_port))
                broker_note = (
                    f"Mosquitto em localhost:{mqtt_port} (dispositivos de {devices.name}; "
                    f"senhas em {directory.relative_to(ROOT) / 'credentials.json'})"
                )

            if demo and "PROTHEUS_REST_URL" not in env:
                start_service(supervisor, SIMULATOR, env, port=ports[SIMULATOR.name])
                env["PROTHEUS_REST_URL"] = f"http://127.0.0.1:{ports[SIMULATOR.name]}/rest"
            for spec in (*SERVICES, *BACKGROUND):
                start_service(supervisor, spec, env, port=ports[spec.name])

            upstreams = {
                f"{spec.name.upper()}_UPSTREAM": f"127.0.0.1:{ports[spec.name]}"
                for spec in SERVICES
            }
            start_nginx(
                supervisor,
                RUN_DIR / "nginx",
                {
                    **upstreams,
                    "NGINX_LISTEN": str(http_port),
                    "NGINX_ACCESS_LOG": "/dev/stdout",
                    "NGINX_ERROR_LOG": "/dev/stderr",
                },
                port=http_port,
            )

            base = f"http://localhost:{http_port}"
            print(f"\nMES (pilha como no compose, sem Docker) em {base}", flush=True)
            print("  " + ", ".join(f"{n} :{p}" for n, p in ports.items() if n != "simulator"))
            if demo and env["PROTHEUS_REST_URL"].startswith("http://127.0.0.1"):
                print(f"  simulador do Protheus em {env['PROTHEUS_REST_URL']}")
            print(f"  {broker_note}")
            if key:
                print(f"  chave de API de desenvolvimento (admin): {key}")
                print(
                    f'  experimente: curl -H "Authorization: Bearer {key}" "{base}/products?limit=5"'
                )
            print("  Ctrl-C encerra.\n", flush=True)

            # A process that dies is started again with backoff, as compose's
            # `restart: unless-stopped` does; only Ctrl-C (or a signal) ends the stack.
            supervisor.watch()
            return 0
        except KeyboardInterrupt:
            print("\nEncerrando ...", flush=True)
            return 0
        except StackError as exc:
            print(f"erro: {exc}", file=sys.stderr)
            return 1
        finally:
            # A second Ctrl-C must not leave children behind while they stop.
            for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                signal.signal(signum, signal.SIG_IGN)
            supervisor.stop()


if __name__ == "__main__":
    sys.exit(run_stack())

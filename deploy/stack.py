"""`make stack`: the compose stack without Docker, and the pieces the deploy tests share.

Each service runs as its own process on its own port (catalog :8081, production :8082,
telemetry :8083 with its ingestor, the Protheus simulator :8090 when the Protheus database
is the demo one), Mosquitto runs with the project's configuration and ACLs (generated from
deploy/mosquitto's device list) on a port of its own, and Debian's nginx runs in front on
:8080 with the project's templates. Databases are found like `make run` finds them, then
migrated and seeded by deploy/migrate.py's steps. A process that dies (a crash, a SIGKILL)
is logged and started again with a growing delay, as compose's `restart: unless-stopped`
does. Ctrl-C stops everything, in reverse.

    .venv/bin/python -m deploy.stack       (what scripts/stack.sh and `make stack` run)

Ports: STACK_HTTP_PORT (8080), STACK_MQTT_PORT (1884: 1883 is usually the system broker
`make test` uses), STACK_CATALOG_PORT, STACK_PRODUCTION_PORT, STACK_TELEMETRY_PORT,
STACK_SIMULATOR_PORT. The service variables (MES_DB_URL, MQTT_URL, ...) are honoured: with
MQTT_URL set, that broker is used and no Mosquitto is started.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pwd
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from urllib.parse import urlsplit

from deploy.mosquitto import generate as mqtt_gen
from deploy.nginx import render as nginx_render

ROOT = Path(__file__).resolve().parent.parent
RUN_DIR = ROOT / ".run" / "stack"
MOSQUITTO_CONF = ROOT / "deploy" / "mosquitto" / "mosquitto.conf"
INGESTOR_USER = "mes-ingestor"
# Lines of the project's mosquitto.conf a local broker replaces (where it listens, stores,
# finds its credentials, logs, and as whom it runs); everything else, anonymous access off
# included, is kept as shipped.
BROKER_REPLACED = (
    "listener",
    "persistence_location",
    "allow_anonymous",
    "password_file",
    "acl_file",
    "log_dest",
    "user",
    "include_dir",
)


class StackError(RuntimeError):
    """A part of the stack did not start; the message says which and shows its last output."""


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
)
SIMULATOR = ServiceSpec("simulator", "protheus_demo.simulator", 8090, "/healthz")


# --- processes ------------------------------------------------------------------------------


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    log: Path | None = None
    argv: list[str] = field(default_factory=list)
    env: dict[str, str] | None = None
    started_at: float = field(default_factory=time.monotonic)
    # Restarts in a row that ended early (reset once the child runs restart_reset_s).
    failures: int = 0
    restart_at: float | None = None  # when a dead child is started again

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def tail(self, lines: int = 30) -> str:
        if self.log is None or not self.log.exists():
            return ""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def _say(message: str) -> None:
    print(message, flush=True)


@dataclass
class Supervisor:
    """Children started in order and stopped in reverse, like compose's dependency order.

    `watch()` then keeps them running as compose's `restart: unless-stopped` does: a child
    that dies is logged and started again after a delay that doubles with each early death
    (restart_base_s, 2x, 4x, ... at most restart_cap_s) and goes back to the base once the
    child has stayed up restart_reset_s.
    """

    children: list[Child] = field(default_factory=list)
    restart_base_s: float = 0.5
    restart_cap_s: float = 30.0
    restart_reset_s: float = 10.0
    say: Callable[[str], None] = _say

    def _spawn(
        self, argv: list[str], env: Mapping[str, str] | None, log: Path | None
    ) -> subprocess.Popen[bytes]:
        output = None
        if log is not None:
            log.parent.mkdir(parents=True, exist_ok=True)
            output = log.open("ab")
        try:
            return subprocess.Popen(  # noqa: S603 - argv built here, never from input
                argv,
                cwd=ROOT,
                env=dict(env) if env is not None else None,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT if output else None,
                process_group=0,
            )
        finally:
            if output is not None:
                output.close()  # the child holds its own descriptor

    def start(
        self,
        name: str,
        argv: list[str],
        *,
        env: Mapping[str, str] | None = None,
        log: Path | None = None,
    ) -> Child:
        """Start a child; its output goes to `log` (appended) or to our own terminal.

        Each child leads its own process group, so a Ctrl-C reaches only the supervisor,
        which then stops the children in order instead of all at once.
        """
        child = Child(
            name,
            self._spawn(argv, env, log),
            log,
            list(argv),
            dict(env) if env is not None else None,
        )
        self.children.append(child)
        return child

    def dead(self) -> Child | None:
        return next((c for c in self.children if not c.alive), None)

    def restart_dead(self, now: float | None = None) -> None:
        """One round of `restart: unless-stopped`: schedule the newly dead, start the due."""
        now = time.monotonic() if now is None else now
        for child in self.children:
            if child.alive:
                continue
            if child.restart_at is None:
                if now - child.started_at >= self.restart_reset_s:
                    child.failures = 0
                delay = min(self.restart_cap_s, self.restart_base_s * 2**child.failures)
                child.failures += 1
                child.restart_at = now + delay
                self.say(
                    f"{child.name} terminou (código {child.process.returncode}); "
                    f"reiniciando em {delay:.1f} s (tentativa {child.failures})"
                )
            elif now >= child.restart_at:
                child.process = self._spawn(child.argv, child.env, child.log)
                child.started_at, child.restart_at = now, None
                self.say(f"{child.name} reiniciado (pid {child.process.pid})")

    def watch(self, until: Callable[[], bool] = lambda: False, interval_s: float = 0.2) -> None:
        """Keep every child running until `until()` holds (or an interrupt)."""
        while not until():
            self.restart_dead()
            time.sleep(interval_s)

    def stop(self, timeout_s: float = 10.0) -> None:
        """SIGTERM in reverse start order, bounded wait, then SIGKILL what is left."""
        for child in reversed(self.children):
            if child.alive:
                child.process.terminate()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    child.process.wait(timeout_s)
            if child.alive:
                child.process.kill()
            child.process.wait()
        self.children.clear()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def http_ok(url: str, timeout_s: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as answer:  # noqa: S310 - http URL we built
            return 200 <= answer.status < 300
    except (urllib.error.URLError, OSError, ValueError):
        return False


def wait_until(
    check: Callable[[], bool],
    *,
    what: str,
    timeout_s: float = 30.0,
    supervisor: Supervisor | None = None,
    interval_s: float = 0.05,
) -> None:
    """Poll `check` until it holds; fail early, with its output, if a child dies meanwhile."""
    deadline = time.monotonic() + timeout_s
    while not check():
        if supervisor is not None and (dead := supervisor.dead()) is not None:
            raise StackError(
                f"{dead.name} terminou (código {dead.process.returncode}) "
                f"enquanto esperava {what}\n{dead.tail()}"
            )
        if time.monotonic() > deadline:
            raise StackError(f"tempo esgotado ({timeout_s:.0f} s) esperando {what}")
        time.sleep(interval_s)


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


def broker_config(
    port: int,
    directory: Path,
    *,
    bind: str = "127.0.0.1",
    log: Path | None = None,
    anonymous: bool = False,
    extra: str = "",
    max_packet_size: int = mqtt_gen.MAX_PACKET_SIZE,
    tls: mqtt_gen.TlsListener | None = None,
) -> str:
    """The project's mosquitto.conf, relocated under `directory` for a broker outside Docker.

    Expects `passwords` and `acl` in `directory` (deploy/mosquitto/generate.py writes them),
    unless `anonymous` (the telemetry tests' and benchmarks' broker: same queueing and
    in-flight window, anyone may connect, client ids as the clients send them). What the
    image reads from conf.d (max_packet_size, the TLS listener) is written inline, from the
    same generator function. The listener's own options (use_username_as_clientid) follow
    the relocated `listener` line, as in the shipped file.
    """
    general: list[str] = []
    listener: list[str] = []
    target = general
    for line in MOSQUITTO_CONF.read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key = line.split()[0]
        if key == "listener":
            target = listener
        elif key in BROKER_REPLACED:
            continue
        elif anonymous and key == "use_username_as_clientid":
            continue  # it refuses clients without a username
        else:
            target.append(line)
    access = (
        ["allow_anonymous true"]
        if anonymous
        else [
            "allow_anonymous false",
            f"password_file {directory / mqtt_gen.PASSWORDS}",
            f"acl_file {directory / mqtt_gen.ACL}",
        ]
    )
    settings = [
        line
        for line in mqtt_gen.settings_text(max_packet_size, tls).splitlines()
        if line and not line.startswith("#")
    ]
    (directory / "data").mkdir(parents=True, exist_ok=True)
    return (
        "\n".join(
            [
                *general,
                f"persistence_location {directory / 'data'}/",
                *access,
                f"log_dest file {log}" if log else "log_dest stdout",
                # Run as whoever we are: as root Mosquitto would switch to `mosquitto`, which
                # cannot read a private directory; as anyone else the line is ignored.
                f"user {pwd.getpwuid(os.getuid()).pw_name}",
                f"listener {port} {bind}",
                *listener,
                *settings,
                extra,
            ]
        )
        + "\n"
    )


def mosquitto_binary() -> str:
    for candidate in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto", "/usr/bin/mosquitto"):
        if os.access(candidate, os.X_OK):
            return candidate
    return "mosquitto"


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
    child = supervisor.start("mosquitto", [mosquitto_binary(), "-c", str(config)])
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
    """Render the project's templates under `prefix`, check them (`nginx -t`), then serve.

    `values` holds at least the listen address and the upstreams; pid, temp files and logs
    default to the prefix (deploy.nginx.render.local_values).
    """
    prefix.mkdir(parents=True, exist_ok=True)
    conf = nginx_render.render(prefix / "conf", nginx_render.local_values(prefix, **values))
    check = subprocess.run(  # noqa: S603 - fixed command
        nginx_render.nginx_command(prefix, conf, test=True), capture_output=True, text=True
    )
    if check.returncode != 0:
        raise StackError(f"configuração do nginx recusada:\n{check.stderr}")
    child = supervisor.start(name, nginx_render.nginx_command(prefix, conf))
    wait_until(
        lambda: port_open("127.0.0.1", port),
        what=f"nginx na porta {port}",
        timeout_s=wait_s,
        supervisor=supervisor,
    )
    return child


def broker_credentials(directory: Path, devices_file: Path) -> dict[str, str]:
    """Passwords of the local broker's users, kept in directory/credentials.json (0600).

    Only for a developer's machine: the production generator never stores plain text.
    """
    store = directory / "credentials.json"
    known: dict[str, str] = json.loads(store.read_text()) if store.exists() else {}
    known.setdefault(INGESTOR_USER, secrets.token_urlsafe(24))
    devices = mqtt_gen.parse_devices(devices_file.read_text(), source=str(devices_file))
    made_up = mqtt_gen.generate(
        devices,
        directory,
        ingestor_user=INGESTOR_USER,
        ingestor_password=known[INGESTOR_USER],
        passwords={d.username: known[d.username] for d in devices if d.username in known},
    )
    known.update(made_up)
    directory.mkdir(parents=True, exist_ok=True)
    store.write_text(json.dumps(known, indent=2) + "\n")
    store.chmod(0o600)
    return known


# --- make stack ------------------------------------------------------------------------------


def _port(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    return int(raw) if raw else default


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
    http_port = _port(env, "STACK_HTTP_PORT", 8080)
    mqtt_port = _port(env, "STACK_MQTT_PORT", 1884)
    ports = {
        spec.name: _port(env, f"STACK_{spec.name.upper()}_PORT", spec.port)
        for spec in (*SERVICES, SIMULATOR)
    }
    # Only nginx faces the network, as in compose where the services' ports stay inside.
    env.setdefault("HTTP_HOST", "127.0.0.1")
    # The stack's own spool, apart from make run's (.run/spool): both may run at once.
    env.setdefault("INGEST_SPOOL_DIR", str(RUN_DIR / "spool"))
    key = None
    if not env.get("MES_API_KEYS"):
        key = dev_api_key()
        env["MES_API_KEYS"] = f"dev:{key}:admin"

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
                env["MQTT_URL"] = (
                    f"mqtt://{INGESTOR_USER}:{passwords[INGESTOR_USER]}@127.0.0.1:{mqtt_port}"
                )
                # The broker makes every client id its username (use_username_as_clientid).
                env["MQTT_CLIENT_ID"] = INGESTOR_USER
                env["MQTT_BROKER_MANAGED"] = "true"  # deploy/mosquitto's settings: no queue limit
                broker_note = (
                    f"Mosquitto em localhost:{mqtt_port} (dispositivos de {devices.name}; "
                    f"senhas em {directory.relative_to(ROOT) / 'credentials.json'})"
                )

            if demo and "PROTHEUS_REST_URL" not in env:
                start_service(supervisor, SIMULATOR, env, port=ports[SIMULATOR.name])
                env["PROTHEUS_REST_URL"] = f"http://127.0.0.1:{ports[SIMULATOR.name]}/rest"
            for spec in SERVICES:
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

"""What `make stack` writes before it starts anything: Mosquitto's configuration and
credentials, nginx's configuration, and the environment the services run with.

Nothing here starts a process (deploy/supervisor.py does); deploy/stack.py puts the two
together. devserver (`make run`) and the tests write their brokers' configuration here too.
"""

from __future__ import annotations

import json
import os
import pwd
import secrets
import subprocess
from collections.abc import Mapping
from pathlib import Path

from deploy.mosquitto import generate as mqtt_gen
from deploy.nginx import render as nginx_render

ROOT = Path(__file__).resolve().parent.parent
RUN_DIR = ROOT / ".run" / "stack"
MOSQUITTO_CONF = ROOT / "deploy" / "mosquitto" / "mosquitto.conf"
INGESTOR_USER = "mes-ingestor"
ANALYTICS_USER = "mes-analytics"  # the alert publisher's user: writes alerts only
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


class NginxConfigError(ValueError):
    """`nginx -t` refused the rendered configuration; the message is its output."""


# --- Mosquitto -------------------------------------------------------------------------------


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


def mosquitto_binary() -> str | None:
    """A Mosquitto installed on this machine, if any."""
    for candidate in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto", "/usr/bin/mosquitto"):
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def broker_credentials(directory: Path, devices_file: Path) -> dict[str, str]:
    """Passwords of the local broker's users, kept in directory/credentials.json (0600).

    Only for a developer's machine: the production generator never stores plain text.
    """
    store = directory / "credentials.json"
    known: dict[str, str] = json.loads(store.read_text()) if store.exists() else {}
    known.setdefault(INGESTOR_USER, secrets.token_urlsafe(24))
    known.setdefault(ANALYTICS_USER, secrets.token_urlsafe(24))
    devices = mqtt_gen.parse_devices(devices_file.read_text(), source=str(devices_file))
    made_up = mqtt_gen.generate(
        devices,
        directory,
        ingestor_user=INGESTOR_USER,
        ingestor_password=known[INGESTOR_USER],
        passwords={d.username: known[d.username] for d in devices if d.username in known},
        # The STATE topic the stack's ingestor publishes (its settings' SPARKPLUG_HOST_ID).
        sparkplug_host_id=os.environ.get("SPARKPLUG_HOST_ID") or mqtt_gen.DEFAULT_HOST_ID,
        analytics=(ANALYTICS_USER, known[ANALYTICS_USER]),
    )
    known.update(made_up)
    directory.mkdir(parents=True, exist_ok=True)
    store.write_text(json.dumps(known, indent=2) + "\n")
    store.chmod(0o600)
    return known


def broker_env(passwords: Mapping[str, str], port: int) -> dict[str, str]:
    """The services' MQTT variables for the local broker (the ingestor's user)."""
    return {
        "MQTT_URL": f"mqtt://{INGESTOR_USER}:{passwords[INGESTOR_USER]}@127.0.0.1:{port}",
        # The broker makes every client id its username (use_username_as_clientid).
        "MQTT_CLIENT_ID": INGESTOR_USER,
        "MQTT_BROKER_MANAGED": "true",  # deploy/mosquitto's settings: no queue limit
        # The analytics service's alert publisher, as its own user.
        "ANALYTICS_MQTT_URL": (
            f"mqtt://{ANALYTICS_USER}:{passwords[ANALYTICS_USER]}@127.0.0.1:{port}"
        ),
        "ANALYTICS_MQTT_CLIENT_ID": ANALYTICS_USER,
    }


# --- nginx -----------------------------------------------------------------------------------


def nginx_config(prefix: Path, values: Mapping[str, str]) -> Path:
    """Render the project's templates under `prefix` and check them (`nginx -t`).

    `values` holds at least the listen address and the upstreams; pid, temp files and logs
    default to the prefix (deploy.nginx.render.local_values).
    """
    prefix.mkdir(parents=True, exist_ok=True)
    conf = nginx_render.render(prefix / "conf", nginx_render.local_values(prefix, **values))
    check = subprocess.run(  # noqa: S603 - fixed command
        nginx_render.nginx_command(prefix, conf, test=True), capture_output=True, text=True
    )
    if check.returncode != 0:
        raise NginxConfigError(check.stderr)
    return conf


# --- the services' environment ---------------------------------------------------------------


def port_setting(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    return int(raw) if raw else default


def service_defaults(env: dict[str, str], dev_key: str | None) -> None:
    """What the stack sets for its services unless the environment says otherwise."""
    # Only nginx faces the network, as in compose where the services' ports stay inside.
    env.setdefault("HTTP_HOST", "127.0.0.1")
    # The stack's own spool, apart from make run's (.run/spool): both may run at once.
    env.setdefault("INGEST_SPOOL_DIR", str(RUN_DIR / "spool"))
    if dev_key is not None:
        env["MES_API_KEYS"] = f"dev:{dev_key}:admin"

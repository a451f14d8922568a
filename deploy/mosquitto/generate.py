"""Generate Mosquitto's password file and ACL from the list of devices.

    python deploy/mosquitto/generate.py [--devices FILE] [--out DIR] [--env-file FILE]
                                        [--rotate USER ...] [--json]

- Every device of the list (`devices`, else `devices.example`, beside this file) gets a
  user that may publish only under its own machines' topics, mes/v1/<site>/<area>/<line>/
  <machine>/#, and read nothing.
- A Sparkplug B gateway (Ignition Edge, Kepware, HiveMQ Edge, ...) lists its edge nodes as
  `spBv1.0:<group>/<edge node>`: it may publish that edge node's and its devices' messages,
  spBv1.0/<group>/+/<edge node> and spBv1.0/<group>/+/<edge node>/# (births, data, the
  NDEATH will), read the commands sent to them (spBv1.0/<group>/NCMD/<edge node>,
  spBv1.0/<group>/DCMD/<edge node>/#) and every host application's STATE
  (spBv1.0/STATE/#). A line may mix machines and edge nodes.
- The ingestor's user (the user and password in MQTT_URL, from the environment or the
  compose .env file) may read all of mes/v1/# and spBv1.0/#, and publish only what a
  Sparkplug host application does: its STATE, spBv1.0/STATE/<SPARKPLUG_HOST_ID> (default
  mes), and rebirth commands, spBv1.0/+/NCMD/#.
- The analytics service's user (the user and password in ANALYTICS_MQTT_URL, when it has
  them) may only publish alerts, mes/v1/+/+/+/+/alert, and read nothing.
- A device already in `passwords` keeps its password; a new device, or one named with
  --rotate, gets a random one, printed once on stdout (`user password`, or JSON with
  --json): hand it to the device, it is not stored anywhere in plain text. A user not in
  the list any more loses access.
- Anonymous access stays off (mosquitto.conf: allow_anonymous false), and every listener
  replaces a client's id by its username (use_username_as_clientid): a device's
  credentials can neither take over nor wipe the ingestor's session. The ingestor's
  MQTT_CLIENT_ID, when set, must be its username (checked here). Further ingestor replicas
  (MQTT v5 shared subscription) each need a user of their own: MQTT_EXTRA_INGESTORS lists
  them (they read like the ingestor and get passwords like devices; each is a Sparkplug host
  of its own, whose STATE is spBv1.0/STATE/<its username>: its SPARKPLUG_HOST_ID).
- `conf.d/mes.conf` gets the settings from the environment (or .env): max_packet_size
  (MQTT_BROKER_MAX_PACKET_SIZE, default 256 KiB) and, with MQTT_BROKER_TLS=on, the TLS
  listener on 8883 with MQTT_BROKER_TLS_CERT / MQTT_BROKER_TLS_KEY (PEM, paths inside the
  container: compose mounts deploy/mosquitto/certs at /mosquitto/certs).
- `passwords` is written 0600 (only the broker reads it); run as root, it is given to the
  official image's mosquitto user (uid 1883) too, else the command to do so is printed.

After a change, make the broker reload both files: `docker compose kill -s HUP mosquitto`
(or `kill -HUP <pid>`); connected clients keep their session, new logins use the new files.

Hashes are Mosquitto 2's PBKDF2-SHA512 format (`$7$<iterations>$...`), computed here with
MQTT_PBKDF2_ITERATIONS rounds (default 100,000; mosquitto_passwd 2.0 writes 101 and has no
option to change it), so the generator needs neither mosquitto_passwd nor the project's
virtualenv: standard library only. A hash with fewer rounds is replaced whenever its
password is known (the ingestor's, explicit ones); a device's is replaced by --rotate.
Each login costs the broker one hash: ~0.1 s of one core at 100,000 rounds.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import hmac
import json
import os
import re
import secrets
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

HERE = Path(__file__).resolve().parent
TOPIC_ROOT = "mes/v1"
SPARKPLUG_ROOT = "spBv1.0"
# A device-list entry naming a Sparkplug edge node: spBv1.0:<group>/<edge node>.
SPARKPLUG_ENTRY = f"{SPARKPLUG_ROOT}:"
DEFAULT_HOST_ID = "mes"  # SPARKPLUG_HOST_ID's default (shared/settings.py)
PASSWORDS = "passwords"
ACL = "acl"
SETTINGS = Path("conf.d") / "mes.conf"
# PBKDF2-SHA512 rounds: mosquitto_passwd 2.0 writes 101, far below what a password hash
# needs today; the broker reads the count from each line, so any count works.
ITERATIONS = 100_000
MIN_ITERATIONS = 10_000
SALT_BYTES = 12
# The largest MQTT packet the broker accepts (header included); larger ones disconnect.
MAX_PACKET_SIZE = 256 * 1024
# Where the official image finds the TLS files (compose mounts ./mosquitto/certs there).
TLS_CERT = "/mosquitto/certs/server.crt"
TLS_KEY = "/mosquitto/certs/server.key"
TLS_PORT = 8883
# The eclipse-mosquitto image's user.
BROKER_UID = 1883

USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
# One topic level: no wildcards, separators or blanks (the ACL file is split on blanks).
SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class DeviceListError(ValueError):
    """The device list or the ingestor's credentials cannot be used; says which line."""


@dataclass(frozen=True)
class Device:
    username: str
    machines: tuple[str, ...]  # site/area/line/machine
    edge_nodes: tuple[str, ...] = ()  # Sparkplug B group/edge node

    @property
    def topics(self) -> tuple[str, ...]:
        """What it may publish: its machines' topics, its edge nodes' N* and D* messages."""
        machines = tuple(f"{TOPIC_ROOT}/{path}/#" for path in self.machines)
        nodes = []
        for path in self.edge_nodes:
            group, node = path.split("/")
            nodes += [f"{SPARKPLUG_ROOT}/{group}/+/{node}", f"{SPARKPLUG_ROOT}/{group}/+/{node}/#"]
        return machines + tuple(nodes)

    @property
    def reads(self) -> tuple[str, ...]:
        """What it may read: a gateway, the commands to its edge nodes and devices and the
        host applications' STATE (an edge node waits for its primary host to be online)."""
        commands = []
        for path in self.edge_nodes:
            group, node = path.split("/")
            commands += [
                f"{SPARKPLUG_ROOT}/{group}/NCMD/{node}",
                f"{SPARKPLUG_ROOT}/{group}/DCMD/{node}/#",
            ]
        return (*commands, f"{SPARKPLUG_ROOT}/STATE/#") if commands else ()


def parse_devices(text: str, *, source: str = "devices") -> list[Device]:
    """`<username> <site/area/line/machine | spBv1.0:group/edge node> [...]` per line; `#`
    starts a comment."""
    devices: list[Device] = []
    seen: set[str] = set()
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        where = f"{source}:{number}"
        username, *paths = line.split()
        if not USERNAME.match(username):
            raise DeviceListError(f"{where}: usuário inválido {username!r}")
        if username in seen:
            raise DeviceListError(f"{where}: usuário {username!r} repetido")
        if not paths:
            raise DeviceListError(
                f"{where}: informe ao menos um site/area/linha/maquina ou "
                f"{SPARKPLUG_ENTRY}grupo/edge-node"
            )
        machines, edge_nodes = [], []
        for path in paths:
            if path.startswith(SPARKPLUG_ENTRY):
                node = path.removeprefix(SPARKPLUG_ENTRY)
                segments = node.split("/")
                if len(segments) != 2 or not all(SEGMENT.match(s) for s in segments):
                    raise DeviceListError(
                        f"{where}: edge node Sparkplug inválido {path!r}; use "
                        f"{SPARKPLUG_ENTRY}grupo/edge-node (letras, dígitos, '.', '_', '-')"
                    )
                edge_nodes.append(node)
                continue
            segments = path.split("/")
            if len(segments) != 4 or not all(SEGMENT.match(s) for s in segments):
                raise DeviceListError(
                    f"{where}: caminho inválido {path!r}; use site/area/linha/maquina "
                    f"ou {SPARKPLUG_ENTRY}grupo/edge-node (letras, dígitos, '.', '_', '-')"
                )
            machines.append(path)
        seen.add(username)
        devices.append(
            Device(username, tuple(dict.fromkeys(machines)), tuple(dict.fromkeys(edge_nodes)))
        )
    return devices


def hash_password(password: str, *, salt: bytes | None = None, iterations: int = ITERATIONS) -> str:
    """Mosquitto 2's `$7$<iterations>$<salt>$<hash>` (PBKDF2-HMAC-SHA512, base64)."""
    salt = secrets.token_bytes(SALT_BYTES) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations, 64)
    encoded_salt, encoded = base64.b64encode(salt).decode(), base64.b64encode(digest).decode()
    return f"$7${iterations}${encoded_salt}${encoded}"


def hash_iterations(encoded: str) -> int:
    """The PBKDF2 rounds of a `$7$` hash; 0 for anything else (1.x's `$6$` included)."""
    parts = encoded.split("$")
    if len(parts) == 5 and parts[1] == "7" and parts[2].isdigit():
        return int(parts[2])
    return 0


def verify_password(password: str, encoded: str) -> bool:
    """True when `encoded` ($7$ PBKDF2 or Mosquitto 1.x's $6$ SHA-512) is password's hash."""
    parts = encoded.split("$")
    try:
        if len(parts) == 5 and parts[1] == "7":
            iterations, salt = int(parts[2]), base64.b64decode(parts[3])
            expected = base64.b64decode(parts[4])
            digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations, 64)
        elif len(parts) == 4 and parts[1] == "6":
            salt, expected = base64.b64decode(parts[2]), base64.b64decode(parts[3])
            digest = hashlib.sha512(password.encode() + salt).digest()
        else:
            return False
    except ValueError:
        return False
    return hmac.compare_digest(digest, expected)


def read_password_file(path: Path) -> dict[str, str]:
    """user -> hash of an existing password file (empty when there is none)."""
    if not path.exists():
        return {}
    entries: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith("#") and ":" in line:
            user, encoded = line.split(":", 1)
            entries[user] = encoded.strip()
    return entries


# What the analytics service publishes (services/analytics/alerts): anomaly and risk alerts.
ALERT_TOPIC = f"{TOPIC_ROOT}/+/+/+/+/alert"


def acl_text(
    devices: Iterable[Device],
    ingestor_user: str,
    extra_ingestors: Iterable[str] = (),
    host_id: str = DEFAULT_HOST_ID,
    analytics_user: str | None = None,
) -> str:
    """The ACL: the ingestors read everything under mes/v1 and spBv1.0 and write what a
    Sparkplug host does (its STATE, rebirth NCMDs); the analytics service writes alerts only;
    each device writes its own topics, a Sparkplug gateway also reads its commands and the
    hosts' STATE."""
    lines = [
        "# Generated by deploy/mosquitto/generate.py from the device list: do not edit.",
        "# No topic lines before the first `user`: anonymous clients get nothing.",
    ]
    # Each ingestor replica is a Sparkplug host of its own (a replica that stops publishes its
    # STATE offline, which must not look like the others going away): the first one's host id
    # is SPARKPLUG_HOST_ID, a further replica's is its username (set SPARKPLUG_HOST_ID so).
    hosts = [(ingestor_user, host_id), *((user, user) for user in extra_ingestors)]
    for user, host in hosts:
        lines += [
            "",
            f"user {user}",
            f"topic read {TOPIC_ROOT}/#",
            f"topic read {SPARKPLUG_ROOT}/#",
            f"topic write {SPARKPLUG_ROOT}/STATE/{host}",
            f"topic write {SPARKPLUG_ROOT}/+/NCMD/#",
        ]
    if analytics_user is not None:
        lines += ["", f"user {analytics_user}", f"topic write {ALERT_TOPIC}"]
    for device in devices:
        lines += ["", f"user {device.username}"]
        lines += [f"topic write {topic}" for topic in device.topics]
        lines += [f"topic read {topic}" for topic in device.reads]
        # Its machines' alert channel is the analytics service's (consumers trust it): a
        # device may not publish there, though its machine's `#` would let it.
        lines += [f"topic deny {TOPIC_ROOT}/{path}/alert" for path in device.machines]
    return "\n".join(lines) + "\n"


def analytics_credentials(url: str) -> tuple[str, str] | None:
    """The user and password ANALYTICS_MQTT_URL gives the alert publisher; None without them
    (no analytics user: the broker then refuses its alerts)."""
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts") or not parts.username or not parts.password:
        return None
    user = unquote(parts.username)
    if not USERNAME.match(user):
        raise DeviceListError(f"ANALYTICS_MQTT_URL: usuário inválido {user!r}")
    return user, unquote(parts.password)


def ingestor_credentials(mqtt_url: str) -> tuple[str, str]:
    """The user and password MQTT_URL gives the ingestor (mqtt://user:pass@host:port)."""
    parts = urlsplit(mqtt_url)
    if parts.scheme not in ("mqtt", "mqtts") or not parts.username or not parts.password:
        raise DeviceListError(
            "MQTT_URL deve trazer o usuário e a senha do ingestor: mqtt://usuario:senha@host:porta"
        )
    user = unquote(parts.username)
    if not USERNAME.match(user):
        raise DeviceListError(f"MQTT_URL: usuário inválido {user!r}")
    return user, unquote(parts.password)


def _write(path: Path, text: str, *, mode: int = 0o644) -> None:
    # Written aside then renamed: a broker reloading on SIGHUP never reads half a file.
    # The temporary file is created with its final mode: the hashes are never readable by
    # others, not even for a moment.
    temporary = path.with_name(f".{path.name}.tmp")
    with contextlib.suppress(FileNotFoundError):
        temporary.unlink()
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(descriptor, "w") as file:
        file.write(text)
    os.chmod(temporary, mode)  # whatever the umask
    if mode == 0o600 and os.geteuid() == 0:
        # The broker drops to its own user before reading the file (the official image's
        # mosquitto, uid 1883): as root, hand the file to it.
        os.chown(temporary, BROKER_UID, BROKER_UID)
    os.replace(temporary, path)


@dataclass(frozen=True)
class TlsListener:
    """The broker's TLS listener: certificate (chain after the leaf) and key, PEM."""

    cert: str = TLS_CERT
    key: str = TLS_KEY
    port: int = TLS_PORT
    bind: str = ""  # every address (the container); tests bind loopback


def settings_text(max_packet_size: int = MAX_PACKET_SIZE, tls: TlsListener | None = None) -> str:
    """conf.d/mes.conf: what mosquitto.conf takes from the environment (include_dir)."""
    if max_packet_size < 1024:
        raise DeviceListError("MQTT_MAX_PACKET_SIZE: use ao menos 1024 bytes")
    lines = [
        "# Generated by deploy/mosquitto/generate.py from MQTT_BROKER_*: do not edit",
        "# (run the generator again). Not reloaded by SIGHUP: restart the broker.",
        "",
        "# A larger packet (an MQTT v5 client is told the limit) ends the client's connection.",
        f"max_packet_size {max_packet_size}",
    ]
    if tls is not None:
        for value in (tls.cert, tls.key):
            if not value or any(c.isspace() for c in value):
                raise DeviceListError(f"MQTT_BROKER_TLS_*: caminho vazio ou com espaço {value!r}")
        lines += [
            "",
            "# TLS for devices and the ingestor (mqtts://); same users, ACLs and client ids.",
            f"listener {tls.port} {tls.bind}".rstrip(),
            "use_username_as_clientid true",
            f"certfile {tls.cert}",
            f"keyfile {tls.key}",
            "tls_version tlsv1.2",
        ]
    return "\n".join(lines) + "\n"


def generate(
    devices: list[Device],
    out_dir: Path,
    *,
    ingestor_user: str,
    ingestor_password: str,
    passwords: Mapping[str, str] | None = None,
    rotate: Iterable[str] = (),
    iterations: int = ITERATIONS,
    max_packet_size: int = MAX_PACKET_SIZE,
    tls: TlsListener | None = None,
    extra_ingestors: Iterable[str] = (),
    sparkplug_host_id: str = DEFAULT_HOST_ID,
    analytics: tuple[str, str] | None = None,
) -> dict[str, str]:
    """Write `passwords` and `acl` into out_dir; returns the passwords it made up (user -> pw).

    `sparkplug_host_id` (SPARKPLUG_HOST_ID) is the STATE topic the ingestors may publish.

    `extra_ingestors` are the users of further ingestor replicas (MQTT_EXTRA_INGESTORS): the
    broker makes each client id its username, so every replica needs a user of its own.
    They read like the ingestor and get passwords like devices.

    `analytics` is the alert publisher's (user, password) from ANALYTICS_MQTT_URL: it may
    publish mes/v1/+/+/+/+/alert only.

    `passwords` sets given users' passwords explicitly (tests, `make stack`); otherwise an
    existing user keeps its hash and a new or rotated one gets a random password. A known
    password whose hash has fewer than `iterations` rounds is hashed again. Also writes
    conf.d/mes.conf (max_packet_size, the TLS listener).
    """
    if iterations < MIN_ITERATIONS:
        raise DeviceListError(f"MQTT_PBKDF2_ITERATIONS: use ao menos {MIN_ITERATIONS}")
    if not SEGMENT.match(sparkplug_host_id):
        raise DeviceListError(
            f"SPARKPLUG_HOST_ID inválido {sparkplug_host_id!r}: letras, dígitos, '.', '_', '-'"
        )

    def keep_or_hash(password: str, current: str) -> str:
        if verify_password(password, current) and hash_iterations(current) >= iterations:
            return current
        return hash_password(password, iterations=iterations)

    explicit = dict(passwords or {})
    rotate = set(rotate)
    names = {d.username for d in devices}
    extra = list(dict.fromkeys(extra_ingestors))
    for user in (ingestor_user, *extra):
        if user in names:
            raise DeviceListError(f"o usuário do ingestor {user!r} não pode ser um dispositivo")
        if not USERNAME.match(user):
            raise DeviceListError(f"MQTT_EXTRA_INGESTORS: usuário inválido {user!r}")
    if ingestor_user in extra:
        raise DeviceListError(
            f"MQTT_EXTRA_INGESTORS repete o usuário do MQTT_URL {ingestor_user!r}"
        )
    names |= set(extra)
    if analytics is not None and (analytics[0] in names or analytics[0] == ingestor_user):
        raise DeviceListError(
            f"ANALYTICS_MQTT_URL: o usuário {analytics[0]!r} já é o ingestor ou um dispositivo"
        )
    unknown = rotate - names
    if unknown:
        raise DeviceListError(f"--rotate: usuário(s) fora da lista: {', '.join(sorted(unknown))}")
    out_dir.mkdir(parents=True, exist_ok=True)
    existing = read_password_file(out_dir / PASSWORDS)
    made_up: dict[str, str] = {}
    entries: list[str] = []

    # The ingestor's password is the one in MQTT_URL: keep the hash while it still matches.
    entries.append(
        f"{ingestor_user}:{keep_or_hash(ingestor_password, existing.get(ingestor_user, ''))}"
    )
    if analytics is not None:
        user, password = analytics
        entries.append(f"{user}:{keep_or_hash(password, existing.get(user, ''))}")
    for user in (*extra, *(device.username for device in devices)):
        if user in explicit:
            encoded = keep_or_hash(explicit[user], existing.get(user, ""))
        elif user in existing and user not in rotate:
            encoded = existing[user]
        else:
            made_up[user] = secrets.token_urlsafe(24)
            encoded = hash_password(made_up[user], iterations=iterations)
        entries.append(f"{user}:{encoded}")
    _write(out_dir / PASSWORDS, "\n".join(entries) + "\n", mode=0o600)
    analytics_user = analytics[0] if analytics is not None else None
    _write(
        out_dir / ACL,
        acl_text(devices, ingestor_user, extra, sparkplug_host_id, analytics_user),
    )
    (out_dir / SETTINGS).parent.mkdir(parents=True, exist_ok=True)
    _write(out_dir / SETTINGS, settings_text(max_packet_size, tls))
    return made_up


def weak_hashes(out_dir: Path, iterations: int = ITERATIONS) -> list[str]:
    """Users whose stored hash has fewer rounds than asked (rotate them to fix it)."""
    stored = read_password_file(out_dir / PASSWORDS)
    return [user for user, encoded in stored.items() if hash_iterations(encoded) < iterations]


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines of a compose .env file (no interpolation, optional quotes)."""
    values: dict[str, str] = {}
    if not path.exists():
        return values
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            values[key.strip()] = value
    return values


def default_devices_file() -> Path:
    own = HERE / "devices"
    return own if own.exists() else HERE / "devices.example"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python deploy/mosquitto/generate.py",
        description="Gera passwords e acl do Mosquitto a partir da lista de dispositivos.",
    )
    parser.add_argument("--devices", type=Path, default=None, help="lista (padrão: devices)")
    parser.add_argument("--out", type=Path, default=HERE, help="pasta de saída (padrão: aqui)")
    parser.add_argument(
        "--env-file",
        type=Path,
        default=HERE.parent / ".env",
        help="arquivo .env com MQTT_URL (a variável de ambiente MQTT_URL tem precedência)",
    )
    parser.add_argument(
        "--rotate", action="append", default=[], metavar="USER", help="nova senha para USER"
    )
    parser.add_argument("--json", action="store_true", help="senhas novas em JSON")
    args = parser.parse_args(argv)

    devices_file = args.devices or default_devices_file()
    try:
        devices = parse_devices(devices_file.read_text(), source=str(devices_file))
        file_values = read_env_file(args.env_file)

        def setting(name: str, default: str = "") -> str:
            return os.environ.get(name) or file_values.get(name) or default

        user, password = ingestor_credentials(setting("MQTT_URL"))
        client_id = setting("MQTT_CLIENT_ID")
        if client_id and client_id != user:
            raise DeviceListError(
                f"MQTT_CLIENT_ID={client_id!r} difere do usuário do MQTT_URL ({user!r}): o "
                "broker usa o usuário como client id; deixe-os iguais (ou MQTT_CLIENT_ID vazio)"
            )
        tls_switch = setting("MQTT_BROKER_TLS", "off")
        if tls_switch not in ("on", "off"):
            raise DeviceListError("MQTT_BROKER_TLS: use on ou off")
        tls = (
            TlsListener(
                cert=setting("MQTT_BROKER_TLS_CERT", TLS_CERT),
                key=setting("MQTT_BROKER_TLS_KEY", TLS_KEY),
            )
            if tls_switch == "on"
            else None
        )
        numbers = {}
        for name, default in (
            ("MQTT_BROKER_MAX_PACKET_SIZE", MAX_PACKET_SIZE),
            ("MQTT_PBKDF2_ITERATIONS", ITERATIONS),
        ):
            raw = setting(name, str(default))
            if not raw.isdigit():
                raise DeviceListError(f"{name}: informe um número inteiro, não {raw!r}")
            numbers[name] = int(raw)
        made_up = generate(
            devices,
            args.out,
            ingestor_user=user,
            ingestor_password=password,
            rotate=args.rotate,
            iterations=numbers["MQTT_PBKDF2_ITERATIONS"],
            max_packet_size=numbers["MQTT_BROKER_MAX_PACKET_SIZE"],
            tls=tls,
            extra_ingestors=setting("MQTT_EXTRA_INGESTORS").replace(",", " ").split(),
            sparkplug_host_id=setting("SPARKPLUG_HOST_ID", DEFAULT_HOST_ID),
            analytics=analytics_credentials(setting("ANALYTICS_MQTT_URL")),
        )
    except (DeviceListError, OSError) as exc:
        print(f"erro: {exc}", file=sys.stderr)
        return 2
    weak = weak_hashes(args.out, numbers["MQTT_PBKDF2_ITERATIONS"])
    if weak:
        print(
            f"aviso: hash antigo (menos de {numbers['MQTT_PBKDF2_ITERATIONS']} iterações) para "
            f"{', '.join(weak)}; troque com --rotate {' --rotate '.join(weak)}",
            file=sys.stderr,
        )
    if os.geteuid() != 0:
        print(
            f"o broker oficial roda como uid {BROKER_UID}: rode este comando como root, ou "
            f"`sudo chown {BROKER_UID} {args.out / PASSWORDS}` (o arquivo é 0600)",
            file=sys.stderr,
        )
    print(
        f"{len(devices)} dispositivo(s) de {devices_file}; ingestor {user!r}; "
        f"escrito {args.out / PASSWORDS}, {args.out / ACL} e {args.out / SETTINGS}",
        file=sys.stderr,
    )
    if args.json:
        print(json.dumps(made_up, indent=2))
    else:
        for name, secret in made_up.items():
            print(f"{name} {secret}")
    if made_up:
        print(
            "guarde as senhas acima agora: não ficam gravadas em texto claro; "
            "recarregue o broker (SIGHUP)",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

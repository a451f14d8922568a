"""Generate Mosquitto's password file and ACL from the list of devices.

    python deploy/mosquitto/generate.py [--devices FILE] [--out DIR] [--env-file FILE]
                                        [--rotate USER ...] [--json]

- Every device of the list (`devices`, else `devices.example`, beside this file) gets a
  user that may publish only under its own machines' topics, mes/v1/<site>/<area>/<line>/
  <machine>/#, and read nothing.
- The ingestor's user (the user and password in MQTT_URL, from the environment or the
  compose .env file) may read all of mes/v1/# and publish nothing.
- A device already in `passwords` keeps its password; a new device, or one named with
  --rotate, gets a random one, printed once on stdout (`user password`, or JSON with
  --json): hand it to the device, it is not stored anywhere in plain text. A user not in
  the list any more loses access.
- Anonymous access stays off (mosquitto.conf: allow_anonymous false).

After a change, make the broker reload both files: `docker compose kill -s HUP mosquitto`
(or `kill -HUP <pid>`); connected clients keep their session, new logins use the new files.

Hashes are Mosquitto 2's PBKDF2-SHA512 format (`$7$`), computed here, so the generator
needs neither mosquitto_passwd nor the project's virtualenv: standard library only.
"""

from __future__ import annotations

import argparse
import base64
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
PASSWORDS = "passwords"
ACL = "acl"
# What mosquitto_passwd writes by default in 2.0: PBKDF2-SHA512, 101 rounds, 12-byte salt.
ITERATIONS = 101
SALT_BYTES = 12

USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
# One topic level: no wildcards, separators or blanks (the ACL file is split on blanks).
SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class DeviceListError(ValueError):
    """The device list or the ingestor's credentials cannot be used; says which line."""


@dataclass(frozen=True)
class Device:
    username: str
    machines: tuple[str, ...]  # site/area/line/machine

    @property
    def topics(self) -> tuple[str, ...]:
        return tuple(f"{TOPIC_ROOT}/{path}/#" for path in self.machines)


def parse_devices(text: str, *, source: str = "devices") -> list[Device]:
    """`<username> <site/area/line/machine> [...]` per line; `#` starts a comment."""
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
            raise DeviceListError(f"{where}: informe ao menos um site/area/linha/maquina")
        for path in paths:
            segments = path.split("/")
            if len(segments) != 4 or not all(SEGMENT.match(s) for s in segments):
                raise DeviceListError(
                    f"{where}: caminho inválido {path!r}; use site/area/linha/maquina "
                    "(letras, dígitos, '.', '_', '-')"
                )
        seen.add(username)
        devices.append(Device(username, tuple(dict.fromkeys(paths))))
    return devices


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """Mosquitto 2's `$7$<iterations>$<salt>$<hash>` (PBKDF2-HMAC-SHA512, base64)."""
    salt = secrets.token_bytes(SALT_BYTES) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, ITERATIONS, 64)
    return f"$7${ITERATIONS}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


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


def acl_text(devices: Iterable[Device], ingestor_user: str) -> str:
    """The ACL: the ingestor reads everything under mes/v1; each device writes its own."""
    lines = [
        "# Generated by deploy/mosquitto/generate.py from the device list: do not edit.",
        "# No topic lines before the first `user`: anonymous clients get nothing.",
        "",
        f"user {ingestor_user}",
        f"topic read {TOPIC_ROOT}/#",
    ]
    for device in devices:
        lines += ["", f"user {device.username}"]
        lines += [f"topic write {topic}" for topic in device.topics]
    return "\n".join(lines) + "\n"


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


def _write(path: Path, text: str) -> None:
    # Written aside then renamed: a broker reloading on SIGHUP never reads half a file.
    # World-readable: the broker drops to its own user before reading it (the file holds
    # only salted hashes); `chown 1883 passwords && chmod 600 passwords` tightens it.
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text)
    temporary.chmod(0o644)
    os.replace(temporary, path)


def generate(
    devices: list[Device],
    out_dir: Path,
    *,
    ingestor_user: str,
    ingestor_password: str,
    passwords: Mapping[str, str] | None = None,
    rotate: Iterable[str] = (),
) -> dict[str, str]:
    """Write `passwords` and `acl` into out_dir; returns the passwords it made up (user -> pw).

    `passwords` sets given users' passwords explicitly (tests, `make stack`); otherwise an
    existing user keeps its hash and a new or rotated one gets a random password.
    """
    explicit = dict(passwords or {})
    rotate = set(rotate)
    names = {d.username for d in devices}
    if ingestor_user in names:
        raise DeviceListError(
            f"o usuário do ingestor {ingestor_user!r} não pode ser um dispositivo"
        )
    unknown = rotate - names
    if unknown:
        raise DeviceListError(f"--rotate: usuário(s) fora da lista: {', '.join(sorted(unknown))}")
    out_dir.mkdir(parents=True, exist_ok=True)
    existing = read_password_file(out_dir / PASSWORDS)
    made_up: dict[str, str] = {}
    entries: list[str] = []

    # The ingestor's password is the one in MQTT_URL: keep the hash while it still matches.
    current = existing.get(ingestor_user, "")
    keep = verify_password(ingestor_password, current)
    entries.append(f"{ingestor_user}:{current if keep else hash_password(ingestor_password)}")
    for device in devices:
        user = device.username
        if user in explicit:
            password = explicit[user]
            current = existing.get(user, "")
            encoded = current if verify_password(password, current) else hash_password(password)
        elif user in existing and user not in rotate:
            encoded = existing[user]
        else:
            made_up[user] = secrets.token_urlsafe(24)
            encoded = hash_password(made_up[user])
        entries.append(f"{user}:{encoded}")
    _write(out_dir / PASSWORDS, "\n".join(entries) + "\n")
    _write(out_dir / ACL, acl_text(devices, ingestor_user))
    return made_up


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
        mqtt_url = os.environ.get("MQTT_URL") or read_env_file(args.env_file).get("MQTT_URL", "")
        user, password = ingestor_credentials(mqtt_url)
        made_up = generate(
            devices, args.out, ingestor_user=user, ingestor_password=password, rotate=args.rotate
        )
    except (DeviceListError, OSError) as exc:
        print(f"erro: {exc}", file=sys.stderr)
        return 2
    print(
        f"{len(devices)} dispositivo(s) de {devices_file}; ingestor {user!r}; "
        f"escrito {args.out / PASSWORDS} e {args.out / ACL}",
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

"""Render deploy/nginx/*.template into a directory nginx can load (`-c <dir>/nginx.conf`).

The official nginx image renders the same templates with envsubst when compose starts it
(NGINX_ENVSUBST_OUTPUT_DIR=/etc/nginx); this module does it for the tests and `make stack`,
which run Debian's nginx without Docker. Only `${UPPER_CASE}` placeholders are replaced,
as envsubst restricted to defined variables does: nginx's own `$lower_case` variables pass.

    python deploy/nginx/render.py OUT_DIR [NAME=VALUE ...]

Values come from DEFAULTS, then the environment (names in DEFAULTS only), then NAME=VALUE.
Standard library only: ops may run it on a host without the project's virtualenv.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path

HERE = Path(__file__).resolve().parent
SUFFIX = ".template"
MAIN = "nginx.conf"
PLACEHOLDER = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")
# A value lands inside a directive: these would end it or open a block.
_UNSAFE = re.compile(r"[;{}'\"\s\\$]")

# Every placeholder of the templates, with the value compose uses (deploy/.env.example).
DEFAULTS: dict[str, str] = {
    "NGINX_LISTEN": "8080",
    "NGINX_SERVER_NAME": "_",
    "NGINX_TLS": "off",
    "NGINX_TLS_LISTEN": "8443",
    # The HTTPS port clients see, for the plain-HTTP server's redirect while TLS is on.
    "NGINX_HTTPS_PORT": "8443",
    "NGINX_TLS_CERT": "/etc/nginx/certs/mes.crt",
    "NGINX_TLS_KEY": "/etc/nginx/certs/mes.key",
    "CATALOG_UPSTREAM": "catalog:8081",
    "PRODUCTION_UPSTREAM": "production:8082",
    "TELEMETRY_UPSTREAM": "telemetry:8083",
    "WEB_UPSTREAM": "web:8085",
    "ANALYTICS_UPSTREAM": "analytics:8084",
    # Docker's embedded DNS, and dynamic re-resolution of the upstream names (nginx >= 1.27.3).
    "NGINX_RESOLVER": "127.0.0.11",
    "NGINX_UPSTREAM_OPTIONS": "resolve",
    "NGINX_RATE_LIMIT": "20r/s",
    "NGINX_RATE_BURST": "40",
    "NGINX_MAX_BODY": "1m",
    "NGINX_PROXY_CONNECT_TIMEOUT": "5s",
    "NGINX_PROXY_SEND_TIMEOUT": "60s",
    "NGINX_PROXY_READ_TIMEOUT": "60s",
    "NGINX_WORKER_PROCESSES": "auto",
    "NGINX_PID": "/var/run/nginx.pid",
    "NGINX_TEMP_DIR": "/var/cache/nginx",
    "NGINX_ACCESS_LOG": "/dev/stdout",
    "NGINX_ERROR_LOG": "/dev/stderr",
}


class RenderError(ValueError):
    """A template names an unknown placeholder, or a value would break the configuration."""


def templates(template_dir: Path = HERE) -> list[Path]:
    return sorted(template_dir.glob(f"*{SUFFIX}"))


def placeholders(template_dir: Path = HERE) -> set[str]:
    """Every `${NAME}` the templates use (a test keeps DEFAULTS and .env.example in step)."""
    found: set[str] = set()
    for path in templates(template_dir):
        found.update(PLACEHOLDER.findall(path.read_text()))
    return found


def resolve(
    overrides: Mapping[str, str] | None = None, environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """DEFAULTS, then the environment's values for the same names, then explicit overrides."""
    env = {} if environ is None else environ
    values = {name: env.get(name) or default for name, default in DEFAULTS.items()}
    values.update(overrides or {})
    for name, value in values.items():
        if not value or _UNSAFE.search(value):
            raise RenderError(f"{name}: valor {value!r} vazio ou com caractere inválido")
    if values["NGINX_TLS"] not in ("on", "off"):
        raise RenderError("NGINX_TLS: use on ou off")
    return values


def render_text(text: str, values: Mapping[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise RenderError(f"placeholder desconhecido ${{{name}}}")
        return values[name]

    return PLACEHOLDER.sub(replace, text)


def render(
    out_dir: Path,
    overrides: Mapping[str, str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    template_dir: Path = HERE,
) -> Path:
    """Write every template, rendered, into out_dir; returns the main configuration's path.

    Includes are relative in the templates, and nginx resolves them against the directory
    of the file given with -c, so the rendered set works wherever it is written.
    """
    values = resolve(overrides, environ)
    out_dir.mkdir(parents=True, exist_ok=True)
    for path in templates(template_dir):
        target = out_dir / path.name.removesuffix(SUFFIX)
        target.write_text(render_text(path.read_text(), values))
    return out_dir / MAIN


def local_values(prefix: Path, **overrides: str) -> dict[str, str]:
    """Values for nginx run outside Docker: pid, temp files and logs under a private prefix."""
    for sub in ("logs", "tmp"):
        (prefix / sub).mkdir(parents=True, exist_ok=True)
    values = {
        "NGINX_PID": str(prefix / "nginx.pid"),
        "NGINX_TEMP_DIR": str(prefix / "tmp"),
        "NGINX_ACCESS_LOG": str(prefix / "logs" / "access.log"),
        "NGINX_ERROR_LOG": str(prefix / "logs" / "error.log"),
        # Two workers are plenty on a developer machine or in a test.
        "NGINX_WORKER_PROCESSES": "2",
        # Debian's nginx 1.22 has no `resolve`: fixed addresses, resolved at start (a
        # server parameter with its default value stands in for it).
        "NGINX_RESOLVER": "127.0.0.1",
        "NGINX_UPSTREAM_OPTIONS": "max_conns=0",
    }
    values.update(overrides)
    return values


def nginx_binary() -> str:
    """Debian installs nginx in /usr/sbin, which a non-root PATH may lack."""
    for candidate in ("/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/bin/nginx"):
        if os.access(candidate, os.X_OK):
            return candidate
    return "nginx"


def nginx_command(prefix: Path, conf: Path, *, test: bool = False) -> list[str]:
    """nginx in the foreground (`daemon off` is in the template) with everything under prefix.

    -e sends start-up errors to the prefix too, before the configuration is read, instead of
    the compiled-in /var/log/nginx/error.log.
    """
    command = [nginx_binary(), "-p", f"{prefix}/", "-c", str(conf), "-e", str(prefix / "error.log")]
    return [*command, "-t", "-q"] if test else command


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0].startswith("-"):
        print(__doc__, file=sys.stderr)
        return 2
    overrides: dict[str, str] = {}
    for item in args[1:]:
        name, sep, value = item.partition("=")
        if not sep:
            print(f"argumento inválido {item!r}: use NOME=valor", file=sys.stderr)
            return 2
        overrides[name] = value
    try:
        main_conf = render(Path(args[0]), overrides, environ=os.environ)
    except RenderError as exc:
        print(f"erro: {exc}", file=sys.stderr)
        return 2
    print(main_conf)
    return 0


if __name__ == "__main__":
    sys.exit(main())

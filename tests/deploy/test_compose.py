"""docker-compose.yml, .env.example and the Dockerfile, checked without a Docker engine:
Debian's docker-compose (1.29) validates and resolves the file; the environment file
documents every variable the services read; the image runs as a non-root user."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from deploy.nginx import render

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
ENV_EXAMPLE = DEPLOY / ".env.example"
# Where the services and the simulator read their environment.
SETTINGS_SOURCES = [
    ROOT / "shared" / "settings.py",
    ROOT / "services" / "production" / "settings.py",
    ROOT / "services" / "telemetry" / "settings.py",
    ROOT / "protheus_demo" / "simulator" / "config.py",
]
# reader.text("NAME", ...), number("NAME", ...), env.get("NAME"), raw("NAME"),
# _positive(raw, "NAME", ...): the first string argument of a read, across line breaks.
_READ = re.compile(r'(?:\.\w+|\bnumber|\braw|_positive\(\s*raw,)\(?\s*"([A-Z][A-Z0-9_]+)"')


def compose(*args: str, profile: str | None = None) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("docker-compose")
    assert binary, (
        "docker-compose missing: apt-get install docker-compose (scripts/ensure-services.sh)"
    )
    command = [binary, "--env-file", str(ENV_EXAMPLE), "-f", str(DEPLOY / "docker-compose.yml")]
    if profile:
        command += ["--profile", profile]
    # MES_ENV_FILE points env_file at the example: no deploy/.env is needed to validate.
    return subprocess.run(
        [*command, *args],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "MES_ENV_FILE": ".env.example"},
        cwd=ROOT,
    )


def resolved() -> dict[str, Any]:
    """`docker-compose config` as data, parsed by docker-compose's own interpreter's YAML
    (the project's virtualenv has no YAML library; Debian's docker-compose depends on one)."""
    done = compose("config")
    assert done.returncode == 0, done.stderr
    binary = shutil.which("docker-compose")
    assert binary
    interpreter = Path(binary).read_text().splitlines()[0].removeprefix("#!").split()
    parsed = subprocess.run(
        [*interpreter, "-c", "import json, sys, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)"],
        input=done.stdout, capture_output=True, text=True, check=True,
    )  # fmt: skip
    data: dict[str, Any] = json.loads(parsed.stdout)
    return data


def targets(volumes: list[Any]) -> set[str]:
    """Mount points, whether compose printed `source:target:mode` strings or mappings."""
    return {v.split(":")[1] if isinstance(v, str) else v["target"] for v in volumes}


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    return resolved()


def test_docker_compose_accepts_the_file() -> None:
    for profile in (None, "homologation"):
        done = compose("config", "-q", profile=profile)
        assert done.returncode == 0, done.stderr
        assert "WARNING" not in done.stderr.upper(), done.stderr  # no unset variable
    assert compose("config", "--profiles").stdout.split() == ["homologation"]
    assert sorted(compose("config", "--volumes").stdout.split()) == [
        "mosquitto-data",
        "pgdata",
        "telemetry-spool",
    ]


def test_services_their_health_and_restart(config: dict[str, Any]) -> None:
    services = config["services"]
    assert set(services) == {
        "postgres", "mosquitto", "nginx", "migrate", "catalog", "production", "telemetry",
        "demo-data", "simulator",
    }  # fmt: skip
    ports = {"catalog": "8081", "production": "8082", "telemetry": "8083", "simulator": "8090"}
    for name, port in ports.items():
        service = services[name]
        assert service["image"].startswith("mes-integration:")
        assert service["build"]["dockerfile"] == "deploy/Dockerfile"
        assert service["restart"] == "unless-stopped"
        assert service["environment"]["HTTP_PORT"] == port
        assert service["environment"]["MES_DB_URL"]  # from the env file
        health = " ".join(service["healthcheck"]["test"])
        path = "/healthz" if name == "simulator" else "/readyz"
        assert f"http://127.0.0.1:{port}{path}" in health
        assert "urllib" in health
        assert "ports" not in service  # only nginx and the broker face the network
    assert services["catalog"]["command"] == ["python", "-m", "services.catalog"]
    assert services["migrate"]["command"] == ["python", "deploy/migrate.py"]
    for name in ("catalog", "production", "telemetry"):
        assert services[name]["depends_on"]["migrate"]["condition"] == (
            "service_completed_successfully"
        )
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("simulator", "demo-data"):
        assert services[name]["profiles"] == ["homologation"]
    for name, service in services.items():
        if name not in ("simulator", "demo-data"):
            assert "profiles" not in service, name

    postgres = services["postgres"]
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    assert "/var/lib/postgresql/data" in targets(postgres["volumes"])

    mosquitto = services["mosquitto"]
    # The whole folder: generate.py replaces passwords and acl by renaming them, which a
    # single-file bind mount would not show to the broker.
    assert {"/mosquitto/config", "/mosquitto/data"} <= targets(mosquitto["volumes"])
    conf = (DEPLOY / "mosquitto" / "mosquitto.conf").read_text()
    assert "password_file /mosquitto/config/passwords" in conf
    assert "acl_file /mosquitto/config/acl" in conf

    nginx = services["nginx"]
    assert nginx["ports"][0]["target"] == 8080
    assert nginx["environment"]["NGINX_ENVSUBST_OUTPUT_DIR"] == "/etc/nginx"
    assert nginx["command"] == ["nginx"]  # `daemon off;` is in the configuration


def test_compose_gives_nginx_every_placeholder_with_the_renderers_default(
    config: dict[str, Any],
) -> None:
    """The image's envsubst only replaces variables it is given: all of them, same defaults."""
    environment = config["services"]["nginx"]["environment"]
    used = render.placeholders()
    assert used == set(render.DEFAULTS)
    for name in used:
        assert environment[name] == render.DEFAULTS[name], name


def documented() -> set[str]:
    return set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", ENV_EXAMPLE.read_text(), re.MULTILINE))


def test_env_example_documents_every_variable_the_services_read() -> None:
    read: set[str] = set()
    for source in SETTINGS_SOURCES:
        read |= set(_READ.findall(source.read_text()))
    assert {"MES_DB_URL", "PUSHER_LEASE_S", "INGEST_RECONNECT_MAX_S", "SIM_FAULTS"} <= read
    assert read - documented() == set()
    # ...and the ones compose and the deploy tools use.
    extra = {"POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB", "DEMO_SCALE", "MES_HTTP_PORT"}
    assert extra | set(render.DEFAULTS) <= documented()


def test_the_image_runs_as_a_non_root_user() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert "FROM python:3.11-slim" in dockerfile
    users = re.findall(r"^USER\s+(\S+)", dockerfile, re.MULTILINE)
    assert users
    assert users[-1].split(":")[0] not in ("root", "0")
    assert "pip install ." in dockerfile
    # Everything the processes import or read is copied into the image.
    for needed in (
        "shared",
        "services",
        "protheus_demo",
        "devserver",
        "migrations",
        "deploy/migrate.py",
    ):
        assert re.search(rf"^COPY .*\b{re.escape(needed)}\b", dockerfile, re.MULTILINE), needed

"""docker-compose.yml, .env.example and the Dockerfile, checked without a Docker engine:
Debian's docker-compose (1.29) validates and resolves the file; the environment file
documents every variable the services read; the image runs as a non-root user."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from deploy.nginx import render
from scripts import check_lock

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
ENV_EXAMPLE = DEPLOY / ".env.example"
# Where the services and the simulator read their environment.
SETTINGS_SOURCES = [
    ROOT / "shared" / "settings.py",
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
    # --env-file: the example fills every ${...}; no deploy/.env is needed to validate.
    return subprocess.run(
        [*command, *args], capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"}, cwd=ROOT
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
        "lake",
        "mosquitto-data",
        "pgdata",
        "telemetry-spool",
    ]


def test_services_their_health_and_restart(config: dict[str, Any]) -> None:
    services = config["services"]
    assert set(services) == {
        "postgres", "mosquitto", "nginx", "migrate", "catalog", "production", "telemetry",
        "analytics", "web", "demo-data", "simulator",
    }  # fmt: skip
    ports = {
        "catalog": "8081", "production": "8082", "telemetry": "8083", "analytics": "8084",
        "simulator": "8090",
    }  # fmt: skip
    # The web app reads only the MES database: no PROTHEUS_DB_URL (checked further down).
    web = services["web"]
    assert web["command"] == ["python", "-m", "services.web"]
    assert web["environment"]["HTTP_PORT"] == "8085"
    assert "http://127.0.0.1:8085/readyz" in " ".join(web["healthcheck"]["test"])
    assert "ports" not in web
    assert web["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    for name, port in ports.items():
        service = services[name]
        assert service["image"].startswith("mes-integration:")
        assert service["build"]["dockerfile"] == "deploy/Dockerfile"
        assert service["restart"] == "unless-stopped"
        assert service["environment"]["HTTP_PORT"] == port
        assert service["environment"]["PROTHEUS_DB_URL"]  # filled from the env file
        health = " ".join(service["healthcheck"]["test"])
        path = "/healthz" if name == "simulator" else "/readyz"
        assert f"http://127.0.0.1:{port}{path}" in health
        assert "urllib" in health
        assert "ports" not in service  # only nginx and the broker face the network
    assert services["catalog"]["command"] == ["python", "-m", "services.catalog"]
    assert services["migrate"]["command"] == ["python", "deploy/migrate.py"]
    assert services["analytics"]["command"] == ["python", "-m", "services.analytics"]
    # The lake lives on a named volume mounted where LAKE_DIR points.
    analytics = services["analytics"]
    assert analytics["environment"]["LAKE_DIR"] in targets(analytics["volumes"])
    for name in ("catalog", "production", "telemetry", "analytics"):
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
    # Client ids bound to usernames on the listener (its option follows its `listener`
    # line), and the generated settings (max_packet_size, TLS listener) loaded last.
    lines = [line for line in conf.splitlines() if line and not line.startswith("#")]
    assert lines.index("use_username_as_clientid true") > lines.index("listener 1883")
    assert lines[-1] == "include_dir /mosquitto/config/conf.d"
    assert (DEPLOY / "mosquitto" / "conf.d").is_dir()
    assert {"/mosquitto/certs"} <= targets(mosquitto["volumes"])
    assert {p["target"] for p in mosquitto["ports"]} == {1883, 8883}

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
    # The locked dependencies, hashes checked, then the project without dependencies.
    assert "pip install --require-hashes -r requirements/runtime.txt" in dockerfile
    assert "pip install --no-deps ." in dockerfile
    assert "!requirements/runtime.txt" in (ROOT / ".dockerignore").read_text().splitlines()
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


def read_by(*sources: Path) -> set[str]:
    found: set[str] = set()
    for source in sources:
        found |= set(_READ.findall(source.read_text()))
    return found


def section_reads(section: str) -> set[str]:
    """The variables shared/settings.py reads for one section (`_read_pusher`, ...)."""
    text = (ROOT / "shared" / "settings.py").read_text()
    body = text.split(f"\ndef _read_{section}(", 1)[1].split("\ndef ", 1)[0]
    return set(_READ.findall(body))


# What a service must never hold: other services' credentials (RISK_MODEL_KEY signs the risk
# models the analytics service unpickles: the other services, the web app's included, can
# write risk_models and must not be able to sign one).
FORBIDDEN = {
    "catalog": {"RISK_MODEL_KEY", "PROTHEUS_USER", "PROTHEUS_PASSWORD", "PROTHEUS_REST_URL", "MQTT_URL",
                "SIM_PASSWORD", "POSTGRES_PASSWORD"},
    "production": {"RISK_MODEL_KEY", "MQTT_URL", "SIM_PASSWORD", "POSTGRES_PASSWORD"},
    "telemetry": {"RISK_MODEL_KEY", "PROTHEUS_USER", "PROTHEUS_PASSWORD", "PROTHEUS_REST_URL", "SIM_PASSWORD",
                  "POSTGRES_PASSWORD"},
    # It reads the ERP's database, never its REST API; on the broker it has a user of its own
    # (ANALYTICS_MQTT_URL, alerts only), never the ingestor's.
    "analytics": {"PROTHEUS_USER", "PROTHEUS_PASSWORD", "PROTHEUS_REST_URL", "MQTT_URL",
                  "SIM_PASSWORD", "POSTGRES_PASSWORD"},
    "migrate": {"RISK_MODEL_KEY", "MES_API_KEYS", "PROTHEUS_USER", "PROTHEUS_PASSWORD", "MQTT_URL",
                "SIM_PASSWORD", "POSTGRES_PASSWORD"},
    "demo-data": {"RISK_MODEL_KEY", "MES_API_KEYS", "PROTHEUS_USER", "PROTHEUS_PASSWORD", "MQTT_URL",
                  "SIM_PASSWORD", "POSTGRES_PASSWORD"},
    "simulator": {"RISK_MODEL_KEY", "MES_API_KEYS", "MES_DB_URL", "PROTHEUS_USER", "PROTHEUS_PASSWORD", "MQTT_URL",
                  "POSTGRES_PASSWORD"},
    # The page and the event stream: the MES database only.
    "web": {"RISK_MODEL_KEY", "PROTHEUS_DB_URL", "PROTHEUS_USER", "PROTHEUS_PASSWORD", "PROTHEUS_REST_URL",
            "MQTT_URL", "SIM_PASSWORD", "POSTGRES_PASSWORD"},
    "nginx": {"RISK_MODEL_KEY", "MES_API_KEYS", "MES_DB_URL", "PROTHEUS_DB_URL", "PROTHEUS_PASSWORD", "MQTT_URL"},
    "mosquitto": {"RISK_MODEL_KEY", "MES_API_KEYS", "MES_DB_URL", "PROTHEUS_PASSWORD", "MQTT_URL"},
    "postgres": {"RISK_MODEL_KEY", "MES_API_KEYS", "PROTHEUS_PASSWORD", "MQTT_URL", "PROTHEUS_DB_URL"},
}  # fmt: skip
# Shared settings a service does not use (shared/settings.py reads them all, with defaults).
NOT_NEEDED = {
    "catalog": {"PROTHEUS_REST_URL", "PROTHEUS_AUTH", "PROTHEUS_USER", "PROTHEUS_PASSWORD",
                "PROTHEUS_REST_CA_FILE", "MQTT_URL", "MQTT_CLIENT_ID", "MQTT_SHARED_GROUP",
                "MQTT_CA_FILE", "SHIFT_CALENDAR", "TELEMETRY_RETENTION_DAYS"},
    "production": {"MQTT_URL", "MQTT_CLIENT_ID", "MQTT_SHARED_GROUP", "MQTT_CA_FILE",
                   "SHIFT_CALENDAR", "TELEMETRY_RETENTION_DAYS", "CATALOG_MAX_BOM_ROWS"},
    # INGEST_METRICS_PORT: only the ingestor run alone (no HTTP app, so no /metrics) uses it.
    "telemetry": {"PROTHEUS_REST_URL", "PROTHEUS_AUTH", "PROTHEUS_USER", "PROTHEUS_PASSWORD",
                  "PROTHEUS_REST_CA_FILE", "CATALOG_MAX_BOM_ROWS", "INGEST_METRICS_PORT"},
    # No Protheus REST API; the broker through ANALYTICS_MQTT_URL (not the ingestor's
    # MQTT_URL: the alerts' default broker is MQTT_URL's host, set explicitly in compose).
    "analytics": {"PROTHEUS_REST_URL", "PROTHEUS_AUTH", "PROTHEUS_USER",
                  "PROTHEUS_PASSWORD", "PROTHEUS_REST_CA_FILE", "MQTT_URL", "MQTT_CLIENT_ID",
                  "MQTT_SHARED_GROUP", "CATALOG_MAX_BOM_ROWS", "TELEMETRY_RETENTION_DAYS"},
    # Neither Protheus nor the broker, no OEE, no BOM.
    "web": {"PROTHEUS_DB_URL", "PROTHEUS_COMPANY", "PROTHEUS_BRANCH", "PROTHEUS_SHARED_TABLES",
            "PROTHEUS_DB_POOL_MAX", "PROTHEUS_DB_STATEMENT_TIMEOUT_MS", "PROTHEUS_TIME_FORMAT",
            "PROTHEUS_REST_URL", "PROTHEUS_AUTH", "PROTHEUS_USER", "PROTHEUS_PASSWORD",
            "PROTHEUS_REST_CA_FILE", "MQTT_URL", "MQTT_CLIENT_ID", "MQTT_SHARED_GROUP",
            "MQTT_CA_FILE", "SHIFT_CALENDAR", "TELEMETRY_RETENTION_DAYS", "CATALOG_MAX_BOM_ROWS"},
}  # fmt: skip
# Set by the image (Dockerfile ENV) or per service in docker-compose.yml.
FIXED = {"HTTP_HOST", "HTTP_PORT"}
# Read into Settings for `make run` (devserver/launcher.py) only: no compose service uses it.
DEV_ONLY = {"DEMO_TELEMETRY", "DEMO_TELEMETRY_HISTORY_DAYS"}


def test_each_service_gets_only_its_own_secrets(config: dict[str, Any]) -> None:
    services = config["services"]
    for name, forbidden in FORBIDDEN.items():
        environment = set(services[name].get("environment") or {})
        assert "env_file" not in services[name], name
        assert not environment & forbidden, (name, environment & forbidden)
    assert "POSTGRES_PASSWORD" in services["postgres"]["environment"]
    assert "RISK_MODEL_KEY" in services["analytics"]["environment"]
    assert services["production"]["environment"]["PROTHEUS_PASSWORD"] == "mesinteg"
    assert services["telemetry"]["environment"]["MQTT_URL"].startswith("mqtt://mes-ingestor:")
    assert services["telemetry"]["environment"]["MQTT_CLIENT_ID"] == "mes-ingestor"


def test_each_service_gets_every_variable_it_reads(config: dict[str, Any]) -> None:
    """The other direction: a variable a service reads but compose does not pass would be
    silently ignored in production (a setting added later must be listed here)."""
    services = config["services"]
    pusher, ingest = section_reads("pusher"), section_reads("ingest")
    stops = section_reads("stops")  # the production service's stop detector
    sparkplug = section_reads("sparkplug")  # the ingestor as a Sparkplug host application
    analytics = section_reads("analytics")  # the analytics service (BI schema, lake)
    web = section_reads("web")  # the web app's event stream
    analytics |= section_reads("anomaly")  # its anomaly detector
    analytics |= section_reads("risk")  # and its failure-risk scorer
    shared = (
        read_by(ROOT / "shared" / "settings.py")
        - pusher - ingest - stops - sparkplug - analytics - web
    )  # fmt: skip
    reads = {
        "catalog": shared,
        "production": shared | pusher | stops,
        "telemetry": shared | ingest | sparkplug,
        "analytics": shared | analytics,
        "web": shared | web,
        "simulator": read_by(ROOT / "protheus_demo" / "simulator" / "config.py"),
    }
    for name, read in reads.items():
        expected = read - NOT_NEEDED.get(name, set()) - FIXED - DEV_ONLY
        missing = expected - set(services[name]["environment"])
        assert not missing, (name, missing)
    for name in ("migrate", "demo-data"):
        environment = services[name]["environment"]
        assert {"MES_DB_URL", "PROTHEUS_DB_URL", "PROTHEUS_COMPANY"} <= set(environment)
    assert "DEMO_SCALE" in services["demo-data"]["environment"]


def test_the_lock_files_cover_pyproject_and_agree(tmp_path: Path) -> None:
    """requirements/ (make lock) pins every dependency, with hashes; the Makefile's venv
    and the image install from it; a dependency added without `make lock` is caught."""
    assert check_lock.problems() == []
    for lock in (check_lock.RUNTIME, check_lock.DEV):
        text = lock.read_text()
        pinned = re.findall(r"^[A-Za-z0-9][A-Za-z0-9._-]*==\S+", text, re.MULTILINE)
        assert pinned
        assert text.count("--hash=sha256:") >= len(pinned)
    assert "pytest" in check_lock.pins(check_lock.DEV)
    assert "pytest" not in check_lock.pins(check_lock.RUNTIME)
    makefile = (ROOT / "Makefile").read_text()
    assert "pip install -q --require-hashes -r $(DEV_LOCK)" in makefile
    assert "pip install -q --no-deps -e ." in makefile
    assert "\nlock:" in makefile

    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        (ROOT / "pyproject.toml")
        .read_text()
        .replace('"orjson>=3.9",', '"orjson>=3.9", "tomli-w>=1",')
    )
    assert check_lock.problems(pyproject) == [
        "tomli-w: em pyproject.toml, fora de runtime.txt (runtime)",
        "tomli-w: em pyproject.toml, fora de dev.txt (dev)",
    ]
    skewed = tmp_path / "dev.txt"
    skewed.write_text(check_lock.DEV.read_text().replace("aiohttp==", "aiohttp==0.0.1+", 1))
    assert any("aiohttp" in p for p in check_lock.problems(dev_lock=skewed))


STUB_DOCKER = """#!/bin/sh
# `docker buildx imagetools inspect REF --format ...`: compact JSON, the index's digest first.
[ "$1" = buildx ] || exit 1
index=$(printf '%s%s' "$4" "$STUB_ROUND" | sha256sum | cut -d' ' -f1)
printf '{"schemaVersion":2,"digest":"sha256:%s","manifests":[{"digest":"sha256:%s"}]}' \\
  "$index" "$(printf x | sha256sum | cut -d' ' -f1)"
"""


def test_pin_images_rewrites_every_third_party_image_to_its_digest(tmp_path: Path) -> None:
    """deploy/pin-images.sh with a stand-in `docker` (no registry here): every pulled image
    of compose and every FROM of the Dockerfile gets NAME:TAG@sha256:<index digest>, our
    own image stays, and a second run replaces the old digests."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "docker").write_text(STUB_DOCKER)
    (bin_dir / "docker").chmod(0o755)
    compose_file, dockerfile = tmp_path / "docker-compose.yml", tmp_path / "Dockerfile"
    compose_file.write_text((DEPLOY / "docker-compose.yml").read_text())
    dockerfile.write_text((DEPLOY / "Dockerfile").read_text())

    def run(round_: str) -> dict[str, str]:
        done = subprocess.run(
            [str(DEPLOY / "pin-images.sh"), str(compose_file), str(dockerfile)],
            env={"PATH": f"{bin_dir}:/usr/bin:/bin", "STUB_ROUND": round_},
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr
        found = re.findall(
            r"^\s*(?:image:|FROM)\s*(\S+?)(?:@(sha256:[0-9a-f]{64}))?(?:\s|$)",
            compose_file.read_text() + dockerfile.read_text(),
            re.MULTILINE,
        )
        return {ref: digest for ref, digest in found}

    def index_digest(ref: str, round_: str) -> str:
        return "sha256:" + hashlib.sha256(f"{ref}{round_}".encode()).hexdigest()

    first = run("1")
    third_party = {ref for ref in first if not ref.startswith("mes-integration:")}
    assert {"postgres:15", "nginx:1.28-alpine", "python:3.11-slim"} <= third_party
    for ref in third_party:
        assert first[ref] == index_digest(ref, "1"), ref
    assert first["mes-integration:${MES_IMAGE_TAG:-latest}"] == ""
    second = run("2")
    for ref in third_party:
        assert second[ref] == index_digest(ref, "2"), ref

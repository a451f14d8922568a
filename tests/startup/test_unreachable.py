"""A newcomer's first error: a server that does not answer ends the start in one clear line."""

from __future__ import annotations

import asyncio
import os
import sys

import pytest

from deploy.supervisor import free_port
from shared.preflight import Endpoint, StartupError, require, unreachable_line

KEY = "startup-test-key-0123456789abcdef"


def closed_port_url(scheme: str, database: str = "") -> str:
    """A URL on this machine where nothing listens (a port just freed)."""
    return f"{scheme}://postgres@127.0.0.1:{free_port()}/{database}".rstrip("/")


async def run(module: str, env: dict[str, str]) -> tuple[int, list[str]]:
    """Run `python -m module` with env over a clean environment; exit code and stderr lines."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("MES_", "PROTHEUS_", "MQTT_"))}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        module,
        env={**base, "MES_API_KEYS": f"t:{KEY}:admin", "HTTP_PORT": str(free_port()), **env},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(process.communicate(), 60)
    return process.returncode, [line for line in err.decode().splitlines() if line.strip()]


@pytest.mark.parametrize(
    ("variable", "url"),
    [
        ("MES_DB_URL", closed_port_url("postgresql", "mes")),
        ("PROTHEUS_DB_URL", closed_port_url("postgresql", "protheus")),
        ("MQTT_URL", f"mqtt://127.0.0.1:{free_port()}"),
    ],
    ids=["MES_DB_URL", "PROTHEUS_DB_URL", "MQTT_URL"],  # the same in every xdist worker
)
async def test_make_run_names_the_variable_and_the_address_in_one_line(variable, url):
    code, lines = await run("devserver", {variable: url})
    assert code == 1
    assert len(lines) == 1, lines
    (line,) = lines
    port = url.rsplit(":", 1)[1].split("/")[0]
    assert variable in line
    assert f"127.0.0.1:{port}" in line
    assert "conexão recusada" in line
    assert "Traceback" not in line


@pytest.mark.parametrize(
    ("module", "variable"),
    [
        ("services.catalog", "PROTHEUS_DB_URL"),
        ("services.production", "MES_DB_URL"),
        ("services.telemetry", "MES_DB_URL"),
    ],
)
async def test_a_service_alone_stops_in_one_line_without_its_database(module, variable):
    code, lines = await run(module, {variable: closed_port_url("postgresql", "x")})
    assert code == 1
    assert len(lines) == 1, lines
    assert lines[0].startswith(module.rsplit(".", 1)[1])
    assert variable in lines[0]


async def test_an_unknown_host_is_said_to_be_unknown():
    endpoint = Endpoint("MES_DB_URL", "postgresql://u:pw@no-such-host.invalid:5432/mes")
    with pytest.raises(StartupError) as info:
        await require([endpoint])
    assert "no-such-host.invalid:5432" in str(info.value)
    assert "DNS" in str(info.value)
    assert "pw" not in str(info.value).replace("***", "")


async def test_a_server_that_answers_passes():
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        await require([Endpoint("MQTT_URL", f"mqtt://127.0.0.1:{port}")])


def test_odbc_addresses_and_sockets():
    odbc = Endpoint("PROTHEUS_DB_URL", "odbc://DRIVER={X};SERVER=erp-sql,1533;UID=u;PWD=secret")
    assert odbc.address() == ("erp-sql", 1533)
    assert Endpoint("PROTHEUS_DB_URL", "odbc://DRIVER={X};Server=tcp:erp;PWD=x").address() == (
        "erp",
        1433,
    )
    assert Endpoint("MES_DB_URL", "postgresql:///mes?host=/run/postgresql").address() is None
    assert "secret" not in unreachable_line(odbc, "conexão recusada")

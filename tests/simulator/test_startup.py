"""Start-up: configuration from the environment and the refusal to touch a non-demo database."""

from __future__ import annotations

import asyncio
import os
import socket
import sys

import pytest
from aiohttp import web

from protheus_demo.simulator import (
    FaultSettings,
    NotADemoDatabase,
    SimulatorConfig,
    create_simulator,
)
from shared.settings import ConfigError


def test_config_defaults():
    config = SimulatorConfig.from_env({})
    assert config.db_url == "postgresql://postgres@localhost:5432/protheus"
    assert (config.company, config.branch) == ("01", "01")
    assert (config.user, config.password) == ("mesinteg", "mesinteg")
    assert (config.access_ttl_s, config.refresh_ttl_s) == (3600, 86400)
    assert config.time_format == "C"
    assert config.faults == FaultSettings()
    assert config.http_port == 8090
    assert "password" not in repr(config)


def test_config_reads_every_variable():
    config = SimulatorConfig.from_env(
        {
            "PROTHEUS_DB_URL": "postgresql://u@h:5/demo",
            "PROTHEUS_COMPANY": "99",
            "PROTHEUS_BRANCH": "02",
            "SIM_USER": "integ",
            "SIM_PASSWORD": "s3nha",
            "SIM_ACCESS_TTL_S": "0.5",
            "SIM_REFRESH_TTL_S": "10",
            "PROTHEUS_TIME_FORMAT": "n",
            "SIM_FAULTS": '{"error_rate": 0.3, "drop_after_rate": 0.1, "seed": 7}',
            "PLANT_TIMEZONE": "America/Manaus",
            "HTTP_PORT": "9000",
        }
    )
    assert config.db_url == "postgresql://u@h:5/demo"
    assert (config.company, config.branch, config.user, config.password) == (
        "99",
        "02",
        "integ",
        "s3nha",
    )
    assert (config.access_ttl_s, config.refresh_ttl_s) == (0.5, 10.0)
    assert config.time_format == "N"
    assert config.faults == FaultSettings(error_rate=0.3, drop_after_rate=0.1, seed=7)
    assert config.plant_timezone == "America/Manaus"
    assert config.http_port == 9000


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("PROTHEUS_DB_URL", "odbc://DSN=x"),
        ("PROTHEUS_COMPANY", "1"),
        ("PROTHEUS_TIME_FORMAT", "X"),
        ("SIM_FAULTS", "{"),
        ("SIM_FAULTS", '{"error_rate": 2}'),
        ("SIM_ACCESS_TTL_S", "-1"),
        ("SIM_REFRESH_TTL_S", "nan"),
        ("PROTHEUS_BRANCH", "01-SP"),
        ("HTTP_PORT", "70000"),
        ("LOG_LEVEL", "LOUD"),
        ("PLANT_TIMEZONE", "Mars/Base"),
    ],
)
def test_bad_variables_are_named(variable, value):
    with pytest.raises(ConfigError) as caught:
        SimulatorConfig.from_env({variable: value})
    assert caught.value.variable == variable


async def test_refuses_a_database_without_the_demo_marker(fresh_database):
    dsn = await fresh_database()
    runner = web.AppRunner(create_simulator(SimulatorConfig(db_url=dsn)))
    try:
        with pytest.raises(NotADemoDatabase, match="mes_demo_marker"):
            await runner.setup()
    finally:
        await runner.cleanup()
    assert issubclass(NotADemoDatabase, RuntimeError)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def _run_main(env: dict[str, str]) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "protheus_demo.simulator",
        env={**os.environ, "HTTP_HOST": "127.0.0.1", "HTTP_PORT": str(_free_port()), **env},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(process.communicate(), timeout=20)
    return process.returncode or 0, stderr.decode()


async def test_main_exits_2_with_the_reason_on_stderr(fresh_database):
    dsn = await fresh_database()
    code, stderr = await _run_main({"PROTHEUS_DB_URL": dsn})
    assert code == 2
    assert "mes_demo_marker" in stderr
    code, stderr = await _run_main({"PROTHEUS_TIME_FORMAT": "X"})
    assert code == 2
    assert "PROTHEUS_TIME_FORMAT" in stderr

"""Each service's published OpenAPI document, fuzzed with schemathesis: zero failures.

The service runs as deployed (`python -m services.<name>`, settings from the environment) on a
spare port, against the tiny demo Protheus database (read-only) and a fresh MES database;
schemathesis' command line reads the document from the service and runs every check, a
bounded number of examples an operation, with a fixed seed (the same requests every run).

`positive_data_acceptance` is replaced by tests/contract/schemathesis_hooks.py's variant,
which also allows the refusals the document lists (`x-refusals`: rules across fields or
decided by the ERP's dictionary, which JSON Schema cannot say) and a declared 422.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import asyncpg
import pytest

from shared.migrations import migrate

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("catalog", "production", "telemetry", "analytics")
SEED = 20261129
EXAMPLES = 25


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
async def mes_dsn(fresh_database) -> str:
    dsn: str = await fresh_database()
    conn = await asyncpg.connect(dsn)
    try:
        await migrate(conn)
    finally:
        await conn.close()
    return dsn


@contextlib.asynccontextmanager
async def running(service: str, env: dict[str, str], log: Path) -> AsyncIterator[str]:
    """`python -m services.<service>` on a spare port; its base URL once /healthz answers."""
    port = free_port()
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            f"services.{service}",
            env={**env, "HTTP_PORT": str(port)},
            stdout=out,
            stderr=asyncio.subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(300):
                if process.returncode is not None:
                    raise AssertionError(
                        f"{service} terminou:\n{await asyncio.to_thread(log.read_text)}"
                    )
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(f"{base}/healthz") as resp:
                        if resp.status == 200:
                            break
                await asyncio.sleep(0.05)
            else:
                raise AssertionError(
                    f"{service} não respondeu:\n{await asyncio.to_thread(log.read_text)}"
                )
        yield base
    finally:
        if process.returncode is None:
            process.terminate()
        await process.wait()


async def fuzz(service: str, env: dict[str, str], workdir: Path) -> tuple[int, str]:
    """Serve one service and run schemathesis over its document: exit code and report."""
    key = f"fuzz-{secrets.token_urlsafe(24)}"
    env = {**env, "MES_API_KEYS": f"fuzz:{key}:admin"}
    await asyncio.to_thread(workdir.mkdir)
    async with running(service, env, workdir / f"{service}.log") as base:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "schemathesis.cli",
            "run",
            f"{base}/api/v1/{service}/openapi.json",
            "--url",
            base,
            "--checks",
            "all",
            "--exclude-checks",
            "positive_data_acceptance",
            "--max-examples",
            str(EXAMPLES),
            "--seed",
            str(SEED),
            "--header",
            f"Authorization: Bearer {key}",
            "--no-color",
            cwd=workdir,  # schemathesis and hypothesis keep their files there
            env={
                **env,
                "PYTHONPATH": str(ROOT),
                "SCHEMATHESIS_HOOKS": "tests.contract.schemathesis_hooks",
            },
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await process.communicate()
    assert process.returncode is not None
    return process.returncode, output.decode(errors="replace")


async def test_the_published_documents_say_what_the_services_accept(
    demo_protheus_dsn: str, mes_dsn: str, tmp_path: Path
) -> None:
    # The four run side by side (each its own process and schemathesis run): the suite's
    # time is the slowest one's.
    env = {
        **os.environ,
        "PROTHEUS_DB_URL": demo_protheus_dsn,
        "MES_DB_URL": mes_dsn,
        "PUSHER_ENABLED": "false",
        "INGEST_ENABLED": "false",
        "AUDIT_ENABLED": "false",
        "HTTP_HOST": "127.0.0.1",
        "LOG_LEVEL": "WARNING",
    }
    results = await asyncio.gather(*(fuzz(s, env, tmp_path / s) for s in SERVICES))
    failed = {s: report for s, (code, report) in zip(SERVICES, results, strict=True) if code}
    assert not failed, "\n\n".join(f"== {s}\n{report}" for s, report in failed.items())

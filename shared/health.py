"""/healthz (the process answers) and /readyz (the dependencies it needs answer)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from shared.auth import presented_key
from shared.envelope import json_response, success
from shared.keys import HEALTH_CHECKS, KEYRING, REQUEST_ID, HealthCheck
from shared.preflight import Endpoint

CHECK_TIMEOUT_S = 3.0


def add_check(
    app: web.Application,
    name: str,
    probe: Callable[[], Awaitable[object]],
    *,
    required: bool,
    endpoint: Endpoint | None = None,
) -> None:
    """Register a dependency probe; names are unique, so composed services share checks.

    A required check with an endpoint also stops a service at start, in one line, when that
    server does not answer (shared.app.run_service).
    """
    checks = app[HEALTH_CHECKS]
    if all(check.name != name for check in checks):
        checks.append(HealthCheck(name=name, probe=probe, required=required, endpoint=endpoint))


async def _run(check: HealthCheck) -> dict[str, object]:
    started = time.perf_counter()
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_S):
            details = await check.probe()
    except Exception as exc:  # any failure means down; the reason goes in the body
        return {
            "status": "down",
            "required": check.required,
            "error": f"{type(exc).__name__}: {exc}"[:300],
        }
    result: dict[str, object] = {
        "status": "up",
        "required": check.required,
        "latencyMs": round((time.perf_counter() - started) * 1000, 1),
        # A probe may say more about the dependency (the Protheus SQL dialect, spool figures).
        **(details if isinstance(details, dict) else {}),
    }
    return result


async def healthz(request: web.Request) -> web.Response:
    return success({"status": "ok"}, "Serviço em execução.")


def _shows_errors(request: web.Request) -> bool:
    """Only a caller with a valid key sees why a dependency is down.

    /readyz is public (orchestrators probe it without a key), and an exception's text can name
    hosts, users and paths: without a key the answer says up or down and nothing more.
    """
    presented = presented_key(request)
    return presented is not None and request.app[KEYRING].find(presented) is not None


async def readyz(request: web.Request) -> web.Response:
    """200 when every required dependency answers; 503 naming those that do not."""
    checks = request.app[HEALTH_CHECKS]
    results = await asyncio.gather(*(_run(check) for check in checks))
    if not _shows_errors(request):
        for result in results:
            result.pop("error", None)
    report = {check.name: result for check, result in zip(checks, results, strict=True)}
    down = [name for name, r in report.items() if r["status"] == "down" and r["required"]]
    data = {"status": "not_ready" if down else "ready", "checks": report}
    if not down:
        return success(data, "Todas as dependências necessárias estão disponíveis.")
    request_id = request.get(REQUEST_ID)
    body = {
        "success": False,
        "message": f"Dependências indisponíveis: {', '.join(down)}.",
        "error": {
            "code": "dependency_unavailable",
            "details": [
                {
                    "field": name,
                    "rule": "reachable",
                    "message": str(report[name].get("error", "indisponível")),
                }
                for name in down
            ],
            "requestId": request_id,
        },
        "data": data,
    }
    return json_response(body, status=503)

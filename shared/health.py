"""/healthz (the process answers) and /readyz (the dependencies it needs answer)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from shared.envelope import json_response, success
from shared.keys import HEALTH_CHECKS, REQUEST_ID, HealthCheck

CHECK_TIMEOUT_S = 3.0


def add_check(
    app: web.Application, name: str, probe: Callable[[], Awaitable[object]], *, required: bool
) -> None:
    """Register a dependency probe; names are unique, so composed services share checks."""
    checks = app[HEALTH_CHECKS]
    if all(check.name != name for check in checks):
        checks.append(HealthCheck(name=name, probe=probe, required=required))


async def _run(check: HealthCheck) -> dict[str, object]:
    started = time.perf_counter()
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_S):
            detail = await check.probe()
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
    }
    if isinstance(detail, dict):  # a probe may describe what it found (figures, notes)
        result["detail"] = detail
    return result


async def healthz(request: web.Request) -> web.Response:
    return success({"status": "ok"}, "Serviço em execução.")


async def readyz(request: web.Request) -> web.Response:
    """200 when every required dependency answers; 503 naming those that do not."""
    checks = request.app[HEALTH_CHECKS]
    results = await asyncio.gather(*(_run(check) for check in checks))
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
                {"field": name, "rule": "reachable", "message": str(report[name].get("error", ""))}
                for name in down
            ],
            "requestId": request_id,
        },
        "data": data,
    }
    return json_response(body, status=503)

"""Fault injection on /rest (latency, 5xx, dropped connections) and its switch at /_sim."""

from __future__ import annotations

from aiohttp import web

from protheus_demo.simulator.config import FaultSettings
from protheus_demo.simulator.errors import Handler, RestFault, json_response
from protheus_demo.simulator.keys import get_faults
from shared.json import loads

DROPPED_STATUS = 444  # nginx's "closed without response", for the access log only

_SERVER_ERRORS = {
    500: ("Erro interno no servidor de aplicação.", "THREAD ERROR: falha simulada (error_rate)"),
    503: (
        "Serviço temporariamente indisponível.",
        "AppServer sem threads disponíveis (error_rate)",
    ),
}


@web.middleware
async def fault_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Latency and 500/503 answers on /rest, decided before anything is read or written."""
    if not request.path.startswith("/rest/"):
        return await handler(request)
    faults = get_faults(request.app)
    faults.counters["requests"] += 1
    await faults.delay()
    status = faults.server_error()
    if status is not None:
        message, detailed = _SERVER_ERRORS[status]
        raise RestFault(status, message, detailed)
    return await handler(request)


def close_without_answer(request: web.Request) -> web.Response:
    """Close the connection with no byte of answer: the client sees a disconnection.

    The returned response is never sent (the transport is gone); it only gives the
    access log a status to show.
    """
    transport = request.transport
    if transport is not None:
        transport.close()
    return web.Response(status=DROPPED_STATUS)


async def get_fault_settings(request: web.Request) -> web.Response:
    """GET /_sim/faults: the current settings and the counters of injected faults."""
    return json_response(get_faults(request.app).snapshot())


async def put_fault_settings(request: web.Request) -> web.Response:
    """PUT /_sim/faults: replace every setting (absent fields are off)."""
    try:
        raw = await request.json(loads=loads)
        settings = FaultSettings.from_mapping(raw)
    except ValueError as exc:  # bad JSON, or FaultSettingsError (a ValueError)
        raise RestFault(400, f"Configuração de falhas inválida: {exc}", "SIMFAULTS") from None
    faults = get_faults(request.app)
    faults.configure(settings)
    return json_response(faults.snapshot())


async def reset_faults(request: web.Request) -> web.Response:
    """POST /_sim/reset: every fault off, counters back to zero."""
    faults = get_faults(request.app)
    faults.reset()
    return json_response(faults.snapshot())

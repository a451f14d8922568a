"""GET /api/v1/events: the live stream (text/event-stream) of what the caller's key may see."""

from __future__ import annotations

import asyncio

from aiohttp import web
from aiohttp_sse import EventSourceResponse

from services.web.keys import EVENT_FEED
from shared.auth import ANY_KEY
from shared.endpoint import endpoint
from shared.keys import CALLER, SETTINGS

SERVICE = "web"


@endpoint(
    service=SERVICE,
    scope=ANY_KEY,
    summary="Eventos ao vivo (server-sent events)",
    description=(
        "Qualquer chave válida; a chave vai no cabeçalho (`Authorization: Bearer <chave>` ou "
        "`X-API-Key`), nunca na URL. Fluxo `text/event-stream` com os eventos que os escopos da "
        "chave permitem: `machine.state` {machine, state, reason, ts} (telemetry:read), "
        "`report.status` {id, order, status, error} e `stop.status` {id, machine, status, "
        "reason} (production:read), `anomaly` {id, machine, kind, status} e `risk` {machine, "
        "risk, alert} (telemetry:read). Cada evento tem `id:`; reconecte com `Last-Event-ID` "
        "para receber os que perdeu (os mais recentes que o servidor ainda guarda; após um "
        "reinício do serviço ou quando os perdidos já não cabem, o fluxo começa com um evento "
        "`reset`: recarregue os dados pela API). Comentários `: ping` mantêm a "
        "conexão viva (WEB_EVENTS_PING_S)."
    ),
    errors=(401,),
)
async def events(request: web.Request) -> web.StreamResponse:
    feed = request.app[EVENT_FEED]
    ping_s = request.app[SETTINGS].web.events_ping_s
    # Lines end with \n only: a parser never sees a \r\n split across two chunks.
    stream = EventSourceResponse(ping_interval=ping_s, sep="\n")
    subscription = feed.subscribe(request[CALLER], request.headers.get("Last-Event-ID"))
    try:
        await stream.prepare(request)
        async with stream:
            if subscription.reset is not None:
                await stream.send("{}", id=subscription.reset, event="reset")
            while stream.is_connected() and not subscription.dropped:
                try:
                    # Bounded wait: a client gone quiet is noticed by the ping task, and
                    # this loop sees it at the latest one ping later.
                    event = await asyncio.wait_for(subscription.queue.get(), timeout=ping_s)
                except TimeoutError:
                    continue
                if event is None:
                    break
                await stream.send(event.data, id=event.id, event=event.name)
    except (ConnectionResetError, TimeoutError):
        pass  # the client went away or stopped reading
    finally:
        feed.unsubscribe(subscription)
    return stream

"""Application factory of the web service: base app, resources in start order, routes."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from services.web.assets.bundle import load_bundle
from services.web.events.feed import EventFeed
from services.web.keys import BUNDLE, EVENT_FEED
from services.web.routes import add_routes
from shared.app import Resource, add_resources, audit_log, create_service_app, mes_database, running
from shared.health import add_check
from shared.keys import MES_POOL, SETTINGS
from shared.openapi import publish_openapi
from shared.settings import Settings

SERVICE = "web"
DESCRIPTION = (
    "O aplicativo web (página única em /) e o fluxo de eventos ao vivo: estados de máquinas, "
    "status de apontamentos e paradas, anomalias e risco. A página guarda a chave de API na "
    "sessão do navegador e a envia em `Authorization: Bearer <chave>`."
)


async def event_feed(app: web.Application) -> AsyncIterator[None]:
    """One poller per process reading the MES database's changes for every client."""
    settings = app[SETTINGS]
    feed = EventFeed(app[MES_POOL], tz=settings.tz, poll_s=settings.web.events_poll_s)
    async with running(app, EVENT_FEED, feed):
        yield


async def close_event_streams(app: web.Application) -> None:
    """On shutdown, before aiohttp waits for open requests: end the event streams, which
    would otherwise hold the stop for the whole shutdown timeout."""
    feed = app.get(EVENT_FEED)
    if feed is not None:
        feed.close_all()


def add_event_feed_check(app: web.Application) -> None:
    """The poller's figures on /readyz; not a readiness gate (the MES database check is)."""

    async def probe() -> dict[str, object]:
        feed = app.get(EVENT_FEED)
        if feed is None:
            return {"running": False}
        if feed.last_error is not None:
            raise RuntimeError(f"leitura de eventos falhou: {feed.last_error}")
        return feed.status()

    add_check(app, "web_events", probe, required=False)


def setup(app: web.Application) -> None:
    """The web service on an app: its own, or the devserver's composed one."""
    # The static folder is read and versioned once, before the app serves.
    app[BUNDLE] = load_bundle()
    add_resources(app, audit_log, mes_database, Resource(event_feed, add_event_feed_check))
    app.on_shutdown.append(close_event_streams)
    add_routes(app)
    publish_openapi(app, SERVICE, "Web API", DESCRIPTION)


def create_app(settings: Settings) -> web.Application:
    """The web service alone, as `python -m services.web` serves it."""
    return create_service_app(settings, setup)

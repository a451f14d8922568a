"""Application keys of the web service."""

from __future__ import annotations

from typing import Final

from aiohttp import web

from services.web.assets.bundle import Bundle
from services.web.events.feed import EventFeed

BUNDLE: Final = web.AppKey("web_bundle", Bundle)
EVENT_FEED: Final = web.AppKey("web_event_feed", EventFeed)

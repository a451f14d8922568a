"""Application keys of the web service."""

from __future__ import annotations

from typing import Final

from aiohttp import web

from services.web.assets.bundle import Bundle

BUNDLE: Final = web.AppKey("web_bundle", Bundle)

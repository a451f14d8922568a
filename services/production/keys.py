"""Application keys of the production service's background pusher and its HTTP session."""

from __future__ import annotations

from typing import Final

import aiohttp
from aiohttp import web

from services.production.pusher.pusher import Pusher

PROTHEUS_REST: Final = web.AppKey("protheus_rest_session", aiohttp.ClientSession)
PUSHER: Final = web.AppKey("pusher", Pusher)

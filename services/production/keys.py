"""Application keys of the production service's background workers (pusher, stop detector)
and the pusher's HTTP session."""

from __future__ import annotations

from typing import Final

import aiohttp
from aiohttp import web

from services.production.pusher.pusher import Pusher
from services.production.stops.detector import StopDetector

PROTHEUS_REST: Final = web.AppKey("protheus_rest_session", aiohttp.ClientSession)
PUSHER: Final = web.AppKey("pusher", Pusher)
STOP_DETECTOR: Final = web.AppKey("stop_detector", StopDetector)

"""Application key of the telemetry service's background ingestor."""

from __future__ import annotations

from typing import Final

from aiohttp import web

from services.telemetry.ingest.ingestor import Ingestor

INGESTOR: Final = web.AppKey("ingestor", Ingestor)

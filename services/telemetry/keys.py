"""Application keys of the telemetry service."""

from __future__ import annotations

from typing import Final

from aiohttp import web

from services.telemetry.ingest.ingestor import Ingestor
from services.telemetry.settings import IngestSettings

INGEST_SETTINGS: Final = web.AppKey("ingest_settings", IngestSettings)
INGESTOR: Final = web.AppKey("ingestor", Ingestor)

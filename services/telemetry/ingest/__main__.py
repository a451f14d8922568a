"""python -m services.telemetry.ingest: the MQTT ingestor alone (scale it out apart from the API)."""

from __future__ import annotations

import asyncio
import logging
import signal

from prometheus_client import CollectorRegistry, start_http_server

from services.telemetry.ingest.ingestor import IngestMetrics, Ingestor
from shared.app import load_settings_or_exit
from shared.db.pools import create_pg_pool
from shared.logging import configure_logging

log = logging.getLogger("telemetry.ingest")


async def main() -> None:
    settings = load_settings_or_exit()
    configure_logging(settings.log_level, service="telemetry-ingest")
    pool = await create_pg_pool(settings.mes_db_url, max_size=4, ca_file=settings.db_ca_file)
    registry = CollectorRegistry()
    if settings.ingest.metrics_port:  # no HTTP app here: its figures on a port of their own
        start_http_server(settings.ingest.metrics_port, addr="127.0.0.1", registry=registry)
    ingestor = Ingestor(pool, settings, settings.ingest, IngestMetrics(registry))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await ingestor.start()
    try:
        await stop.wait()
    finally:
        await ingestor.stop()
        await pool.close()


if __name__ == "__main__":
    asyncio.run(main())

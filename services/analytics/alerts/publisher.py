"""The alert publisher: alert_outbox -> MQTT mes/v1/<site>/<area>/<line>/<machine>/alert (QoS 1).

Writers (the anomaly detector, the risk scorer) insert alerts in the transaction of what they
announce; this resource of the analytics app publishes the unpublished ones in id order after
commit, and marks each batch published once the broker acknowledged every message in it
(PUBACK): a broker outage delays alerts, never loses them (after a crash between PUBACK and
the mark, an alert may be sent twice: QoS 1 is at least once; each payload carries its outbox
id, `alertId`, for consumers to drop repeats). It wakes on NOTIFY
alert_outbox, or polls every ANALYTICS_ALERT_POLL_S; a broken connection is retried with a
backoff up to ANALYTICS_ALERT_BACKOFF_MAX_S.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import aiomqtt
import asyncpg
from aiohttp import web

from services.analytics.alerts import queries
from services.analytics.alerts.queries import CHANNEL
from shared.app import Resource
from shared.db.listen import Wakeup
from shared.health import add_check
from shared.keys import MES_POOL, SETTINGS
from shared.mqtt import BrokerAddress
from shared.settings import Settings

log = logging.getLogger(__name__)

BATCH = 200
BACKOFF_MIN_S = 0.2
PUBACK_TIMEOUT_S = 10.0

PUBLISHER: web.AppKey[AlertPublisher] = web.AppKey("analytics_alert_publisher")


def alert_topic(site: str, area: str, line: str, machine: str) -> str:
    return f"mes/v1/{site}/{area}/{line}/{machine}/alert"


class AlertPublisher:
    """Publishes the outbox; start()/stop(), status() for /readyz."""

    def __init__(self, pool: asyncpg.Pool, settings: Settings) -> None:
        self.pool = pool
        self.settings = settings
        self.config = settings.analytics
        self.broker = BrokerAddress.from_url(settings.analytics.mqtt_url)
        self.published = 0
        self.connected = False
        self.last_error: str | None = None
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._listener = Wakeup(
            self.settings.mes_db_url,
            CHANNEL,
            self._wake,
            ca_file=self.settings.db_ca_file,
            application_name="mes-alert-publisher",
        )

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="analytics-alert-publisher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._listener.close()

    def wake(self) -> None:
        self._wake.set()

    def status(self) -> dict[str, object]:
        return {
            "broker": "connected" if self.connected else "disconnected",
            "published": self.published,
            "last_error": self.last_error,
        }

    def _client(self) -> aiomqtt.Client:
        return aiomqtt.Client(
            self.broker.host,
            self.broker.port,
            username=self.broker.username,
            password=self.broker.password,
            identifier=self.config.mqtt_client_id,
            tls_context=self.broker.tls_context(self.settings.mqtt_ca_file),
            timeout=PUBACK_TIMEOUT_S,
        )

    async def _run(self) -> None:
        backoff = BACKOFF_MIN_S
        while True:
            await self._listener.ensure()
            try:
                async with self._client() as client:
                    self.connected = True
                    self.last_error = None
                    backoff = BACKOFF_MIN_S
                    log.info(
                        "alert publisher connected to %s:%s", self.broker.host, self.broker.port
                    )
                    await self._serve(client)
            except asyncio.CancelledError:
                raise
            except (
                aiomqtt.MqttError,
                OSError,
                asyncpg.PostgresError,
                asyncpg.InterfaceError,
            ) as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"[:300]
                log.warning("alert publisher: %s; retrying in %.1f s", exc, backoff)
            except Exception as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"[:300]
                log.exception("alert publisher failed; retrying in %.1f s", backoff)
            finally:
                self.connected = False
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self.config.alert_backoff_max_s)

    async def _serve(self, client: aiomqtt.Client) -> None:
        while True:
            self._wake.clear()
            sent = await self.publish_batch(client)
            if sent >= BATCH:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.config.alert_poll_s)

    async def publish_batch(self, client: aiomqtt.Client) -> int:
        """Publish up to BATCH alerts in id order under the publisher's lock; marks those the
        broker acknowledged, in the same transaction. When a publish fails, the marks of those
        acknowledged before it are committed, then the failure is raised (they would be sent
        again after the reconnection otherwise)."""
        failure: BaseException | None = None
        async with self.pool.acquire() as conn:
            async with conn.transaction():
                if not await queries.try_lock(conn):
                    return 0
                rows = await queries.unpublished(conn, limit=BATCH)
                done: list[int] = []
                try:
                    for row in rows:
                        payload = row["payload"]
                        body = payload.encode() if isinstance(payload, str) else bytes(payload)
                        topic = alert_topic(row["site"], row["area"], row["line"], row["machine"])
                        await client.publish(topic, body, qos=1)
                        done.append(row["id"])
                except (Exception, asyncio.CancelledError) as exc:
                    failure = exc  # raised once the marks below are committed
                await queries.mark_published(conn, ids=done)
            self.published += len(done)
        if failure is not None:
            raise failure
        return len(done)

    # --- LISTEN ------------------------------------------------------------------------------


async def alert_publisher(app: web.Application) -> AsyncIterator[None]:
    """The publisher's resource: runs with ANALYTICS_ENABLED."""
    settings = app[SETTINGS]
    if not settings.analytics.enabled:
        yield
        return
    publisher = AlertPublisher(app[MES_POOL], settings)
    await publisher.start()
    app[PUBLISHER] = publisher
    try:
        yield
    finally:
        await publisher.stop()


def add_publisher_check(app: web.Application) -> None:
    """The broker as the publisher sees it, on /readyz (never gating readiness)."""

    async def publisher_status() -> dict[str, object]:
        publisher = app.get(PUBLISHER)
        return {"enabled": False} if publisher is None else publisher.status()

    add_check(app, "alert_publisher", publisher_status, required=False)


ALERT_PUBLISHER = Resource(alert_publisher, add_publisher_check)

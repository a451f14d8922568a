"""The MQTT ingestor: persistent QoS 1 session, batches written with COPY, acks after commit.

Nothing the broker handed over is lost: a message is acknowledged only once its rows (or
its dead letter) are committed. Until then it stays in the broker's in-flight window and
session, so a crash, a broker restart or a database outage means redelivery, and the
tables' keys store a redelivered message once. A slow database holds acknowledgements
back, the in-flight window fills and the broker stops sending: backpressure, not loss.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import random
import time

import aiomqtt
import asyncpg
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from services.telemetry.ingest.acks import ack, manual_ack_client
from services.telemetry.ingest.parse import Parsed, parse_message
from services.telemetry.ingest.store import TelemetryStore
from services.telemetry.partitions import drop_expired, ensure_ahead
from services.telemetry.settings import IngestSettings
from shared.mqtt import BrokerAddress
from shared.settings import Settings

log = logging.getLogger(__name__)

# All of mes/v1, so a malformed topic reaches us and is dead-lettered rather than unseen.
TOPIC = "mes/v1/#"
# Errors about a message's own data (not the database's health): retrying cannot help.
REFUSED_DATA = (
    asyncpg.DataError,
    asyncpg.IntegrityConstraintViolationError,
    OverflowError,
    ValueError,
)


class IngestMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.messages = Counter(
            "telemetry_messages_total",
            "MQTT messages committed, by outcome.",
            ("outcome",),
            registry=registry,
        )
        self.rows = Counter(
            "telemetry_rows_total", "Rows offered to the database.", registry=registry
        )
        self.flush = Histogram(
            "telemetry_flush_seconds", "Time to commit one batch.", registry=registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )  # fmt: skip
        self.pending = Gauge(
            "telemetry_pending_messages", "Messages read but not yet committed.", registry=registry
        )
        self.reconnects = Counter(
            "telemetry_reconnects_total", "Broker reconnections.", registry=registry
        )
        self.db_retries = Counter(
            "telemetry_db_retries_total", "Failed batch writes retried.", registry=registry
        )


class Ingestor:
    """Reads mes/v1/# and stores it; start()/stop() from a cleanup context; several may run."""

    def __init__(
        self, pool: asyncpg.Pool, settings: Settings, config: IngestSettings, metrics: IngestMetrics
    ) -> None:
        self.pool = pool
        self.settings = settings
        self.config = config
        self.metrics = metrics
        self.store = TelemetryStore()
        self.broker = BrokerAddress.from_url(settings.mqtt_url)
        self.connected = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._rng = random.Random()  # noqa: S311 - jitter, not security
        self._last_retention = 0.0

    @property
    def topic(self) -> str:
        group = self.settings.mqtt_shared_group
        return f"$share/{group}/{TOPIC}" if group else TOPIC

    async def start(self) -> None:
        self._stopping.clear()
        self._task = asyncio.create_task(self._run(), name="telemetry-ingestor")

    async def stop(self) -> None:
        self._stopping.set()
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def _client(self) -> aiomqtt.Client:
        v5 = bool(self.settings.mqtt_shared_group)
        options: dict[str, object] = {
            "hostname": self.broker.host,
            "port": self.broker.port,
            "username": self.broker.username,
            "password": self.broker.password,
            "identifier": self.settings.mqtt_client_id,
            "tls_context": self.broker.tls_context(self.settings.mqtt_ca_file),
            "keepalive": 30,
        }
        if v5:
            properties = Properties(PacketTypes.CONNECT)
            properties.SessionExpiryInterval = self.config.session_expiry_s
            options |= {
                "protocol": aiomqtt.ProtocolVersion.V5,
                "clean_start": False,
                "properties": properties,
            }
        else:
            options |= {"protocol": aiomqtt.ProtocolVersion.V311, "clean_session": False}
        return manual_ack_client(**options)

    async def _run(self) -> None:
        delay = self.config.reconnect_min_s
        while not self._stopping.is_set():
            try:
                await self._session()
                delay = self.config.reconnect_min_s
                continue
            except (aiomqtt.MqttError, OSError) as exc:
                log.warning("broker connection lost (%s); reconnecting in %.1f s", exc, delay)
            except Exception:
                # Never die: what was not acknowledged is redelivered after the reconnect.
                log.exception("ingestor session failed; reconnecting in %.1f s", delay)
            self.connected.clear()
            self.metrics.reconnects.inc()
            await asyncio.sleep(delay * self._rng.uniform(0.5, 1.0))
            delay = min(self.config.reconnect_max_s, delay * 2)

    async def _session(self) -> None:
        client = self._client()
        async with client:
            await client.subscribe(self.topic, qos=1)
            self.connected.set()
            log.info("subscribed to %s as %s", self.topic, self.settings.mqtt_client_id)
            inbox: asyncio.Queue[aiomqtt.Message] = asyncio.Queue()

            async def read() -> None:
                # Never cancelled mid-message: a message taken from aiomqtt's queue reaches ours.
                async for message in client.messages:
                    inbox.put_nowait(message)

            reader = asyncio.create_task(read())
            try:
                await self._consume(client, inbox, reader)
            finally:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                    await reader

    async def _consume(
        self,
        client: aiomqtt.Client,
        inbox: asyncio.Queue[aiomqtt.Message],
        reader: asyncio.Task[None],
    ) -> None:
        pending: list[tuple[aiomqtt.Message, Parsed]] = []
        deadline = 0.0
        while True:
            if reader.done():
                reader.result()  # the broker went away: raise its MqttError
            await self._maintain()
            timeout = max(deadline - time.monotonic(), 0) if pending else self.config.flush_s
            try:
                message = await asyncio.wait_for(inbox.get(), timeout=timeout)
            except TimeoutError:
                message = None
            if message is not None:
                if not pending:
                    deadline = time.monotonic() + self.config.flush_s
                pending.append((message, self._parse(message)))
                self.metrics.pending.set(len(pending))
            full = len(pending) >= min(self.config.batch_size, self.config.inflight)
            if pending and (full or time.monotonic() >= deadline):
                await self._commit([parsed for _, parsed in pending])
                for done, _ in pending:
                    ack(client, done)
                pending.clear()
                self.metrics.pending.set(0)

    def _parse(self, message: aiomqtt.Message) -> Parsed:
        payload = (
            message.payload
            if isinstance(message.payload, bytes | bytearray)
            else str(message.payload).encode()
        )
        parsed = parse_message(
            str(message.topic),
            bytes(payload),
            tz=self.settings.tz,
            now=dt.datetime.now(dt.UTC),
            retention_days=self.settings.telemetry_retention_days,
        )
        self.metrics.messages.labels(
            "dead_letter" if parsed.dead and not parsed.machine else "stored"
        ).inc()
        return parsed

    async def _commit(self, batch: list[Parsed]) -> None:
        """Write until it succeeds (or we stop); meanwhile nothing is acknowledged or read."""
        delay = self.config.reconnect_min_s
        while True:
            started = time.perf_counter()
            try:
                async with self.pool.acquire(timeout=10) as conn:
                    try:
                        rows = await self.store.write(conn, batch)
                    except REFUSED_DATA:
                        # One message the database refuses must not hold the stream back:
                        # write one by one and dead-letter only what is refused.
                        rows = await self.store.write_each(conn, batch)
            except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                if self._stopping.is_set():
                    raise
                self.metrics.db_retries.inc()
                log.warning(
                    "batch write failed (%s); retrying in %.1f s, nothing acknowledged", exc, delay
                )
                await asyncio.sleep(delay * self._rng.uniform(0.5, 1.0))
                delay = min(self.config.reconnect_max_s, delay * 2)
                continue
            self.metrics.flush.observe(time.perf_counter() - started)
            self.metrics.rows.inc(rows)
            return

    async def _maintain(self) -> None:
        """Partitions ahead and retention, at most every `retention_every_s`."""
        if time.monotonic() - self._last_retention < self.config.retention_every_s:
            return
        self._last_retention = time.monotonic()
        today = dt.datetime.now(dt.UTC).date()
        try:
            async with self.pool.acquire(timeout=10) as conn:
                await ensure_ahead(conn, today)
                dropped = await drop_expired(
                    conn, today, self.settings.telemetry_retention_days + 1
                )
        except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("partition maintenance failed: %s", exc)
            return
        self.store.known_days.clear()
        if dropped:
            log.info("dropped telemetry partitions older than retention: %s", dropped)

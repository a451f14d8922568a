"""The MQTT ingestor: persistent QoS 1 session, batches written with COPY, acks after commit.

Nothing the broker handed over is lost: a message is acknowledged only once its rows (or
its dead letter) are committed. Until then the broker keeps it in the session, so a crash,
a broker restart or a database outage means redelivery, and the tables' keys store a
redelivered message once. A slow database holds the reader back: at most a batch being
committed, one waiting and one filling, plus a bounded client buffer, after which the client
stops reading its socket (acks.ManualAckClient) and the broker queues the rest in the
persistent session: backpressure, not loss, and memory that does not grow with the stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import random
import time
from asyncio import FIRST_COMPLETED
from dataclasses import dataclass, field

import aiomqtt
import asyncpg
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from services.telemetry.ingest.acks import ManualAckClient
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


Received = tuple[aiomqtt.Message, Parsed]


@dataclass
class Filling:
    """The batch the reader is filling, and when its first message arrived."""

    items: list[Received] = field(default_factory=list)
    since: float = 0.0


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
        self._reader: asyncio.Task[None] | None = None  # the current session's reader

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

    def _client(self) -> ManualAckClient:
        v5 = bool(self.settings.mqtt_shared_group)
        options: dict[str, object] = {
            "hostname": self.broker.host,
            "port": self.broker.port,
            "username": self.broker.username,
            "password": self.broker.password,
            "identifier": self.settings.mqtt_client_id,
            "tls_context": self.broker.tls_context(self.settings.mqtt_ca_file),
            "keepalive": self.config.keepalive_s,
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
        return ManualAckClient(high_water=self.batch_limit, **options)

    async def _run(self) -> None:
        delay = self.config.reconnect_min_s
        while not self._stopping.is_set():
            if self.connected.is_set():
                delay = self.config.reconnect_min_s  # the last session came up: start over
            self.connected.clear()
            try:
                await self._session()
                continue
            except (aiomqtt.MqttError, OSError) as exc:
                log.warning("broker connection lost (%s); reconnecting in %.1f s", exc, delay)
            except Exception:
                # Never die: what was not acknowledged is redelivered after the reconnect.
                log.exception("ingestor session failed; reconnecting in %.1f s", delay)
            self.metrics.reconnects.inc()
            await asyncio.sleep(delay * self._rng.uniform(0.5, 1.0))
            delay = min(self.config.reconnect_max_s, delay * 2)

    @property
    def batch_limit(self) -> int:
        """Messages per flush: at most half the broker's in-flight window, so the broker
        sends the other half while one batch commits (and a full window always flushes).
        It is also the client's buffer: past it, the socket is not read until half drains."""
        return max(1, min(self.config.batch_size, self.config.inflight // 2))

    async def _session(self) -> None:
        client = self._client()
        async with client:
            await client.subscribe(self.topic, qos=1)
            self.connected.set()
            log.info("subscribed to %s as %s", self.topic, self.settings.mqtt_client_id)
            # One full batch waits while another commits; a second one stops the reader, the
            # client's buffer fills and it stops reading its socket: the broker keeps the rest.
            ready: asyncio.Queue[list[Received]] = asyncio.Queue(maxsize=1)
            filling = Filling()
            reader = asyncio.create_task(self._read(client, ready, filling))
            self._reader = reader
            try:
                await self._commit_loop(client, ready, filling, reader)
            finally:
                # Cancelling loses nothing: what was read and not acknowledged is sent again
                # by the broker when the persistent session resumes.
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                    await reader

    async def _read(
        self, client: ManualAckClient, ready: asyncio.Queue[list[Received]], filling: Filling
    ) -> None:
        """Parse each message as it arrives into the batch being filled; hand full ones over."""
        limit = self.batch_limit
        async for message in client.incoming():
            if not filling.items:
                filling.since = time.monotonic()
            filling.items.append((message, self._parse(message)))
            if len(filling.items) >= limit:
                batch, filling.items = filling.items, []
                await ready.put(batch)
        raise aiomqtt.MqttError("a sequência de mensagens do broker terminou")

    async def _commit_loop(
        self,
        client: ManualAckClient,
        ready: asyncio.Queue[list[Received]],
        filling: Filling,
        reader: asyncio.Task[None],
    ) -> None:
        """Commit batches in the order they were read, then acknowledge their messages (in
        that order too, as MQTT wants): a full batch at once, a partial one after flush_s."""
        while True:
            await self._maintain()
            batch = await self._next_batch(ready, filling, reader)
            if not batch:
                continue
            self.metrics.pending.set(len(batch) + len(filling.items) + ready.qsize() * len(batch))
            await self._commit([parsed for _, parsed in batch])
            for message, _ in batch:
                client.ack(message)
            dead = sum(1 for _, parsed in batch if parsed.dead and not parsed.machine)
            self.metrics.messages.labels("stored").inc(len(batch) - dead)
            self.metrics.messages.labels("dead_letter").inc(dead)
            self.metrics.pending.set(len(filling.items))

    async def _next_batch(
        self, ready: asyncio.Queue[list[Received]], filling: Filling, reader: asyncio.Task[None]
    ) -> list[Received]:
        """The next full batch; else, once the oldest message waited flush_s, the partial one."""
        if ready.empty():
            now = time.monotonic()
            wait = (
                filling.since + self.config.flush_s - now if filling.items else self.config.flush_s
            )
            if wait > 0:
                getter = asyncio.ensure_future(ready.get())
                try:
                    await asyncio.wait({getter, reader}, timeout=wait, return_when=FIRST_COMPLETED)
                    if getter.done():
                        return getter.result()
                finally:
                    # A cancelled get leaves any batch in the queue for the next round.
                    getter.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await getter
        if reader.done():
            reader.result()  # the broker went away: raise its MqttError
        if not ready.empty():
            return ready.get_nowait()
        if filling.items and time.monotonic() - filling.since >= self.config.flush_s:
            batch, filling.items = filling.items, []
            return batch
        return []

    def _parse(self, message: aiomqtt.Message) -> Parsed:
        payload = (
            message.payload
            if isinstance(message.payload, bytes | bytearray)
            else str(message.payload).encode()
        )
        return parse_message(
            str(message.topic),
            bytes(payload),
            tz=self.settings.tz,
            now=dt.datetime.now(dt.UTC),
            retention_days=self.settings.telemetry_retention_days,
        )

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
                if self._reader is not None and self._reader.done():
                    # While the database was away the paused socket let the keepalive lapse
                    # and the broker connection closed: leave the session (nothing of this
                    # batch was acknowledged, so it comes again) and reconnect.
                    raise aiomqtt.MqttError(
                        "conexão com o broker perdida enquanto o banco estava indisponível"
                    ) from exc
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

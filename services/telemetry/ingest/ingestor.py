"""The MQTT ingestor: store and forward through a local durable spool.

A message is acknowledged to the broker once it is in the spool (a write-ahead log on
local disk, made durable by group commits: one fdatasync for every few milliseconds of
messages), not once PostgreSQL has it. So the ingestor reads as fast as the broker sends,
whatever the database does, and a broker's bounded per-client queue (Mosquitto's default
max_queued_messages 1000) never fills while the ingestor is connected. A drainer moves
the spool into PostgreSQL with COPY (first value wins, dead letters with their reasons,
daily partitions), recording how far it got in the same transaction, and releases what is
committed. A crash loses nothing acknowledged: the spool is drained from PostgreSQL's
position on restart, before anything newer (it is one ordered log), and a group torn by
the crash was never acknowledged, so the broker delivers it again. The spool is bounded
by disk: at INGEST_SPOOL_MAX_MB the ingestor stops reading the socket (the broker keeps
the rest, unacknowledged) and says so in /readyz, /metrics and the log.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import datetime as dt
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import aiomqtt
import asyncpg
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from services.telemetry.ingest.acks import ManualAckClient
from services.telemetry.ingest.cpu import HostCpu
from services.telemetry.ingest.parse import Parsed, parse_message
from services.telemetry.ingest.spool import Record, Spool, client_directory, now_ms
from services.telemetry.ingest.store import TelemetryStore
from services.telemetry.partitions import drop_expired, ensure_ahead
from services.telemetry.sparkplug.control import publish_state, state_will, sweep_forever
from services.telemetry.sparkplug.host import Drained, Host
from services.telemetry.sparkplug.topic import TopicError, is_sparkplug, parse_topic
from shared.db.pools import Connection
from shared.mqtt import BrokerAddress
from shared.settings import IngestSettings, Settings

log = logging.getLogger(__name__)

# All of mes/v1, so a malformed topic reaches us and is dead-lettered rather than unseen.
TOPIC = "mes/v1/#"
# Sparkplug B (SPARKPLUG_ENABLED), on the same client and spool: decoded at drain time.
SPARKPLUG_TOPIC = "spBv1.0/#"
T = TypeVar("T")
# Errors about a message's own data (not the database's health): retrying cannot help.
REFUSED_DATA = (
    asyncpg.DataError,
    asyncpg.IntegrityConstraintViolationError,
    OverflowError,
    ValueError,
)
# InternalClientError: a connection left mid-operation by a server that went away.
DB_DOWN = (
    TimeoutError,
    OSError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
)
POSITION = "SELECT position FROM telemetry_spool_positions WHERE spool_id = $1"
RESUME_AT = 0.9  # a full spool is read again once below this fraction of its limit
RATE_WINDOW_S = 10.0
INTAKE_BUSY = 64 * 1024  # messages plus socket bytes waiting: the reader is falling behind
INTAKE_STREAMING_S = 0.25  # a group was made durable this recently: messages are arriving
HOST_SATURATED = 0.9  # processors this busy leave the reader nothing to spare
# While the drainer waits, the host busy less than this over CALM_WINDOW_S means the burst
# (or a spike that looked like one) is over: drain again. Lower than HOST_SATURATED, so the
# drainer's own pause (which frees a little) does not end the wait at once.
HOST_CALM = 0.6
CALM_WINDOW_S = 1.0

BROKER_NOTE = (
    "O broker {broker} não é configurado por este projeto. Se ele limita a fila de cada "
    "cliente (Mosquitto: max_queued_messages, padrão 1000; EMQX: max_mqueue_len, padrão "
    "1000), o que passar desse limite enquanto o ingestor estiver desconectado (reinício, "
    "queda de rede, spool cheio) é descartado pelo broker sem aviso aqui. Conectado, o "
    "ingestor não depende disso: confirma cada mensagem ao gravá-la no spool local. Para "
    "remover o limite no Mosquitto: max_queued_messages 0 e max_queued_bytes 0 (como em "
    "deploy/mosquitto/mosquitto.conf); depois defina MQTT_BROKER_MANAGED=true."
)


class IngestMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.messages = Counter(
            "telemetry_messages_total",
            "MQTT messages committed to PostgreSQL, by outcome.",
            ("outcome",),
            registry=registry,
        )
        self.rows = Counter(
            "telemetry_rows_total", "Rows offered to the database.", registry=registry
        )
        self.flush = Histogram(
            "telemetry_flush_seconds", "Time to commit one drained batch to PostgreSQL.",
            registry=registry, buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )  # fmt: skip
        self.spooled = Counter(
            "telemetry_spooled_messages_total",
            "MQTT messages made durable in the spool and acknowledged.",
            registry=registry,
        )
        self.commit = Histogram(
            "telemetry_spool_commit_seconds", "Group commit latency (write + fdatasync).",
            registry=registry,
            buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1),
        )  # fmt: skip
        self.spool_messages = Gauge(
            "telemetry_spool_messages", "Messages in the spool not yet in PostgreSQL.",
            registry=registry,
        )  # fmt: skip
        self.spool_bytes = Gauge(
            "telemetry_spool_bytes", "Bytes of the spool not yet in PostgreSQL.", registry=registry
        )
        self.spool_disk_bytes = Gauge(
            "telemetry_spool_disk_bytes", "Bytes the spool's files take on disk.", registry=registry
        )
        self.spool_limit_bytes = Gauge(
            "telemetry_spool_limit_bytes", "INGEST_SPOOL_MAX_MB in bytes.", registry=registry
        )
        self.spool_oldest = Gauge(
            "telemetry_spool_oldest_age_seconds",
            "Age of the oldest message in the spool not yet in PostgreSQL (0 when drained).",
            registry=registry,
        )
        self.spool_full = Gauge(
            "telemetry_spool_full",
            "1 while the spool is at its limit and the ingestor does not read the broker.",
            registry=registry,
        )
        self.drain_rate = Gauge(
            "telemetry_drain_messages_per_second",
            f"Messages drained into PostgreSQL per second, over the last {RATE_WINDOW_S:.0f} s.",
            registry=registry,
        )
        self.retention_held = Gauge(
            "telemetry_retention_held_partitions",
            "Daily partitions past retention kept because the lake does not hold the oldest "
            "of them yet (its export of those days is missing, open or behind late data).",
            registry=registry,
        )
        self.reconnects = Counter(
            "telemetry_reconnects_total", "Broker reconnections.", registry=registry
        )
        self.db_retries = Counter(
            "telemetry_db_retries_total", "Failed batch writes retried.", registry=registry
        )
        self.sparkplug_messages = Counter(
            "telemetry_sparkplug_messages_total",
            "Sparkplug B messages committed to PostgreSQL, by message type and outcome (stored, "
            "dead_letter, ignored: commands, STATE, a repeated death, any with SPARKPLUG_ENABLED="
            "false; stale: an old NDEATH, a birth older than the current one).",
            ("type", "outcome"),
            registry=registry,
        )
        self.sparkplug_rebirths = Counter(
            "telemetry_sparkplug_rebirth_requests_total",
            "NCMD Node Control/Rebirth requests published.",
            registry=registry,
        )
        self.sparkplug_stale_deaths = Counter(
            "telemetry_sparkplug_stale_deaths_total",
            "NDEATH messages ignored: their bdSeq is not the node's current one.",
            registry=registry,
        )
        self.sparkplug_ignored_metrics = Counter(
            "telemetry_sparkplug_ignored_metrics_total",
            "Sparkplug String/Text/UUID metrics not stored (neither State nor Reason).",
            registry=registry,
        )

    def bind(self, ingestor: Ingestor) -> None:
        spool = ingestor.spool
        self.spool_messages.set_function(lambda: spool.undrained_records)
        self.spool_bytes.set_function(lambda: spool.undrained_bytes)
        self.spool_disk_bytes.set_function(lambda: spool.disk_bytes)
        self.spool_limit_bytes.set(spool.max_bytes)
        self.spool_oldest.set_function(ingestor.oldest_age_s)
        self.spool_full.set_function(lambda: 1.0 if ingestor.full else 0.0)
        self.drain_rate.set_function(ingestor.drain_rate)


class _HostRefused(Exception):
    """The database refused what the Sparkplug host wrote for a batch (not its rows)."""


class Ingestor:
    """Reads mes/v1/# (and spBv1.0/#, as a Sparkplug B host application) into its spool and
    drains the spool into PostgreSQL; start()/stop() from a cleanup context; several may
    run, each with its own client id and spool."""

    def __init__(
        self, pool: asyncpg.Pool, settings: Settings, config: IngestSettings, metrics: IngestMetrics
    ) -> None:
        self.pool = pool
        self.settings = settings
        self.config = config
        self.metrics = metrics
        self.store = TelemetryStore()
        self.broker = BrokerAddress.from_url(settings.mqtt_url)
        self.spool = Spool(
            client_directory(config.spool_dir, settings.mqtt_client_id),
            max_bytes=int(config.spool_max_mb * 1024 * 1024),
            segment_bytes=int(config.spool_segment_mb * 1024 * 1024),
        )
        self.connected = asyncio.Event()
        self.full = False
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()
        self._rng = random.Random()  # noqa: S311 - jitter, not security
        self._last_retention = 0.0
        self._client: ManualAckClient | None = None
        self._unacked: list[tuple[int, int]] = []  # (mid, qos) in arrival order
        self._has_data = asyncio.Event()
        self._group_full = asyncio.Event()
        self._spooled = asyncio.Event()  # a group became durable: the drainer has work
        self._commit_lock = asyncio.Lock()
        self._drained_total = 0
        self._spooled_at = 0.0  # monotonic time of the last group made durable
        self._cpu = HostCpu()
        self._rate: collections.deque[tuple[float, int]] = collections.deque()
        self.position_loaded = asyncio.Event()
        sparkplug = settings.sparkplug
        self.host = (
            Host(sparkplug, retention_days=settings.telemetry_retention_days)
            if sparkplug.enabled
            else None
        )
        self._state_ms = 0  # the STATE timestamp of this connection (birth and will)
        metrics.bind(self)

    @property
    def topic(self) -> str:
        return self.topics[0]

    @property
    def topics(self) -> list[str]:
        """mes/v1/#, and spBv1.0/# with Sparkplug (both shared under MQTT_SHARED_GROUP)."""
        filters = [TOPIC, SPARKPLUG_TOPIC] if self.host is not None else [TOPIC]
        group = self.settings.mqtt_shared_group
        return [f"$share/{group}/{f}" for f in filters] if group else filters

    @property
    def _sparkplug_filters(self) -> list[str]:
        """spBv1.0/#, and its shared form under MQTT_SHARED_GROUP."""
        group = self.settings.mqtt_shared_group
        return [SPARKPLUG_TOPIC, *([f"$share/{group}/{SPARKPLUG_TOPIC}"] if group else [])]

    @property
    def broker_note(self) -> str | None:
        """What a broker we do not configure may do with a queue limit; None for ours."""
        if self.config.broker_managed:
            return None
        return BROKER_NOTE.format(broker=f"{self.broker.host}:{self.broker.port}")

    async def start(self) -> None:
        self._stopping.clear()
        await asyncio.to_thread(self.spool.open)
        log.info(
            "spool %s: %d messages (%d bytes) not yet in PostgreSQL%s",
            self.spool.directory, self.spool.undrained_records, self.spool.undrained_bytes,
            f", torn tail of {self.spool.torn_bytes} bytes discarded" if self.spool.torn_bytes else "",
        )  # fmt: skip
        if not self.config.broker_managed:
            log.warning(
                "broker %s:%s is not configured by this project: a per-client queue limit there "
                "(Mosquitto max_queued_messages, default 1000) drops what exceeds it while the "
                "ingestor is disconnected; lift it with max_queued_messages 0 and "
                "max_queued_bytes 0 (see deploy/mosquitto/mosquitto.conf), then set "
                "MQTT_BROKER_MANAGED=true",
                self.broker.host, self.broker.port,
            )  # fmt: skip
        self._check_full()
        self._tasks = [
            asyncio.create_task(self._drain_forever(), name="telemetry-drainer"),
            asyncio.create_task(self._run(), name="telemetry-ingestor"),
        ]

    async def stop(self) -> None:
        self._stopping.set()
        client = self._client
        if self.host is not None and client is not None and self.connected.is_set():
            # A clean stop sends no will: say offline first (Sparkplug host rules).
            try:
                await publish_state(
                    client, self.settings.sparkplug.host_id, online=False,
                    timestamp_ms=self._state_ms,
                )  # fmt: skip
            except (aiomqtt.MqttError, TimeoutError) as exc:
                log.warning("Sparkplug STATE offline not published: %s", exc)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        async with self._commit_lock:  # a group being made durable finishes first
            self.spool.close()

    def status(self) -> dict[str, object]:
        """The spool and broker figures /readyz shows."""
        spool = {
            "messages": self.spool.undrained_records,
            "bytes": self.spool.undrained_bytes,
            "diskBytes": self.spool.disk_bytes,
            "limitBytes": self.spool.max_bytes,
            "oldestAgeSeconds": round(self.oldest_age_s(), 3),
            "drainRatePerSecond": round(self.drain_rate(), 1),
            "reading": "paused" if self.full else "running",
        }
        if self.full:
            spool["message"] = (
                f"Spool cheio ({self.spool.disk_bytes // 1048576} MB de "
                f"{self.spool.max_bytes // 1048576} MB): a leitura do broker está suspensa até "
                "o PostgreSQL receber parte do que espera; nada confirmado é descartado."
            )
        status: dict[str, object] = {"connected": self.connected.is_set(), "spool": spool}
        if self.broker_note:
            status["brokerNote"] = self.broker_note
        return status

    def oldest_age_s(self) -> float:
        oldest = self.spool.oldest_ms
        if oldest is None or not self.spool.undrained_records:
            return 0.0
        return max(0.0, (now_ms() - oldest) / 1000)

    def drain_rate(self) -> float:
        if len(self._rate) < 2:
            return 0.0
        (t0, n0), (t1, n1) = self._rate[0], self._rate[-1]
        if time.monotonic() - t1 > RATE_WINDOW_S:
            return 0.0
        return (n1 - n0) / (t1 - t0) if t1 > t0 else 0.0

    # --- broker side ------------------------------------------------------------------------

    def _mqtt_client(self) -> ManualAckClient:
        # MQTT v5: Receive Maximum asks for a wide in-flight window whatever the broker's
        # default (Mosquitto: 20), so messages wait unacknowledged only for a group commit.
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = self.config.session_expiry_s
        properties.ReceiveMaximum = self.config.inflight
        will = None
        if self.host is not None:
            # A new STATE timestamp on every connect, the same in the will and the birth.
            self._state_ms = now_ms()
            will = state_will(self.settings.sparkplug.host_id, self._state_ms)
        return ManualAckClient(
            high_water=max(1000, self.config.commit_messages * 4),
            hostname=self.broker.host,
            port=self.broker.port,
            username=self.broker.username,
            password=self.broker.password,
            identifier=self.settings.mqtt_client_id,
            tls_context=self.broker.tls_context(self.settings.mqtt_ca_file),
            keepalive=self.config.keepalive_s,
            protocol=aiomqtt.ProtocolVersion.V5,
            clean_start=False,
            properties=properties,
            will=will,
        )

    @staticmethod
    def _subscribe_options(topic: str) -> SubscribeOptions:
        """QoS 1. On spBv1.0/# (not shared) no retained messages, no STATE of our own: the
        only retained messages there are hosts' STATE, which the drain skips anyway. A shared
        subscription may not ask No Local, and gets no retained messages."""
        if topic == SPARKPLUG_TOPIC:
            return SubscribeOptions(
                qos=1, noLocal=True, retainHandling=SubscribeOptions.RETAIN_DO_NOT_SEND
            )
        return SubscribeOptions(qos=1)

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

    async def _session(self) -> None:
        client = self._mqtt_client()
        # What a former session buffered and did not make durable was not acknowledged:
        # the broker sends it again, so it is dropped here rather than spooled twice.
        self.spool.take_group()
        self._unacked = []
        # Before connecting: a persistent session's queue arrives right after CONNACK.
        self._deliver(client)
        async with client:
            for topic in self.topics:
                await client.subscribe(topic, options=self._subscribe_options(topic))
            if self.host is None:
                # A persistent session of a former run with Sparkplug keeps its spBv1.0
                # subscription (clean_start=False): dropped here (what it queued meanwhile is
                # still delivered, and skipped at drain).
                await client.unsubscribe(self._sparkplug_filters, timeout=10)
            else:
                # Only once subscribed: gateways waiting for their primary host send their
                # births on seeing it online, and a fresh session would miss them before.
                host_id = self.settings.sparkplug.host_id
                await publish_state(client, host_id, online=True, timestamp_ms=self._state_ms)
            self._client = client
            if self.full:
                client.hold()
            self.connected.set()
            log.info("subscribed to %s as %s", ", ".join(self.topics), self.settings.mqtt_client_id)
            reader = asyncio.create_task(client.wait_closed())
            committer = asyncio.create_task(self._commit_groups(client))
            background = [reader, committer]
            if self.host is not None:
                sweep = sweep_forever(
                    self.pool, client, reorder_s=self.settings.sparkplug.reorder_s,
                    now_ms=now_ms, counted=self.metrics.sparkplug_rebirths.inc,
                )  # fmt: skip
                background.append(asyncio.create_task(sweep, name="sparkplug-rebirth-sweep"))
            try:
                done, _ = await asyncio.wait(
                    {reader, committer}, return_when=asyncio.FIRST_COMPLETED
                )
                for task in done:
                    task.result()
            finally:
                self._client = None
                for task in background:
                    task.cancel()
                for task in background:
                    with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                        await task

    def _deliver(self, client: ManualAckClient) -> None:
        """Append each message to the spool's buffer as paho parses it (no per-message task
        or queue); the committer acknowledges it once durable."""
        limit = self.config.commit_messages
        append = self.spool.append
        has_data, group_full = self._has_data, self._group_full

        def sink(topic: str, payload: bytes, mid: int, qos: int) -> None:
            append(topic, payload, now_ms())
            self._unacked.append((mid, qos))
            if not has_data.is_set():
                has_data.set()
            if len(self._unacked) >= limit:
                group_full.set()

        client.deliver_to(sink)

    async def _commit_groups(self, client: ManualAckClient) -> None:
        """Group commit: whatever arrived in the last commit_ms (or commit_messages of it),
        written and fdatasynced at once, then acknowledged in the order it arrived."""
        window = self.config.commit_ms / 1000
        while True:
            await self._has_data.wait()
            if window > 0 and len(self._unacked) < self.config.commit_messages:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._group_full.wait(), window)
            self._has_data.clear()
            self._group_full.clear()
            data, count = self.spool.take_group()
            messages, self._unacked = self._unacked, []
            if not count:
                continue
            started = time.perf_counter()
            # Shielded: once the write began, its bookkeeping must follow whatever happens
            # to this session (a cancelled session leaves these unacknowledged: redelivered).
            await asyncio.shield(self._make_durable(data, count))
            self.metrics.commit.observe(time.perf_counter() - started)
            client.ack_ids(messages)
            self._spooled_at = time.monotonic()
            self.metrics.spooled.inc(count)
            self._check_full()

    async def _make_durable(self, data: bytes, count: int) -> None:
        async with self._commit_lock:
            await asyncio.to_thread(self.spool.commit_blocking, data)
            self.spool.committed(len(data), count)
        self._spooled.set()

    def _check_full(self) -> None:
        """Stop reading at the limit; read again once the drainer made room."""
        if not self.full and self.spool.full:
            self.full = True
            log.warning(
                "spool full (%d of %d bytes on disk): not reading the broker until PostgreSQL "
                "takes some of it; nothing acknowledged is dropped",
                self.spool.disk_bytes, self.spool.max_bytes,
            )  # fmt: skip
            if self._client is not None:
                self._client.hold()
        elif self.full and self.spool.disk_bytes < self.spool.max_bytes * RESUME_AT:
            self.full = False
            log.info(
                "spool below its limit again (%d bytes): reading the broker", self.spool.disk_bytes
            )
            if self._client is not None:
                self._client.unhold()

    # --- database side ----------------------------------------------------------------------

    async def _drain_forever(self) -> None:
        """The drainer never dies: on an unexpected failure it logs, waits and starts again
        from the position PostgreSQL committed (the spool keeps everything meanwhile)."""
        delay = self.config.reconnect_min_s
        while True:
            try:
                await self._drain()
            except asyncio.CancelledError:
                raise
            except Exception:
                if self._stopping.is_set():
                    raise
                self.metrics.db_retries.inc()
                log.exception("spool drainer failed; starting again in %.1f s", delay)
                await asyncio.sleep(delay * self._rng.uniform(0.5, 1.0))
                delay = min(self.config.reconnect_max_s, delay * 2)

    async def _drain(self) -> None:
        """Spool -> PostgreSQL, in spool order, from the position PostgreSQL last committed."""
        await self._load_position()
        limit = self.config.batch_size
        while True:
            await self._maintain()
            await self._yield_to_intake()
            self._spooled.clear()
            records = self.spool.read(self.spool.drained, limit)
            if not records:
                self.spool.oldest_ms = None
                async with self._commit_lock:  # never while a group is being written
                    self.spool.rotate_if_drained(min(1 << 20, self.spool.segment_bytes // 4))
                self._check_full()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._spooled.wait(), self.config.flush_s)
                continue
            self.spool.oldest_ms = records[0].received_ms
            dead = await self._store(records)
            self.spool.release(records[-1].end, len(records))
            self.metrics.messages.labels("stored").inc(len(records) - dead)
            self.metrics.messages.labels("dead_letter").inc(dead)
            self._drained_total += len(records)
            now = time.monotonic()
            self._rate.append((now, self._drained_total))
            while len(self._rate) > 2 and now - self._rate[0][0] > RATE_WINDOW_S:
                self._rate.popleft()
            self._check_full()

    async def _yield_to_intake(self) -> None:
        """Taking messages off the broker comes first: the broker's queue for us is bounded
        (unacknowledged ones included), the spool is not. When messages stream in while the
        reader is short of processor time (unread bytes pile up on the socket, or the host's
        processors are saturated: then the publishers and the broker starve too), the drainer
        waits for the stream to pause or the host to calm down, at most until the oldest
        message in the spool is INGEST_DRAIN_MAX_LAG_S old or the spool half full: a burst faster than this host can
        both take and drain is spooled first and drained after, in one stretch (which is
        also when COPY is cheapest per row)."""
        client = self._client
        if client is None or not self._streaming():
            return
        if client.backlog() <= INTAKE_BUSY and (self._cpu.busy() or 0.0) < HOST_SATURATED:
            return
        oldest = self.spool.read(self.spool.drained, 1)
        if not oldest:
            return
        waited = time.monotonic()
        # Polled, not awaited on an event: the conditions are a clock, the disk, the stream
        # and the host's load.
        while True:
            lag_s = (now_ms() - oldest[0].received_ms) / 1000
            client = self._client
            if (
                lag_s >= self.config.drain_max_lag_s
                or self.spool.disk_bytes >= self.spool.max_bytes // 2
                or client is None
                or not self._streaming()
                or self._calm(client, since=waited)
            ):
                return
            await asyncio.sleep(0.01)

    def _calm(self, client: ManualAckClient, *, since: float) -> bool:
        """The host has room again: the reader keeps up and, over the last CALM_WINDOW_S of
        the drainer's wait, the processors were far from saturated."""
        if time.monotonic() - since < CALM_WINDOW_S or client.backlog() > INTAKE_BUSY:
            return False
        load = self._cpu.busy_over(CALM_WINDOW_S)
        return load is not None and load < HOST_CALM

    def _streaming(self) -> bool:
        return time.monotonic() - self._spooled_at <= INTAKE_STREAMING_S

    async def _load_position(self) -> None:
        delay = self.config.reconnect_min_s
        while True:
            try:
                async with self.pool.acquire(timeout=10) as conn:
                    position = await conn.fetchval(POSITION, self.spool.spool_id)
                break
            except DB_DOWN as exc:
                log.warning("spool position not readable (%s); retrying in %.1f s", exc, delay)
                await asyncio.sleep(delay * self._rng.uniform(0.5, 1.0))
                delay = min(self.config.reconnect_max_s, delay * 2)
        skipped = self.spool.seek_drained(position or 0)
        if skipped:
            log.info("spool: %d messages already in PostgreSQL skipped", skipped)
        self.position_loaded.set()

    def _parse(self, record: Record) -> Parsed:
        return parse_message(
            record.topic,
            record.payload,
            tz=self.settings.tz,
            now=dt.datetime.fromtimestamp(record.received_ms / 1000, dt.UTC),
            retention_days=self.settings.telemetry_retention_days,
        )

    async def _store(self, records: list[Record]) -> int:
        """One drained batch into PostgreSQL with its spool position; how many of its
        messages were dead letters. A batch without Sparkplug records is the JSON path alone
        (no query of the host's)."""
        if self.host is not None and any(is_sparkplug(r.topic) for r in records):
            return await self._commit_sparkplug(self.host, records)
        batch = [self._parse(record) for record in records if not self._skipped(record)]
        await self._commit(batch, records[-1].end)
        return sum(1 for parsed in batch if parsed.dead and not parsed.machine)

    def _skipped(self, record: Record) -> bool:
        """With Sparkplug disabled, its messages (a persistent session's queue from a run
        with it) are skipped: counted as ignored, not dead-lettered."""
        if self.host is not None or not is_sparkplug(record.topic):
            return False
        try:
            kind = parse_topic(record.topic).kind
        except TopicError:
            kind = "invalid"
        self.metrics.sparkplug_messages.labels(kind, "ignored").inc()
        return True

    async def _commit(self, batch: list[Parsed], position: int) -> None:
        """Write until it succeeds (or we stop), with the spool position in the same
        transaction; meanwhile the spool goes on taking messages."""
        where = (self.spool.spool_id, self.settings.mqtt_client_id, position)

        async def write(conn: Connection) -> tuple[int, None]:
            try:
                return await self.store.write(conn, batch, where), None
            except REFUSED_DATA:
                # One message the database refuses must not hold the stream back:
                # write one by one and dead-letter only what is refused.
                return await self.store.write_each(conn, batch, where), None

        await self._retrying(write)

    async def _commit_sparkplug(self, host: Host, records: list[Record]) -> int:
        """A batch holding Sparkplug records: the host applies them in the transaction that
        stores the rows and the spool position, and its birth tables are cached once that
        committed. Returns the dead letters among the records."""
        parsed_json = {
            i: self._parse(r) for i, r in enumerate(records) if not is_sparkplug(r.topic)
        }
        sparkplug = [r for r in records if is_sparkplug(r.topic)]
        where = (self.spool.spool_id, self.settings.mqtt_client_id, records[-1].end)

        async def write(conn: Connection) -> tuple[int, Drained]:
            async with conn.transaction():
                try:
                    drained = await host.drain(conn, sparkplug)
                except REFUSED_DATA as exc:
                    raise _HostRefused(str(exc)) from exc
                host_rows = iter(drained.parsed)
                batch: list[Parsed] = []
                for i in range(len(records)):
                    json_rows = parsed_json.get(i)
                    batch.extend([json_rows] if json_rows is not None else next(host_rows))
                try:
                    # The store's own transactions are savepoints of this one.
                    rows = await self.store.write(conn, batch, where)
                except REFUSED_DATA:
                    rows = await self.store.write_each(conn, batch, where)
            return rows, drained

        try:
            drained = await self._retrying(write)
        except _HostRefused as exc:
            if len(records) > 1:
                # Find the message: each record committed alone, in order.
                log.warning("Sparkplug batch refused by the database (%s); one by one", exc)
                dead = 0
                for record in records:
                    dead += await self._commit_sparkplug(host, [record])
                return dead
            record = records[0]
            reason = f"recusado pelo banco: {exc.__cause__.__class__.__name__}"
            refused = Parsed(dead=[(record.topic, record.payload, reason)])
            await self._commit([refused], record.end)
            self.metrics.sparkplug_messages.labels("invalid", "dead_letter").inc()
            return 1
        host.adopt(drained)
        counted = self.metrics.sparkplug_messages
        for (kind, outcome), count in collections.Counter(drained.outcomes).items():
            counted.labels(kind, outcome).inc(count)
        if drained.stale_deaths:
            self.metrics.sparkplug_stale_deaths.inc(drained.stale_deaths)
        if drained.ignored_metrics:
            self.metrics.sparkplug_ignored_metrics.inc(drained.ignored_metrics)
        dead = sum(1 for _, outcome in drained.outcomes if outcome == "dead_letter")
        return dead + sum(1 for p in parsed_json.values() if p.dead and not p.machine)

    async def _retrying(self, write: Callable[[Connection], Awaitable[tuple[int, T]]]) -> T:
        """Run `write` (rows offered, its result) on a pooled connection until it succeeds
        (or we stop)."""
        delay = self.config.reconnect_min_s
        while True:
            started = time.perf_counter()
            try:
                async with self.pool.acquire(timeout=10) as conn:
                    rows, result = await write(conn)
            except DB_DOWN as exc:
                if self._stopping.is_set():
                    raise
                self.metrics.db_retries.inc()
                log.warning(
                    "batch write failed (%s); retrying in %.1f s, the spool keeps it", exc, delay
                )
                await asyncio.sleep(delay * self._rng.uniform(0.5, 1.0))
                delay = min(self.config.reconnect_max_s, delay * 2)
                continue
            self.metrics.flush.observe(time.perf_counter() - started)
            self.metrics.rows.inc(rows)
            return result

    async def _maintain(self) -> None:
        """Partitions ahead and retention, at most every `retention_every_s`."""
        if time.monotonic() - self._last_retention < self.config.retention_every_s:
            return
        self._last_retention = time.monotonic()
        today = dt.datetime.now(dt.UTC).date()
        try:
            async with self.pool.acquire(timeout=10) as conn:
                await ensure_ahead(conn, today)
                retention = await drop_expired(
                    conn, today, self.settings.telemetry_retention_days + 1
                )
        except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("partition maintenance failed: %s", exc)
            return
        self.store.known_days.clear()
        self.metrics.retention_held.set(len(retention.held))
        if retention.dropped:
            log.info("dropped telemetry partitions older than retention: %s", retention.dropped)
        if retention.held:
            log.warning(
                "kept %d telemetry partition(s) past retention, from %s on: the lake does not "
                "hold that day's rows yet (its export of the plant days it touches is missing, "
                "open or behind late data)",
                len(retention.held),
                retention.held[0],
            )

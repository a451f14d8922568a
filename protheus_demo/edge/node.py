"""A Sparkplug B 3.0 edge node on aiomqtt: NDEATH will with bdSeq, NBIRTH and DBIRTHs,
alias-only DDATA with a wrapping seq, rebirth on command, gaps and deaths on demand."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
import uuid
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType

import aiomqtt
import orjson
from paho.mqtt.client import MQTT_CLEAN_START_FIRST_ONLY

from protheus_demo.edge.device import Device
from protheus_demo.edge.payload import (
    BD_SEQ,
    BOOLEAN,
    REBIRTH,
    STRING,
    UINT64,
    SentMetric,
    Value,
    encode,
    rebirth_requested,
)
from shared.mqtt import BrokerAddress

log = logging.getLogger("protheus_demo.edge")
# aiomqtt warns on every publish beyond 10 in flight; the bulk mode keeps hundreds.
_mqtt_log = logging.getLogger("protheus_demo.edge.mqtt")
_mqtt_log.setLevel(logging.ERROR)

NAMESPACE = "spBv1.0"
NODE_PROPERTIES: tuple[tuple[str, str], ...] = (
    ("Properties/Hardware Make", "protheus_demo"),
    ("Properties/Software", "protheus_demo.edge"),
)


@dataclass(frozen=True)
class Published:
    """One message the node published: its topic, type, device (None for node messages),
    seq (None on NDEATH), payload timestamp, metrics as sent, and the bytes."""

    topic: str
    kind: str
    device: str | None
    seq: int | None
    timestamp: int
    metrics: tuple[SentMetric, ...]
    payload: bytes = field(repr=False)

    @property
    def values(self) -> dict[str, Value]:
        """Metric name -> value as sent."""
        return {metric.name: metric.value for metric in self.metrics}


class EdgeNode:
    """An edge node with devices; `async with EdgeNode(...)` or start()/stop().

    Every MQTT session uses the next bdSeq (0..255, wrapping; the first is `bd_seq`; a
    refused attempt does not use one up), sets the NDEATH will with it and publishes NBIRTH (seq 0) then a DBIRTH per online device. Every
    later node message but NDEATH takes the next seq (mod 256). `qos` applies to births and
    data (Sparkplug recommends 0; 1 is what the ingestor guarantees); the will is QoS 1.
    With `aliases=False` births declare no aliases and data carries names.
    """

    def __init__(
        self,
        broker_url: str,
        group: str,
        node: str,
        devices: Sequence[str],
        metrics_per_device: int = 10,
        *,
        seed: int = 0,
        qos: int = 1,
        aliases: bool = True,
        bd_seq: int = 0,
        node_metrics: int = 0,
        client_id: str | None = None,
        mqtt5: bool = False,
        ca_file: str | None = None,
        keepalive: int = 30,
        reconnect: bool = True,
        inflight: int = 200,
        record: bool = True,
        primary_host: str | None = None,
    ) -> None:
        self.broker = BrokerAddress.from_url(broker_url)
        self.group = group
        self.node = node
        self.seed = seed
        self.qos = qos
        self.aliases = aliases
        self.client_id = client_id or f"spb-{node}-{uuid.uuid4().hex[:8]}"
        self.mqtt5 = mqtt5
        self.ca_file = ca_file
        self.keepalive = keepalive
        self.reconnect_on_loss = reconnect
        self.inflight = inflight
        self.record = record
        self.primary_host = primary_host
        # Aliases are unique across the node and its devices (Sparkplug 3.0).
        alias = 1
        self.node_specs: list[tuple[str, int, int]] = []  # (name, datatype, alias)
        for name, datatype in [(REBIRTH, BOOLEAN), *((n, STRING) for n, _ in NODE_PROPERTIES)]:
            self.node_specs.append((name, datatype, alias))
            alias += 1
        self.node_values: dict[str, Value] = {REBIRTH: False, **dict(NODE_PROPERTIES)}
        # The node's own numeric metrics (Node/m0, ...) draw their values like a device's.
        self._node_model = Device.create(node, seed=seed, numeric=node_metrics, first_alias=0)
        for spec in self._node_model.numeric:
            name = f"Node/{spec.name}"
            self.node_specs.append((name, spec.datatype, alias))
            self.node_values[name] = self._node_model.values[spec.name]
            alias += 1
        self.devices: dict[str, Device] = {}
        for name in devices:
            device = Device.create(name, seed=seed, numeric=metrics_per_device, first_alias=alias)
            alias += len(device.metrics)
            device.online = True
            self.devices[name] = device
        # Protocol state
        self.bd_seq = -1  # the current connection's bdSeq (-1 before the first connect)
        self._next_bd_seq = bd_seq % 256
        self.seq = 0  # the seq the next node message takes
        self._last_ts = 0
        # Counters and logs a test reads
        self.connects = 0
        self.births_published = 0  # NBIRTHs
        self.device_births_published = 0
        self.rebirths_answered = 0
        self.data_published = 0  # NDATA + DDATA
        self.published: list[Published] = []
        self.commands: list[tuple[str, bytes]] = []  # NCMD/DCMD received (topic, payload)
        self.host_states: dict[str, dict[str, object]] = {}  # STATE/<host id> -> its JSON
        # Connection
        self.connected = asyncio.Event()  # MQTT session up
        self.born = asyncio.Event()  # NBIRTH/DBIRTHs published on this session
        self._client: aiomqtt.Client | None = None
        self._will: bytes = b""
        self._will_ts = 0
        self._lock = asyncio.Lock()  # one message sequence at a time: seq order is wire order
        self._changed = asyncio.Condition()
        self._reader: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False

    # -- topics ------------------------------------------------------------------------

    def topic(self, kind: str, device: str | None = None) -> str:
        base = f"{NAMESPACE}/{self.group}/{kind}/{self.node}"
        return f"{base}/{device}" if device is not None else base

    def ndeath_payload(self, bd_seq: int | None = None) -> bytes:
        """An NDEATH payload with `bd_seq` (default: the current connection's, the will's
        content); an older bdSeq makes the stale death a host must ignore."""
        if bd_seq is None:
            return self._will
        ts = self._now()
        return encode([SentMetric(BD_SEQ, None, UINT64, bd_seq, ts)], timestamp=ts, seq=None)

    # -- lifecycle -----------------------------------------------------------------------

    async def __aenter__(self) -> EdgeNode:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        """Connect, publish the births, and start reading commands. With a primary host
        the births wait for its STATE online (see `born`)."""
        self._closing = False
        await self._connect()
        self._reader = asyncio.create_task(self._read())

    async def stop(self) -> None:
        """Clean NDEATH: publish the will's content, then DISCONNECT (the broker drops the
        will)."""
        self._closing = True
        await self._stop_reader()
        client = self._client
        if client is not None and self.connected.is_set():
            async with self._lock:
                with contextlib.suppress(aiomqtt.MqttError):
                    await client.publish(self.topic("NDEATH"), self._will, qos=1)
                    self._log(self._ndeath())
        await self._disconnect()

    async def abort(self) -> None:
        """Lose the connection without DISCONNECT, for good: the broker publishes the will."""
        self._closing = True
        await self._stop_reader()
        self._shut_socket()
        await self._disconnect()

    async def drop(self) -> None:
        """Lose the connection without DISCONNECT (the broker publishes the will NDEATH);
        the node reconnects with the next bdSeq and births again. Returns once reconnected."""
        if not self.reconnect_on_loss:
            raise RuntimeError("drop() needs reconnect=True; abort() loses the node for good")
        connects = self.connects
        self._shut_socket()
        await self.wait_until(lambda: self.connects > connects and self.born.is_set())

    async def reconnect(self) -> None:
        """Clean NDEATH and DISCONNECT, then connect again with the next bdSeq and birth."""
        await self.stop()
        await self.start()

    async def _stop_reader(self) -> None:
        for task in [self._reader, *self._tasks]:
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._reader = None

    def _shut_socket(self) -> None:
        # A closed TCP connection without DISCONNECT is what a killed process or a cut
        # cable looks like to the broker.
        client = self._client
        sock = client._client.socket() if client is not None else None
        if isinstance(sock, socket.socket):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    async def _disconnect(self) -> None:
        client, self._client = self._client, None
        self.connected.clear()
        self.born.clear()
        if client is not None:
            with contextlib.suppress(aiomqtt.MqttError):
                await client.__aexit__(None, None, None)

    async def _connect(self) -> None:
        # A connect that fails registers no will: its bdSeq is used by the next attempt.
        self.bd_seq = self._next_bd_seq
        self._will_ts = ts = self._now()
        self._will = encode(
            [SentMetric(BD_SEQ, None, UINT64, self.bd_seq, ts)], timestamp=ts, seq=None
        )
        client = aiomqtt.Client(
            self.broker.host,
            self.broker.port,
            username=self.broker.username,
            password=self.broker.password,
            identifier=self.client_id,
            logger=_mqtt_log,
            protocol=aiomqtt.ProtocolVersion.V5 if self.mqtt5 else aiomqtt.ProtocolVersion.V311,
            will=aiomqtt.Will(self.topic("NDEATH"), self._will, qos=1, retain=False),
            # Sparkplug 3.0: clean session (3.1.1), or clean start with no session expiry (5).
            clean_session=None if self.mqtt5 else True,
            clean_start=True if self.mqtt5 else MQTT_CLEAN_START_FIRST_ONLY,
            keepalive=self.keepalive,
            max_inflight_messages=self.inflight,
            tls_context=self.broker.tls_context(self.ca_file),
        )
        client.pending_calls_threshold = self.inflight + 10
        await client.__aenter__()
        self._client = client
        self._next_bd_seq = (self.bd_seq + 1) % 256
        try:
            await client.subscribe(
                [
                    (self.topic("NCMD"), 1),
                    (f"{self.topic('DCMD')}/#", 1),
                    (f"{NAMESPACE}/STATE/+", 1),
                ]
            )
            self.connected.set()
            if self.primary_host is None:
                await self._births()
        except aiomqtt.MqttError:
            await self._disconnect()
            raise
        await self._notify("connects")

    async def _read(self) -> None:
        delay = 0.05
        while True:
            client = self._client
            if client is not None:
                try:
                    async for message in client.messages:
                        await self._command(message)
                except aiomqtt.MqttError:
                    log.info("edge node %s/%s lost its connection", self.group, self.node)
                await self._disconnect()
            if self._closing or not self.reconnect_on_loss:
                return
            try:
                await self._connect()
                delay = 0.05
            except aiomqtt.MqttError as exc:
                log.info("edge node %s/%s: reconnect failed (%s)", self.group, self.node, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)

    async def _command(self, message: aiomqtt.Message) -> None:
        topic = str(message.topic)
        payload = message.payload if isinstance(message.payload, bytes) else b""
        if topic.startswith(f"{NAMESPACE}/STATE/"):
            await self._host_state(topic.rsplit("/", 1)[1], payload)
            return
        self.commands.append((topic, payload))
        if topic == self.topic("NCMD") and rebirth_requested(payload):
            self._spawn(self._answer_rebirth())

    def _spawn(self, work: Coroutine[None, None, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _host_state(self, host: str, payload: bytes) -> None:
        """Sparkplug 3.0 STATE: a message older (timestamp) than the last one of that host
        is ignored; an edge node with a primary host births once it is online, and when it
        goes offline leaves (NDEATH, DISCONNECT) to connect again and wait for it."""
        try:
            state = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return
        if not isinstance(state, dict):
            return
        last = self.host_states.get(host, {}).get("timestamp")
        stamp = state.get("timestamp")
        if isinstance(last, int) and isinstance(stamp, int) and stamp < last:
            return
        async with self._changed:
            self.host_states[host] = state
            self._changed.notify_all()
        if host != self.primary_host:
            return
        if state.get("online") is True and not self.born.is_set():
            self._spawn(self._births_for_host())
        elif state.get("online") is False and self.born.is_set():
            self._spawn(self._leave_for_host())

    async def _births_for_host(self) -> None:
        with contextlib.suppress(aiomqtt.MqttError):
            await self._births(unless_born=True)

    async def _leave_for_host(self) -> None:
        log.info(
            "edge node %s/%s: primary host %s offline", self.group, self.node, self.primary_host
        )
        async with self._lock:
            client = self._client
            if client is not None:
                with contextlib.suppress(aiomqtt.MqttError):
                    await client.publish(self.topic("NDEATH"), self._will, qos=1)
                    self._log(self._ndeath())
        await self._disconnect()  # the reader connects again, with the next bdSeq

    async def _answer_rebirth(self) -> None:
        if self.primary_host is not None and not self.born.is_set():
            return  # not before the primary host is online: its STATE births us
        try:
            await self.rebirth()
        except aiomqtt.MqttError:
            return  # the reconnect births anyway
        await self._notify("rebirths_answered")

    async def _notify(self, counter: str) -> None:
        async with self._changed:
            setattr(self, counter, getattr(self, counter) + 1)
            self._changed.notify_all()

    async def wait_until(self, predicate: Callable[[], bool], seconds: float = 10) -> None:
        """Wait (bounded) until predicate() holds; checked whenever a counter or a host
        state changes."""
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(predicate), seconds)

    async def wait_rebirths(self, count: int, seconds: float = 10) -> None:
        """Wait until `count` rebirth commands have been answered in total."""
        await self.wait_until(lambda: self.rebirths_answered >= count, seconds)

    # -- publishing ----------------------------------------------------------------------

    def _now(self) -> int:
        # Strictly increasing per node: (edge node, device, metric, timestamp) is the
        # ingestor's dedupe key, two steps in one millisecond must not collide.
        self._last_ts = max(time.time_ns() // 1_000_000, self._last_ts + 1)
        return self._last_ts

    def _take_seq(self) -> int:
        seq = self.seq
        self.seq = (seq + 1) % 256
        return seq

    def skip_seq(self, count: int = 1) -> None:
        """Make a gap: the next message's seq is `count` further than it would be."""
        self.seq = (self.seq + count) % 256

    def _log(self, message: Published) -> None:
        if self.record:
            self.published.append(message)

    def _message(
        self,
        kind: str,
        device: str | None,
        metrics: list[SentMetric],
        *,
        birth: bool,
        timestamp: int,
        seq: int | None = None,
    ) -> Published:
        seq = self._take_seq() if seq is None else seq
        if birth:
            payload = encode(metrics, timestamp=timestamp, seq=seq)
        else:
            payload = encode(
                metrics, timestamp=timestamp, seq=seq, names=not self.aliases, datatypes=False
            )
        return Published(
            self.topic(kind, device), kind, device, seq, timestamp, tuple(metrics), payload
        )

    async def _send(self, message: Published) -> Published:
        if self._client is None:
            raise aiomqtt.MqttError("edge node not connected")
        await self._client.publish(message.topic, message.payload, qos=self.qos)
        self._log(message)
        return message

    def _ndeath(self) -> Published:
        metric = SentMetric(BD_SEQ, None, UINT64, self.bd_seq, self._will_ts)
        return Published(
            self.topic("NDEATH"), "NDEATH", None, None, self._will_ts, (metric,), self._will
        )

    def _alias(self, alias: int) -> int | None:
        return alias if self.aliases else None

    def _nbirth(self) -> Published:
        ts = self._now()
        self.seq = 0  # NBIRTH starts the sequence (Sparkplug 3.0)
        metrics = [SentMetric(BD_SEQ, None, UINT64, self.bd_seq, ts)]
        metrics += [
            SentMetric(name, self._alias(alias), datatype, self.node_values[name], ts)
            for name, datatype, alias in self.node_specs
        ]
        return self._message("NBIRTH", None, metrics, birth=True, timestamp=ts)

    def _dbirth(self, device: Device) -> Published:
        ts = self._now()
        metrics = [
            SentMetric(
                spec.name, self._alias(spec.alias), spec.datatype, device.values[spec.name], ts
            )
            for spec in device.metrics
        ]
        return self._message("DBIRTH", device.name, metrics, birth=True, timestamp=ts)

    async def _births(self, *, unless_born: bool = False) -> list[Published]:
        async with self._lock:
            if unless_born and self.born.is_set():
                return []
            sent = [await self._send(self._nbirth())]
            for device in self.devices.values():
                if device.online:
                    sent.append(await self._send(self._dbirth(device)))
                    self.device_births_published += 1
            self.born.set()
        await self._notify("births_published")
        return sent

    async def rebirth(self) -> list[Published]:
        """NBIRTH (seq 0, the connection's bdSeq) and a DBIRTH per online device, with
        the current values (what a Node Control/Rebirth command gets)."""
        return await self._births()

    async def device_birth(self, name: str) -> Published:
        """DBIRTH of one device (after its DDEATH): it is online again."""
        device = self.devices[name]
        async with self._lock:
            sent = await self._send(self._dbirth(device))
        device.online = True
        self.device_births_published += 1
        return sent

    async def device_death(self, name: str) -> Published:
        """DDEATH of one device: it leaves the rebirths until device_birth()."""
        device = self.devices[name]
        async with self._lock:
            ts = self._now()
            sent = await self._send(self._message("DDEATH", name, [], birth=True, timestamp=ts))
        device.online = False
        return sent

    async def publish_data(
        self,
        devices: Iterable[str] | None = None,
        *,
        values: Mapping[str, Value] | None = None,
        timestamp: int | None = None,
    ) -> list[Published]:
        """One DDATA per device (every online device by default). Without `values`, each
        device takes its next deterministic step (State/Reason on change, counts when they
        grow, every numeric metric); with `values` (metric name -> value) exactly those
        metrics are sent and become the device's current values. `timestamp` (epoch ms)
        replaces the node's clock for the payload and its metrics (a late or future
        sample on purpose)."""
        names = (
            list(devices)
            if devices is not None
            else [d.name for d in self.devices.values() if d.online]
        )
        sent: list[Published] = []
        async with self._lock:
            for name in names:
                device = self.devices[name]
                if values is None:
                    changed = device.advance()
                else:
                    for metric, value in values.items():
                        device.spec(metric)  # KeyError for a metric the birth lacks
                        device.values[metric] = value
                    changed = list(values)
                sent.append(await self._send(self._data(device, changed, timestamp)))
        return sent

    def _data(self, device: Device, changed: list[str], timestamp: int | None = None) -> Published:
        ts = self._now() if timestamp is None else timestamp
        metrics = []
        for name in changed:
            spec = device.spec(name)
            alias = self._alias(spec.alias)
            metrics.append(SentMetric(name, alias, spec.datatype, device.values[name], ts))
        self.data_published += 1
        return self._message("DDATA", device.name, metrics, birth=False, timestamp=ts)

    async def publish_node_data(self, values: Mapping[str, Value] | None = None) -> Published:
        """One NDATA: the node's numeric metrics (Node/m0, ...) at their next step, or
        exactly `values`."""
        if values is None:
            self._node_model.advance()
            values = {
                f"Node/{s.name}": self._node_model.values[s.name] for s in self._node_model.numeric
            }
        specs = {name: (datatype, alias) for name, datatype, alias in self.node_specs}
        async with self._lock:
            ts = self._now()
            metrics = []
            for name, value in values.items():
                datatype, alias = specs[name]
                self.node_values[name] = value
                metrics.append(SentMetric(name, self._alias(alias), datatype, value, ts))
            self.data_published += 1
            return await self._send(
                self._message("NDATA", None, metrics, birth=False, timestamp=ts)
            )

    async def bulk(self, count: int, devices: Sequence[str] | None = None) -> int:
        """Publish `count` DDATA messages (each every numeric metric of one device, the
        devices in turn) as fast as the broker takes them, at most `inflight` unacknowledged;
        returns the number published. Nothing is recorded in `published`."""
        names = list(devices) if devices is not None else list(self.devices)
        window = asyncio.Semaphore(self.inflight)
        failures: list[BaseException] = []

        def settle(task: asyncio.Task[None]) -> None:
            window.release()
            if not task.cancelled() and task.exception() is not None:
                failures.append(task.exception())  # type: ignore[arg-type]

        pending: set[asyncio.Task[None]] = set()
        async with self._lock:
            client = self._client
            if client is None:
                raise aiomqtt.MqttError("edge node not connected")
            for n in range(count):
                await window.acquire()
                if failures:
                    raise failures[0]
                device = self.devices[names[n % len(names)]]
                message = self._data(device, device.sample())
                # The task starts (and hands the packet to paho) in creation order.
                task = asyncio.create_task(
                    client.publish(message.topic, message.payload, qos=self.qos)
                )
                pending.add(task)
                task.add_done_callback(pending.discard)
                task.add_done_callback(settle)
            if pending:
                await asyncio.gather(*pending)
        if failures:
            raise failures[0]
        return count

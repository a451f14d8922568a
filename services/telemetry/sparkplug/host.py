"""The Sparkplug B host application: births, aliases, seq, deaths and the mapping turn spooled
Sparkplug messages into the ingestor's rows (samples, states, counters, dead letters,
machines), at drain time, inside the drain transaction.

Per batch: the batch's edge nodes are locked (key order), the birth tables whose
birth_version moved are read again, the messages are applied in spool order to working
copies of the nodes, the changes are written set-based, and the caller copies the rows in
the same transaction. The cache of birth tables is replaced only after the commit
(`adopt`): a batch retried after a failure starts again from what PostgreSQL holds.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from services.telemetry.ingest.parse import MAX_NAME, STATES, Parsed
from services.telemetry.ingest.spool import Record
from services.telemetry.sparkplug import queries
from services.telemetry.sparkplug.payload import PayloadError, Unstorable, decode, numeric, values
from services.telemetry.sparkplug.proto import sparkplug_b_pb2 as pb
from services.telemetry.sparkplug.seq import SeqState, born, observe
from services.telemetry.sparkplug.topic import Topic, TopicError, parse_topic
from shared.db.pools import Connection
from shared.settings import SparkplugSettings

log = logging.getLogger(__name__)

BD_SEQ = "bdSeq"
# Host plumbing, not measurements: never samples.
NOT_SAMPLES = ("Node Control/", "Properties/")
MAX_METRIC_NAME = 200
DAY_MS = 86_400_000
MAX_COUNT = 2**63 - 1
MAX_REASONS = 10  # a dead letter names at most this many bad metrics
UINT64 = 2**64
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_TEMPLATE = 19
# A birth older than the current one is stale only if it arrived within this of it: out of
# order across ingestors; one arriving later comes from a node whose clock went back.
STALE_WINDOW = dt.timedelta(minutes=1)

Key = tuple[str, str]  # (group, edge node)
Target = tuple[str, str, str, str]  # site, area, line, machine


SKIP = "skip"  # not a measurement: bdSeq, Node Control/, Properties/
INVALID = "invalid"  # a name no table can hold


class Channel:
    SAMPLE = "sample"
    STATE = "state"
    REASON = "reason"
    GOOD = "good"
    SCRAP = "scrap"


@dataclass(frozen=True, slots=True)
class Birth:
    """The metric table of one birth (the node's, or one device's): never changed in place,
    so the cache and a batch's working copy may share it."""

    names: Mapping[str, tuple[int | None, int]]  # name -> (alias, datatype)
    aliases: Mapping[int, tuple[str, int]]  # alias -> (name, datatype)

    @classmethod
    def of(cls, rows: Iterable[tuple[str, int | None, int]]) -> Birth:
        names: dict[str, tuple[int | None, int]] = {}
        aliases: dict[int, tuple[str, int]] = {}
        for name, alias, datatype in rows:
            names[name] = (alias, datatype)
            if alias is not None:
                aliases[alias] = (name, datatype)
        return cls(names, aliases)

    @property
    def has_data(self) -> bool:
        """Declares a metric that is a measurement (not bdSeq, Node Control, Properties)."""
        return any(_is_data(name) for name in self.names)


@dataclass(slots=True)
class Device:
    online: bool = False
    birth_at: dt.datetime | None = None
    death_at: dt.datetime | None = None
    last_seen: dt.datetime | None = None
    birth_ts: dt.datetime | None = None  # the current DBIRTH's payload timestamp


@dataclass(frozen=True, slots=True)
class LastValue:
    value: float | None
    text: str | None
    ts: dt.datetime


@dataclass
class Node:
    """One edge node as a batch works on it (its row locked)."""

    group: str
    node: str
    online: bool = False
    bd_seq: int | None = None
    birth_version: int = 0
    seq: SeqState = field(default_factory=SeqState)
    rebirth_wanted: bool = False
    birth_at: dt.datetime | None = None
    death_at: dt.datetime | None = None
    last_seen: dt.datetime | None = None
    birth_ts: dt.datetime | None = None  # the current NBIRTH's payload timestamp
    # An NDEATH for another bdSeq (bdSeq, received): its NBIRTH may still be drained.
    pending_death: tuple[int, dt.datetime] | None = None
    born_dead: dt.datetime | None = None  # the birth just taken is dead since then
    # When the drain took the node (the database's now()): a seq gap dates from then, not
    # from the message's arrival, so a drain lagging behind does not make it look old.
    drained_at: dt.datetime | None = None
    births: dict[str, Birth] = field(default_factory=dict)  # '' the node's, else a device's
    devices: dict[str, Device] = field(default_factory=dict)
    mapping: dict[str, Target] = field(default_factory=dict)
    targets: dict[str, Target] = field(default_factory=dict)  # default ones, checked once
    last: dict[tuple[str, str], LastValue] = field(default_factory=dict)  # (device, metric)
    reborn: bool = False  # an NBIRTH in this batch: every metric row replaced
    reborn_devices: set[str] = field(default_factory=set)
    touched_devices: set[str] = field(default_factory=set)
    touched_values: set[tuple[str, str]] = field(default_factory=set)

    @property
    def key(self) -> Key:
        return self.group, self.node


@dataclass
class Drained:
    """A batch of Sparkplug records applied: the rows per record (spool order), the outcome
    per record for /metrics, and the birth tables to cache once committed."""

    parsed: list[list[Parsed]]
    outcomes: list[tuple[str, str]]  # (message type, outcome)
    stale_deaths: int = 0
    ignored_metrics: int = 0
    births: dict[Key, tuple[int, dict[str, Birth]]] = field(default_factory=dict)


@dataclass(slots=True)
class _Message:
    record: Record
    received: dt.datetime
    topic: Topic
    payload: pb.Payload


class _Refused(Exception):
    """The whole message is a dead letter (pt-BR reason); `rebirth`: ask the node a rebirth."""

    def __init__(self, reason: str, *, rebirth: bool = False) -> None:
        super().__init__(reason)
        self.rebirth = rebirth


def _is_data(name: str) -> bool:
    return name != BD_SEQ and not name.startswith(NOT_SAMPLES)


def _shown(text: str, limit: int = 80) -> str:
    """A name as a reason quotes it: no control characters (PostgreSQL refuses NUL), short."""
    return _CONTROL.sub("?", text[:limit])


def _signed(alias: int) -> int:
    return alias - UINT64 if alias >= 2**63 else alias


def _valid_name(text: str, limit: int) -> bool:
    return 0 < len(text) <= limit and _CONTROL.search(text) is None


def _moment(ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC)


def _bad_time(ms: int | None, earliest: int) -> str:
    if ms is None:
        return "sem timestamp (nem na métrica nem no payload)"
    if ms < earliest:
        return "timestamp mais antigo que o período de retenção"
    return "timestamp mais de um dia no futuro"


def _integral(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


class Host:
    """The host's rules; one per ingestor. `drain` runs in the caller's transaction and
    `adopt` takes its birth tables once that transaction committed."""

    def __init__(self, config: SparkplugSettings, *, retention_days: int) -> None:
        self.config = config
        self.retention = dt.timedelta(days=retention_days)
        self.retention_ms = retention_days * DAY_MS
        self._births: dict[Key, tuple[int, dict[str, Birth]]] = {}
        self._channels: dict[str, str] = {}
        self._topics: dict[str, Topic] = {}

    # --- the batch ------------------------------------------------------------------------

    async def drain(self, conn: Connection, records: Sequence[Record]) -> Drained:
        """Apply Sparkplug `records` (spool order) in `conn`'s transaction; their rows."""
        drained = Drained(parsed=[[] for _ in records], outcomes=[("", "")] * len(records))
        messages: list[tuple[int, _Message]] = []
        for index, record in enumerate(records):
            received = _moment(record.received_ms)
            try:
                topic = self._topic(record.topic)
            except TopicError as exc:
                drained.parsed[index] = [_dead(record, str(exc))]
                drained.outcomes[index] = ("invalid", "dead_letter")
                continue
            if topic.ignored:
                drained.outcomes[index] = (topic.kind, "ignored")
                continue
            try:
                payload = decode(record.payload)
            except PayloadError as exc:
                drained.parsed[index] = [_dead(record, str(exc))]
                drained.outcomes[index] = (topic.kind, "dead_letter")
                continue
            messages.append((index, _Message(record, received, topic, payload)))
        if not messages:
            return drained
        nodes = await self._load(conn, sorted({m.topic.key for _, m in messages}))
        for index, message in messages:
            node = nodes[message.topic.key]
            try:
                parsed, outcome = self._apply(node, message, drained)
            except Exception:
                # A fault of ours must not hold the stream back forever: the message is kept
                # as a dead letter, and the log says what went wrong.
                log.exception("Sparkplug message on %s not applied", message.record.topic)
                parsed = [_dead(message.record, "erro interno ao aplicar a mensagem Sparkplug")]
                outcome = "dead_letter"
            drained.parsed[index] = parsed
            drained.outcomes[index] = (message.topic.kind, outcome)
        await self._save(conn, list(nodes.values()))
        drained.births = {n.key: (n.birth_version, n.births) for n in nodes.values()}
        return drained

    def _topic(self, text: str) -> Topic:
        topic = self._topics.get(text)
        if topic is None:
            topic = parse_topic(text)
            if len(self._topics) > 10_000:
                self._topics.clear()  # bounded, whatever topics arrive
            self._topics[text] = topic
        return topic

    def adopt(self, drained: Drained) -> None:
        """The batch committed: its birth tables are what PostgreSQL holds now."""
        self._births.update(drained.births)

    async def _load(self, conn: Connection, keys: list[Key]) -> dict[Key, Node]:
        """Lock the nodes (creating new ones first) and read what the batch needs of them."""
        unknown = [k for k in keys if k not in self._births]
        await queries.insert_nodes(conn, keys=unknown)
        rows = await queries.lock_nodes(conn, keys=keys)
        if len(rows) < len(keys):  # rows deleted since cached: create them again
            await queries.insert_nodes(conn, keys=keys)
            rows = await queries.lock_nodes(conn, keys=keys)
        nodes: dict[Key, Node] = {}
        reload: list[Key] = []
        for row in rows:
            key = (row["group_id"], row["edge_node"])
            cached = self._births.get(key)
            if cached is None or cached[0] != row["birth_version"]:
                reload.append(key)
                births: dict[str, Birth] = {}
            else:
                births = dict(cached[1])
            missing = frozenset(row["missing"] or ())
            nodes[key] = Node(
                group=key[0], node=key[1], online=row["online"], bd_seq=row["bd_seq"],
                birth_version=row["birth_version"],
                seq=SeqState(row["last_seq"], missing, row["gap_since"]),
                rebirth_wanted=row["rebirth_wanted"], birth_at=row["birth_at"],
                death_at=row["death_at"], last_seen=row["last_seen"], birth_ts=row["birth_ts"],
                pending_death=(
                    None if row["pending_death_at"] is None
                    else (row["pending_death_bd_seq"], row["pending_death_at"])
                ),
                drained_at=row["now"], births=births,
            )  # fmt: skip
        tables: dict[tuple[Key, str], list[tuple[str, int | None, int]]] = {}
        for row in await queries.node_context(conn, keys=keys, reload=reload):
            node = nodes[(row["group_id"], row["edge_node"])]
            device = row["device"]
            kind = row["kind"]
            if kind == "device":
                node.devices[device] = Device(
                    row["online"], row["birth_at"], row["death_at"], row["ts"], row["birth_ts"]
                )
            elif kind == "mapping":
                node.mapping[device] = (row["site"], row["area"], row["line"], row["machine"])
            elif kind == "value":
                node.last[(device, row["name"])] = LastValue(row["value"], row["text"], row["ts"])
            else:
                alias = row["alias"]
                tables.setdefault((node.key, device), []).append(
                    (row["name"], None if alias is None else alias % UINT64, row["datatype"])
                )
        for (key, device), table in tables.items():
            nodes[key].births[device] = Birth.of(table)
        return nodes

    async def _save(self, conn: Connection, nodes: list[Node]) -> None:
        """Write the batch's changes to the nodes, devices, birth tables and last values."""
        await queries.update_nodes(conn, nodes=[_node_row(n) for n in nodes])
        await queries.upsert_devices(
            conn,
            devices=[
                (n.group, n.node, name, d.online, d.birth_at, d.death_at, d.last_seen, d.birth_ts)
                for n in nodes
                for name in sorted(n.touched_devices)
                for d in (n.devices[name],)
            ],
        )
        reborn_nodes = [n.key for n in nodes if n.reborn]
        reborn_devices = [
            (n.group, n.node, device)
            for n in nodes
            if not n.reborn
            for device in sorted(n.reborn_devices)
        ]
        rows: list[tuple[str, str, str, str, int | None, int]] = []
        for n in nodes:
            tables = n.births if n.reborn else {d: n.births[d] for d in n.reborn_devices}
            for device, birth in tables.items():
                rows.extend(
                    (n.group, n.node, device, name, None if alias is None else _signed(alias), dt_)
                    for name, (alias, dt_) in birth.names.items()
                )
        await queries.replace_metrics(conn, nodes=reborn_nodes, devices=reborn_devices, rows=rows)
        await queries.upsert_last_values(
            conn,
            values=[
                (n.group, n.node, device, metric, v.value, v.text, v.ts)
                for n in nodes
                for device, metric in sorted(n.touched_values)
                for v in (n.last[(device, metric)],)
            ],
        )

    # --- one message ----------------------------------------------------------------------

    def _apply(self, node: Node, m: _Message, drained: Drained) -> tuple[list[Parsed], str]:
        kind, device, payload = m.topic.kind, m.topic.device, m.payload
        node.last_seen = max(node.last_seen or m.received, m.received)
        if device:
            state = node.devices.setdefault(device, Device())
            state.last_seen = max(state.last_seen or m.received, m.received)
            node.touched_devices.add(device)
        if kind == "NDEATH":
            return self._node_death(node, m, drained)
        birth = kind in ("NBIRTH", "DBIRTH")
        stale = birth and self._stale(node, m)
        if kind != "NBIRTH" and not stale and payload.HasField("seq"):
            node.seq, _ = observe(node.seq, payload.seq, node.drained_at or m.received)
        try:
            if kind == "DDEATH":
                return self._device_death(node, m), "stored"
            reasons: list[str] = []
            if birth:
                metrics = self._birth(node, m, reasons, adopt=not stale)
            else:
                metrics = self._resolve(node, m)
            parsed = self._data(node, m, metrics, drained, reasons)
            outcome = "dead_letter" if parsed.dead and not parsed.machine else "stored"
        except _Refused as exc:
            if exc.rebirth and not stale:
                node.rebirth_wanted = True
            parsed, outcome = _dead(m.record, str(exc)), "dead_letter"
        if node.born_dead is not None:
            # A birth taken whose death was drained first (shared subscription): dead at once.
            at, node.born_dead = node.born_dead, None
            if kind == "NBIRTH":
                return [parsed, *self._die(node, at)], outcome
            offline = self._offline(node, device, at)
            return [parsed, *([offline] if offline else [])], outcome
        if stale and outcome == "stored":
            # Drained after a newer birth (shared subscription): its values are data all the
            # same, its table is not the current one.
            log.info("stale %s on %s ignored (older than the current birth)", kind, m.record.topic)
            return [parsed], "stale"
        return [parsed], outcome

    def _stale(self, node: Node, m: _Message) -> bool:
        """A birth older (by its payload timestamp) than the current one of its node or
        device, and received about when that one was: drained out of order. One received
        well after (STALE_WINDOW) is taken whatever its timestamp: the node's clock went
        back."""
        ts = _birth_ts(m)
        if ts is None:
            return False
        if _older(ts, m.received, node.birth_ts, node.birth_at):
            return True
        device = node.devices.get(m.topic.device) if m.topic.device else None
        return device is not None and _older(ts, m.received, device.birth_ts, device.birth_at)

    def _birth(
        self, node: Node, m: _Message, reasons: list[str], *, adopt: bool = True
    ) -> list[tuple[pb.Payload.Metric, str, int]]:
        """Take a birth's metric table (unless not `adopt`: a stale birth); its metrics with
        their names and datatypes (one that cannot be declared is left out, its reason added
        to `reasons`)."""
        device = m.topic.device
        if device and "" not in node.births:
            raise _Refused("DBIRTH sem NBIRTH do edge node", rebirth=True)
        table: list[tuple[str, int | None, int]] = []
        metrics: list[tuple[pb.Payload.Metric, str, int]] = []
        names: set[str] = set()
        aliases: set[int] = set()
        bd_seq: int | None = None
        for metric in m.payload.metrics:
            if metric.datatype == _TEMPLATE and metric.template_value.is_definition:
                continue  # a Template definition: what instances refer to, not a metric
            name = metric.name
            if not _valid_name(name, MAX_METRIC_NAME):
                reasons.append(
                    f"métrica '{_shown(name)}': nome vazio, com mais de {MAX_METRIC_NAME} "
                    "caracteres ou com caracteres de controle"
                )
                continue
            if not metric.datatype:
                reasons.append(f"métrica '{_shown(name)}': sem tipo no {m.topic.kind}")
                continue
            alias = metric.alias if metric.HasField("alias") else None
            if name in names or (alias is not None and alias in aliases):
                raise _Refused(
                    f"métrica '{_shown(name)}' ou alias {alias} repetido no {m.topic.kind}",
                    rebirth=True,
                )
            names.add(name)
            if alias is not None:
                aliases.add(alias)
            table.append((name, alias, metric.datatype))
            metrics.append((metric, name, metric.datatype))
            if name == BD_SEQ and not device:
                bd_seq = _integral(_first(metric, metric.datatype))
        if not adopt:
            return metrics
        birth = Birth.of(table)
        node.birth_version += 1
        ts = _birth_ts(m)
        if device:
            node.births[device] = birth
            node.reborn_devices.add(device)
            state = node.devices[device]
            state.online, state.birth_at, state.birth_ts = True, m.received, ts
            if not node.online and node.death_at is not None and (ts or m.received) < node.death_at:
                # A birth of a session whose NDEATH was drained first: born dead.
                state.online, state.death_at = False, node.death_at
                node.born_dead = node.death_at
        else:
            # The devices' tables go with the node's: each is born again after it, but for
            # those already born at or after it (drained first, by another ingestor).
            kept = {
                name: node.births[name]
                for name, state in node.devices.items()
                if ts is not None and state.birth_ts is not None and state.birth_ts >= ts
                and name in node.births
            }  # fmt: skip
            node.births = {"": birth, **kept}
            node.reborn = True
            node.reborn_devices.clear()
            for name, state in node.devices.items():
                if state.online and name not in kept:
                    state.online = False
                    node.touched_devices.add(name)
            node.online, node.bd_seq, node.birth_at = True, bd_seq, m.received
            node.birth_ts = ts
            pending, node.pending_death = node.pending_death, None
            if pending is not None and pending[0] == bd_seq and (ts is None or ts < pending[1]):
                node.born_dead = pending[1]  # its NDEATH was drained first
            node.rebirth_wanted = False
            node.seq = born(m.payload.seq if m.payload.HasField("seq") else 0)
        return metrics

    def _resolve(self, node: Node, m: _Message) -> list[tuple[pb.Payload.Metric, str, int]]:
        """A data message's metrics with the names and datatypes its birth declared."""
        device = m.topic.device
        birth = node.births.get(device)
        if birth is None:
            if device:
                raise _Refused(f"DATA sem DBIRTH do dispositivo '{_shown(device)}'", rebirth=True)
            raise _Refused("DATA sem NBIRTH do edge node", rebirth=True)
        resolved: list[tuple[pb.Payload.Metric, str, int]] = []
        for metric in m.payload.metrics:
            if metric.name:
                name = metric.name
                declared = birth.names.get(name)
                datatype = metric.datatype or (declared[1] if declared else 0)
                if not datatype:
                    raise _Refused(f"métrica '{_shown(name)}' não declarada no BIRTH", rebirth=True)
            elif metric.HasField("alias"):
                found = birth.aliases.get(metric.alias)
                if found is None:
                    raise _Refused(f"alias {metric.alias} não declarado no BIRTH", rebirth=True)
                name, datatype = found[0], metric.datatype or found[1]
            else:
                raise _Refused("métrica sem nome nem alias", rebirth=True)
            resolved.append((metric, name, datatype))
        return resolved

    def _target(self, node: Node, device: str) -> Target:
        """Where a device's (or, for '', the node's own) rows go: its mapping row, else the
        default convention (group = site, SPARKPLUG_AREA, edge node = line)."""
        mapped = node.mapping.get(device)
        if mapped is not None:
            return mapped
        target = node.targets.get(device)
        if target is not None:
            return target
        machine = device or node.node
        for what, text in (("grupo", node.group), ("edge node", node.node), ("máquina", machine)):
            if not _valid_name(text, MAX_NAME):
                raise _Refused(
                    f"{what} '{_shown(text)}' sem mapeamento e inválido como nome de máquina "
                    f"(1 a {MAX_NAME} caracteres)"
                )
        target = node.targets[device] = (node.group, self.config.area, node.node, machine)
        return target

    def _channel(self, name: str) -> str:
        """What a (flattened) metric name feeds: a Channel, SKIP (bdSeq, Node Control/,
        Properties/) or INVALID (too long, control characters); cached, bounded."""
        channel = self._channels.get(name)
        if channel is None:
            channel = self._classify(name)
            if len(self._channels) > 10_000:
                self._channels.clear()  # bounded, whatever names a misbehaving node invents
            self._channels[name] = channel
        return channel

    def _classify(self, name: str) -> str:
        if not _is_data(name):
            return SKIP
        if not _valid_name(name, MAX_METRIC_NAME):
            return INVALID
        config = self.config
        for names, channel in (
            (config.state_metrics, Channel.STATE),
            (config.reason_metrics, Channel.REASON),
            (config.good_metrics, Channel.GOOD),
            (config.scrap_metrics, Channel.SCRAP),
        ):
            if any(name == n or name.endswith("/" + n) for n in names):
                return channel
        return Channel.SAMPLE

    def _data(
        self,
        node: Node,
        m: _Message,
        metrics: list[tuple[pb.Payload.Metric, str, int]],
        drained: Drained,
        reasons: list[str],
    ) -> Parsed:
        """A birth's or data message's values as rows of its machine; bad metrics are named
        in one dead letter, the good ones stored."""
        device, payload = m.topic.device, m.payload
        site, area, line, machine = self._target(node, device)
        parsed = Parsed(topic=m.record.topic, payload=m.record.payload)
        states: list[tuple[dt.datetime, str]] = []
        reason: tuple[dt.datetime, str | None] | None = None
        counts: dict[dt.datetime, list[int]] = {}
        payload_ms = payload.timestamp if payload.HasField("timestamp") else None
        # Timestamps are checked as epoch ms against the bounds of the JSON path (a day
        # ahead, retention behind), and each distinct one made a datetime once.
        received_ms = m.record.received_ms
        earliest, latest = received_ms - self.retention_ms, received_ms + DAY_MS
        moments: dict[int, dt.datetime] = {}
        channels, sample, append = self._channels, Channel.SAMPLE, parsed.samples.append
        for metric, name, datatype in metrics:
            kind = channels.get(name) or self._channel(name)
            if kind == SKIP:
                continue
            ms = metric.timestamp if metric.HasField("timestamp") else payload_ms
            if ms is None or not earliest <= ms <= latest:
                reasons.append(f"métrica '{_shown(name)}': {_bad_time(ms, earliest)}")
                continue
            ts = moments.get(ms)
            if ts is None:
                ts = moments[ms] = _moment(ms)
                # The partition of its day (a state's or counter's day too: harmless).
                parsed.sample_days.add(ts.date())
            try:
                found = values(metric, datatype)
            except Unstorable as exc:
                reasons.append(f"métrica '{_shown(name)}': {exc}")
                continue
            for suffix, value in found:
                full = name + suffix if suffix else name
                channel = self._channel(full) if suffix else kind
                if channel == sample:  # the usual metric: straight to a sample
                    if value is None or value.__class__ is str:
                        drained.ignored_metrics += value is not None
                        continue
                    number = float(value)
                    if number - number != 0.0:  # inf or nan
                        reasons.append(f"métrica '{_shown(full)}': valor não finito")
                        continue
                    append((machine, full, ts, number))
                    continue
                if channel == INVALID:
                    reasons.append(
                        f"métrica '{_shown(full)}': nome com mais de {MAX_METRIC_NAME} "
                        "caracteres ou com caracteres de controle"
                    )
                    continue
                if channel == SKIP:
                    continue
                try:
                    if channel == Channel.STATE:
                        state = self._state(value)
                        if state is not None:
                            states.append((ts, state))
                            self._remember(node, device, full, _integral(value), state, ts)
                    elif channel == Channel.REASON:
                        text = self._reason(value)
                        reason = (ts, text)
                        self._remember(node, device, full, None, text, ts)
                    else:
                        increase = self._count(node, device, full, value, ts)
                        if increase:
                            pair = counts.setdefault(ts, [0, 0])
                            pair[0 if channel == Channel.GOOD else 1] += increase
                except Unstorable as exc:
                    reasons.append(f"métrica '{_shown(full)}': {exc}")
                    continue
                number_or_none = numeric(value)
                if number_or_none is not None and math.isfinite(number_or_none):
                    append((machine, full, ts, number_or_none))
        reason_text = reason[1] if reason else None
        parsed.states.extend((machine, ts, state, reason_text) for ts, state in states)
        if reason is not None and not states:
            # A Reason alone restates the device's last State with it.
            last = self._last_state(node, device)
            if last is not None:
                parsed.states.append((machine, reason[0], last, reason_text))
        parsed.counters.extend(
            (machine, ts, good, scrap, None) for ts, (good, scrap) in counts.items()
        )
        if parsed.samples or parsed.states or parsed.counters:
            stamps = [r[2] for r in parsed.samples] + [r[1] for r in parsed.states]
            stamps += [r[1] for r in parsed.counters]
            parsed.machine = (machine, site, area, line, max(stamps))
        if reasons:
            shown = "; ".join(reasons[:MAX_REASONS])
            if len(reasons) > MAX_REASONS:
                shown += f"; e mais {len(reasons) - MAX_REASONS}"
            parsed.dead.append((m.record.topic, m.record.payload, shown))
        return parsed

    def _state(self, value: object) -> str | None:
        """A State metric's value as a machine state (text, or an integer via
        SPARKPLUG_STATE_CODES); None for a null."""
        if value is None:
            return None
        if isinstance(value, str):
            state = value.strip().lower()
            if state in STATES:
                return state
        else:
            code = _integral(value)
            if code is not None and code in self.config.state_codes:
                return self.config.state_codes[code]
        raise Unstorable(
            f"estado {_shown(str(value), 40)!r} desconhecido; use um de "
            f"{', '.join(sorted(STATES))} ou um código de SPARKPLUG_STATE_CODES"
        )

    @staticmethod
    def _reason(value: object) -> str | None:
        if value is None:
            return None
        code = _integral(value)
        text = str(code) if code is not None else value if isinstance(value, str) else None
        if text is None:
            raise Unstorable("motivo deve ser texto ou inteiro")
        text = text.strip()
        if not text:
            return None
        if not _valid_name(text, MAX_NAME):
            raise Unstorable(
                f"motivo deve ter de 1 a {MAX_NAME} caracteres, sem caracteres de controle"
            )
        return text

    def _count(self, node: Node, device: str, metric: str, value: object, ts: dt.datetime) -> int:
        """A running total's increase since the last total (a lower total is a reset and
        counts whole; the first total ever, or an older one, counts nothing)."""
        total = _integral(value)
        if total is None or not 0 <= total <= MAX_COUNT:
            raise Unstorable(f"contador deve ser um inteiro entre 0 e {MAX_COUNT}")
        last = node.last.get((device, metric))
        if last is not None and ts <= last.ts:
            return 0  # late or repeated: its increase was counted by the newer total
        self._remember(node, device, metric, float(total), None, ts)
        if last is None or last.value is None:
            return 0
        before = int(last.value)
        return total - before if total >= before else total

    @staticmethod
    def _remember(
        node: Node, device: str, metric: str, value: float | None, text: str | None,
        ts: dt.datetime,
    ) -> None:  # fmt: skip
        key = (device, metric)
        last = node.last.get(key)
        if last is None or ts >= last.ts:
            node.last[key] = LastValue(value, text, ts)
            node.touched_values.add(key)

    def _last_state(self, node: Node, device: str) -> str | None:
        latest: LastValue | None = None
        for (owner, metric), last in node.last.items():
            if (
                owner == device
                and self._channel(metric) == Channel.STATE
                and last.text
                and (latest is None or last.ts > latest.ts)
            ):
                latest = last
        return latest.text if latest else None

    # --- deaths ---------------------------------------------------------------------------

    def _offline(self, node: Node, device: str, ts: dt.datetime) -> Parsed | None:
        """An `offline` state row for a device's (or the node's) machine."""
        try:
            site, area, line, machine = self._target(node, device)
        except _Refused:
            return None  # its data never had a machine either
        return Parsed(
            machine=(machine, site, area, line, ts), states=[(machine, ts, "offline", None)]
        )

    def _node_death(self, node: Node, m: _Message, drained: Drained) -> tuple[list[Parsed], str]:
        bd_seq: int | None = None
        for metric in m.payload.metrics:
            if metric.name == BD_SEQ:
                bd_seq = _integral(_first(metric, metric.datatype or 8))
        if bd_seq is None:
            return [_dead(m.record, "NDEATH sem a métrica bdSeq")], "dead_letter"
        if bd_seq != node.bd_seq:
            # The will of an older connection, delivered after the node was born again; or
            # of a newer one whose NBIRTH another ingestor has not drained yet (shared
            # subscription): remembered, that NBIRTH is then born dead.
            node.pending_death = (bd_seq, m.received)
            if node.bd_seq is None:
                return [], "ignored"
            drained.stale_deaths += 1
            log.info(
                "stale NDEATH of %s/%s ignored (bdSeq %d, current %d)",
                node.group, node.node, bd_seq, node.bd_seq,
            )  # fmt: skip
            return [], "stale"
        if not node.online:
            return [], "ignored"  # already dead (a repeated will)
        return self._die(node, m.received), "stored"

    def _die(self, node: Node, at: dt.datetime) -> list[Parsed]:
        """The node and its online devices offline since `at`: their `offline` rows."""
        node.online, node.death_at = False, at
        rows: list[Parsed] = []
        for name in sorted(node.devices):
            state = node.devices[name]
            if state.online:
                state.online, state.death_at = False, at
                node.touched_devices.add(name)
                rows.append(self._offline(node, name, at) or Parsed())
        own = node.births.get("")
        if own is not None and own.has_data:
            rows.append(self._offline(node, "", at) or Parsed())
        return rows

    def _device_death(self, node: Node, m: _Message) -> list[Parsed]:
        device = m.topic.device
        state = node.devices[device]
        if not state.online:
            return []
        payload = m.payload
        ts = _moment(payload.timestamp) if payload.HasField("timestamp") else m.received
        if not m.received - self.retention <= ts <= m.received + dt.timedelta(days=1):
            ts = m.received
        state.online, state.death_at = False, ts
        row = self._offline(node, device, ts)
        return [row] if row else []


def _birth_ts(m: _Message) -> dt.datetime | None:
    """A birth's payload timestamp (the edge node's clock), None when it has none or one
    more than a day ahead of its arrival (a clock no order can be taken from)."""
    payload = m.payload
    if not payload.HasField("timestamp") or payload.timestamp > m.record.received_ms + DAY_MS:
        return None
    return _moment(payload.timestamp)


def _older(
    ts: dt.datetime, received: dt.datetime, current_ts: dt.datetime | None,
    current_at: dt.datetime | None,
) -> bool:  # fmt: skip
    """`ts` is older than the current birth's `current_ts`, and arrived no later than
    STALE_WINDOW after it (`current_at`)."""
    if current_ts is None or ts >= current_ts:
        return False
    return current_at is None or received <= current_at + STALE_WINDOW


def _node_row(n: Node) -> tuple[object, ...]:
    missing = "{" + ",".join(str(s) for s in sorted(n.seq.missing)) + "}"
    return (
        n.group, n.node, n.online, n.bd_seq, n.birth_version, n.seq.last_seq, missing,
        n.seq.gap_since, n.rebirth_wanted, n.birth_at, n.death_at, n.last_seen, n.birth_ts,
        *(n.pending_death or (None, None)),
    )  # fmt: skip


def _first(metric: pb.Payload.Metric, datatype: int) -> object:
    """A scalar metric's value (None when it has none)."""
    try:
        found = values(metric, datatype)
    except Unstorable:
        return None
    return found[0][1] if found else None


def _dead(record: Record, reason: str) -> Parsed:
    return Parsed(dead=[(record.topic, record.payload, reason)], topic=record.topic,
                  payload=record.payload)  # fmt: skip

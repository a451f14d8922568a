"""The edge-node simulator (protheus_demo.edge) against a real broker, read by a raw MQTT
subscriber that decodes with the generated sparkplug_b_pb2 module: births, alias-only data,
seq wrap and gaps, rebirth on NCMD, deaths (clean, will on a lost connection, SIGKILL)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiomqtt
import orjson
import pytest

from protheus_demo.edge import EdgeNode, Published
from protheus_demo.edge.payload import SentMetric, encode, rebirth_requested
from services.telemetry.sparkplug.proto import sparkplug_b_pb2 as pb
from tests.support.telemetry import ROOT, Broker

GROUP = "Plant1"

_SIGNED = {1: 8, 2: 16, 3: 32, 4: 64}


def value_of(metric: pb.Payload.Metric, datatype: int) -> object:
    """The metric's value by datatype (signed ints from two's complement of their width)."""
    if metric.is_null:
        return None
    if datatype in (1, 2, 3, 5, 6, 7):
        raw = metric.int_value
    elif datatype in (4, 8, 13):
        raw = metric.long_value
    elif datatype == 9:
        return metric.float_value
    elif datatype == 10:
        return metric.double_value
    elif datatype == 11:
        return metric.boolean_value
    else:
        return metric.string_value
    bits = _SIGNED.get(datatype)
    if bits and raw >= 1 << (bits - 1):
        raw -= 1 << bits
    return raw


@dataclass
class Seen:
    topic: str
    payload: pb.Payload

    @property
    def kind(self) -> str:
        return self.topic.split("/")[2]

    @property
    def seq(self) -> int | None:
        return self.payload.seq if self.payload.HasField("seq") else None

    def metric(self, name: str) -> pb.Payload.Metric:
        return next(m for m in self.payload.metrics if m.name == name)


class Watcher:
    """A raw subscriber to spBv1.0/<GROUP>/# (QoS 1), messages in arrival order."""

    def __init__(self, client: aiomqtt.Client) -> None:
        self.client = client
        self.queue: asyncio.Queue[Seen] = asyncio.Queue()

    async def collect(self) -> None:
        async for message in self.client.messages:
            payload = pb.Payload()
            assert isinstance(message.payload, bytes)
            payload.ParseFromString(message.payload)
            await self.queue.put(Seen(str(message.topic), payload))

    async def next(self, *kinds: str, seconds: float = 10) -> Seen:
        """The next message of one of `kinds` (NCMD/STATE are skipped unless asked)."""
        while True:
            seen = await asyncio.wait_for(self.queue.get(), seconds)
            if seen.kind in kinds or (not kinds and seen.kind not in ("NCMD", "DCMD")):
                return seen

    async def take(self, count: int) -> list[Seen]:
        return [await self.next() for _ in range(count)]


@pytest.fixture
async def watcher(broker: Broker) -> AsyncIterator[Watcher]:
    async with aiomqtt.Client(
        "127.0.0.1", broker.port, identifier=f"watch-{uuid.uuid4().hex[:8]}"
    ) as client:
        await client.subscribe(f"spBv1.0/{GROUP}/#", qos=1)
        w = Watcher(client)
        task = asyncio.create_task(w.collect())
        yield w
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def node_for(broker: Broker, **overrides: object) -> EdgeNode:
    options: dict[str, object] = {"devices": ["Press1", "Lathe2"], "metrics_per_device": 5}
    options.update(overrides)
    return EdgeNode(broker.url, GROUP, "Line1", **options)  # type: ignore[arg-type]


def assert_matches(seen: Seen, sent: Published, births: dict[int, tuple[str, int]]) -> None:
    """The decoded message is the one publish_data returned: topic, seq, timestamps and
    each metric's value, resolved through the birth's aliases."""
    assert seen.topic == sent.topic
    assert seen.seq == sent.seq
    assert seen.payload.timestamp == sent.timestamp
    decoded = []
    for metric in seen.payload.metrics:
        name, datatype = births[metric.alias]
        decoded.append((name, value_of(metric, datatype), metric.timestamp))
    assert decoded == [(m.name, m.value, m.timestamp) for m in sent.metrics]


def aliases_of(birth: Seen) -> dict[int, tuple[str, int]]:
    return {m.alias: (m.name, m.datatype) for m in birth.payload.metrics if m.HasField("alias")}


def test_signed_integers_travel_as_twos_complement_of_their_width() -> None:
    metrics = [
        SentMetric("i8", None, 1, -1, 5), SentMetric("i16", None, 2, -300, 5),
        SentMetric("i32", None, 3, -70000, 5), SentMetric("i64", None, 4, -(2**40), 5),
        SentMetric("u64", None, 8, 2**63 + 1, 5), SentMetric("null", None, 9, None, 5),
    ]  # fmt: skip
    payload = pb.Payload()
    payload.ParseFromString(encode(metrics, timestamp=5, seq=3))
    raw = [m.int_value for m in payload.metrics[:3]] + [m.long_value for m in payload.metrics[3:5]]
    assert raw == [255, 65536 - 300, 2**32 - 70000, 2**64 - 2**40, 2**63 + 1]
    assert [value_of(m, s.datatype) for m, s in zip(payload.metrics, metrics, strict=True)] == [
        -1, -300, -70000, -(2**40), 2**63 + 1, None,
    ]  # fmt: skip
    with pytest.raises(OverflowError):
        encode([SentMetric("i8", None, 1, 128, 5)], timestamp=5, seq=0)


def test_a_rebirth_command_is_recognised_only_when_true() -> None:
    def ncmd(value: bool) -> bytes:
        metric = pb.Payload.Metric(name="Node Control/Rebirth", datatype=11, boolean_value=value)
        return pb.Payload(timestamp=1, metrics=[metric]).SerializeToString()

    assert rebirth_requested(ncmd(True))
    assert not rebirth_requested(ncmd(False))
    assert not rebirth_requested(b"\xff\xff garbage")


async def test_births_then_data_with_aliases_only(broker: Broker, watcher: Watcher) -> None:
    async with node_for(broker, bd_seq=4) as node:
        nbirth, press, lathe = await watcher.take(3)
        sent = await node.publish_data()
        data = await watcher.take(2)

    assert (nbirth.kind, nbirth.seq) == ("NBIRTH", 0)
    assert nbirth.metric("bdSeq").datatype == 8
    assert nbirth.metric("bdSeq").long_value == 4
    rebirth = nbirth.metric("Node Control/Rebirth")
    assert (rebirth.datatype, rebirth.boolean_value) == (11, False)
    assert [(b.topic, b.seq) for b in (press, lathe)] == [
        ("spBv1.0/Plant1/DBIRTH/Line1/Press1", 1), ("spBv1.0/Plant1/DBIRTH/Line1/Lathe2", 2),
    ]  # fmt: skip
    declared = [(m.name, m.datatype) for m in press.payload.metrics]
    assert declared == [
        ("State", 12), ("Reason", 12), ("Count/Good", 8), ("Count/Scrap", 8),
        ("m0", 9), ("m1", 10), ("m2", 3), ("m3", 11), ("m4", 4),
    ]  # fmt: skip
    assert press.metric("State").string_value == "running"
    assert all(m.HasField("alias") and m.timestamp for m in press.payload.metrics)
    # Aliases are unique across the node and its devices.
    births = {**aliases_of(nbirth), **aliases_of(press), **aliases_of(lathe)}
    assert len(births) == sum(len(aliases_of(b)) for b in (nbirth, press, lathe))

    assert [d.seq for d in data] == [3, 4]
    for seen, published in zip(data, sent, strict=True):
        assert all(
            m.HasField("alias") and not m.name and not m.datatype for m in seen.payload.metrics
        )
        assert_matches(seen, published, births)


async def test_data_values_follow_the_seed(broker: Broker) -> None:
    first, second = node_for(broker, seed=11), node_for(broker, seed=11)
    other = node_for(broker, seed=12)
    async with first, second, other:
        steps = [
            [[(m.name, m.value) for m in p.metrics] for p in await n.publish_data()]
            for n in (first, second, other)
        ]
    assert steps[0] == steps[1]
    assert steps[0] != steps[2]


async def test_seq_wraps_from_255_to_0_and_continues(broker: Broker, watcher: Watcher) -> None:
    async with node_for(broker, devices=["Press1"]) as node:
        await watcher.take(2)  # NBIRTH 0, DBIRTH 1
        for _ in range(300):
            await node.publish_data()
        data = await watcher.take(300)
    seqs = [d.seq for d in data]
    assert seqs == [(2 + n) % 256 for n in range(300)]
    assert seqs[253:256] == [255, 0, 1]


async def test_skip_seq_leaves_a_gap(broker: Broker, watcher: Watcher) -> None:
    async with node_for(broker, devices=["Press1"]) as node:
        await watcher.take(2)
        await node.publish_data()
        node.skip_seq(3)
        sent = await node.publish_data()
        await node.publish_data()
        data = await watcher.take(3)
    assert [d.seq for d in data] == [2, 6, 7]
    assert sent[0].seq == 6


async def test_a_rebirth_command_gets_nbirth_with_seq_0_and_the_same_bd_seq(
    broker: Broker, watcher: Watcher
) -> None:
    async with node_for(broker, bd_seq=9) as node:
        await watcher.take(3)
        await node.publish_data()
        await watcher.take(2)
        current = dict(node.devices["Press1"].values)
        command = pb.Payload(timestamp=1, metrics=[
            pb.Payload.Metric(name="Node Control/Rebirth", datatype=11, boolean_value=True),
        ])  # fmt: skip
        await watcher.client.publish(
            "spBv1.0/Plant1/NCMD/Line1", command.SerializeToString(), qos=1
        )
        nbirth, press, lathe = await watcher.take(3)
        await node.wait_rebirths(1)
        await node.publish_data(["Press1"])
        after = await watcher.next()
    assert (nbirth.kind, nbirth.seq, nbirth.metric("bdSeq").long_value) == ("NBIRTH", 0, 9)
    assert [(press.kind, press.seq), (lathe.kind, lathe.seq)] == [("DBIRTH", 1), ("DBIRTH", 2)]
    # The birth declares the current values: those of the step taken before the command.
    assert {m.name: value_of(m, m.datatype) for m in press.payload.metrics} == current
    assert (after.kind, after.seq) == ("DDATA", 3)
    assert node.rebirths_answered == 1
    assert node.births_published == 2


async def test_without_aliases_births_and_data_carry_names(
    broker: Broker, watcher: Watcher
) -> None:
    async with node_for(broker, devices=["Press1"], aliases=False) as node:
        nbirth, dbirth = await watcher.take(2)
        sent = await node.publish_data(
            values={"State": "fault", "Reason": "05", "m2": -12}, timestamp=1_700_000_000_000
        )
        ddata = await watcher.next()
    assert not any(m.HasField("alias") for b in (nbirth, dbirth) for m in b.payload.metrics)
    assert [(m.name, m.HasField("alias")) for m in ddata.payload.metrics] == [
        ("State", False), ("Reason", False), ("m2", False),
    ]  # fmt: skip
    assert value_of(ddata.metric("m2"), 3) == -12
    assert {ddata.payload.timestamp, *(m.timestamp for m in ddata.payload.metrics)} == {
        1_700_000_000_000
    }
    assert sent[0].values == {"State": "fault", "Reason": "05", "m2": -12}
    assert node.devices["Press1"].values["State"] == "fault"


async def test_ddeath_then_clean_ndeath_with_the_bd_seq(broker: Broker, watcher: Watcher) -> None:
    async with node_for(broker, bd_seq=255) as node:
        await watcher.take(3)
        await node.device_death("Lathe2")
        ddeath = await watcher.next()
        await node.publish_data()
        only_press = await watcher.next()
    ndeath = await watcher.next()
    assert (ddeath.topic, ddeath.seq) == ("spBv1.0/Plant1/DDEATH/Line1/Lathe2", 3)
    assert only_press.topic.endswith("/Press1")
    assert ndeath.kind == "NDEATH"
    assert ndeath.seq is None
    assert ndeath.metric("bdSeq").long_value == 255
    assert ndeath.metric("bdSeq").datatype == 8


async def test_a_lost_connection_gives_the_will_and_the_reconnect_the_next_bd_seq(
    broker: Broker, watcher: Watcher
) -> None:
    async with node_for(broker, bd_seq=255) as node:
        await watcher.take(3)
        await node.drop()
        will = await watcher.next()
        nbirth = await watcher.next()
        await watcher.take(2)  # DBIRTHs
        assert node.connects == 2
    assert (will.kind, will.metric("bdSeq").long_value) == ("NDEATH", 255)
    assert (nbirth.kind, nbirth.seq, nbirth.metric("bdSeq").long_value) == ("NBIRTH", 0, 0)
    ndeath = await watcher.next()
    assert ndeath.metric("bdSeq").long_value == 0
    stale = pb.Payload()
    stale.ParseFromString(node.ndeath_payload(255))
    assert [(m.name, m.datatype, m.long_value) for m in stale.metrics] == [("bdSeq", 8, 255)]


async def test_over_mqtt5_births_data_and_will(broker: Broker, watcher: Watcher) -> None:
    async with node_for(broker, devices=["Press1"], mqtt5=True, bd_seq=3) as node:
        nbirth, dbirth = await watcher.take(2)
        await node.publish_data()
        ddata = await watcher.next()
        await node.drop()
        will = await watcher.next()
        reborn = await watcher.next()
    assert [(s.kind, s.seq) for s in (nbirth, dbirth, ddata)] == [
        ("NBIRTH", 0), ("DBIRTH", 1), ("DDATA", 2),
    ]  # fmt: skip
    assert (will.kind, will.metric("bdSeq").long_value) == ("NDEATH", 3)
    assert (reborn.kind, reborn.metric("bdSeq").long_value) == ("NBIRTH", 4)


async def test_abort_loses_the_node_for_good(broker: Broker, watcher: Watcher) -> None:
    node = node_for(broker, devices=["Press1"], bd_seq=1)
    await node.start()
    await watcher.take(2)
    await node.abort()
    will = await watcher.next()
    assert (will.kind, will.metric("bdSeq").long_value) == ("NDEATH", 1)
    with pytest.raises(asyncio.TimeoutError):
        await watcher.next(seconds=0.5)
    assert not node.connected.is_set()


async def test_bulk_publishes_ddata_with_every_numeric_metric(
    broker: Broker, watcher: Watcher
) -> None:
    async with node_for(broker, metrics_per_device=10, record=False) as node:
        await watcher.take(3)
        assert await node.bulk(500) == 500
        data = await watcher.take(500)
    assert [d.seq for d in data] == [(3 + n) % 256 for n in range(500)]
    assert {len(d.payload.metrics) for d in data} == {10}
    assert {d.topic.rsplit("/", 1)[1] for d in data[:2]} == {"Press1", "Lathe2"}
    stamps = [d.payload.timestamp for d in data]
    assert len(set(stamps)) == 500  # strictly increasing per node: no dedupe collisions
    assert node.published == []


async def test_killing_the_cli_makes_the_broker_publish_the_ndeath_will(
    broker: Broker, watcher: Watcher
) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "protheus_demo.edge", "--mqtt-url", broker.url, "--group", GROUP,
        "--node", "Line9", "--devices", "Press1", "--metrics", "3", "--rate", "50",
        "--gap-every", "3", "--bd-seq", "7", "--log-level", "WARNING",
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    try:
        nbirth = await watcher.next("NBIRTH", seconds=20)
        await watcher.next("DBIRTH")
        data = [await watcher.next("DDATA") for _ in range(7)]
    finally:
        process.send_signal(signal.SIGKILL)
        await process.wait()
    will = await watcher.next("NDEATH")
    assert nbirth.metric("bdSeq").long_value == 7
    # --gap-every 3: one seq skipped before steps 3 and 6.
    assert [d.seq for d in data] == [2, 3, 4, 6, 7, 8, 10]
    assert will.topic == "spBv1.0/Plant1/NDEATH/Line9"
    assert will.metric("bdSeq").long_value == 7


async def test_the_cli_bulk_mode_publishes_and_leaves_with_a_clean_ndeath(
    broker: Broker, watcher: Watcher
) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "protheus_demo.edge", "--mqtt-url", broker.url, "--group", GROUP,
        "--node", "Bench", "--devices", "B0,B1,B2", "--bulk", "120", "--log-level", "WARNING",
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0
    assert orjson.loads(out)["published"] == 120
    births = [await watcher.next() for _ in range(4)]
    data = [await watcher.next() for _ in range(120)]
    ndeath = await watcher.next()
    assert [b.kind for b in births] == ["NBIRTH", "DBIRTH", "DBIRTH", "DBIRTH"]
    assert {d.kind for d in data} == {"DDATA"}
    assert {len(d.payload.metrics) for d in data} == {10}
    assert (ndeath.kind, ndeath.metric("bdSeq").long_value) == ("NDEATH", 0)


async def test_with_a_primary_host_births_wait_for_its_state_and_leave_when_it_goes(
    broker: Broker, watcher: Watcher
) -> None:
    async def state(online: bool, timestamp: int) -> None:
        body = orjson.dumps({"online": online, "timestamp": timestamp})
        await watcher.client.publish("spBv1.0/STATE/mes", body, qos=1, retain=True)

    await state(False, 1000)
    async with node_for(broker, devices=["Press1"], primary_host="mes", bd_seq=5) as node:
        await node.wait_until(lambda: node.host_states.get("mes", {}).get("timestamp") == 1000)
        assert node.births_published == 0
        await state(True, 2000)
        nbirth, _ = await watcher.take(2)
        await state(False, 1500)  # older than the online one: ignored
        await node.publish_data()
        ddata = await watcher.next()
        await state(False, 3000)
        ndeath = await watcher.next()
        await node.wait_until(lambda: node.connects == 2)
        await state(True, 4000)
        reborn = await watcher.next()
        await watcher.next()  # DBIRTH
    await state(False, 5000)  # no retained online STATE left for other tests' brokers
    assert (nbirth.kind, nbirth.metric("bdSeq").long_value) == ("NBIRTH", 5)
    assert (ddata.kind, ddata.seq) == ("DDATA", 2)
    assert (ndeath.kind, ndeath.metric("bdSeq").long_value) == ("NDEATH", 5)
    assert (reborn.kind, reborn.seq, reborn.metric("bdSeq").long_value) == ("NBIRTH", 0, 6)


async def test_a_broker_restart_gets_a_new_session_with_the_next_bd_seq(broker: Broker) -> None:
    async with node_for(broker, devices=["Press1"], bd_seq=2) as node:
        await broker.stop()
        await broker.start()
        await node.wait_until(lambda: node.connects == 2 and node.born.is_set(), seconds=20)
        assert (node.bd_seq, node.births_published) == (3, 2)
        sent = await node.publish_data()
    # The restart's NBIRTH began the seq again: NBIRTH 0, DBIRTH 1, then the data.
    assert sent[0].seq == 2
    births = [p for p in node.published if p.kind == "NBIRTH"]
    assert [b.values["bdSeq"] for b in births] == [2, 3]

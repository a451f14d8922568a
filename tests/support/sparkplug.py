"""Sparkplug host test support: payloads built field by field (so a test can leave out what a
broken gateway leaves out), and records fed through the ingestor's drain path."""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

import asyncpg
from prometheus_client import CollectorRegistry

from services.telemetry.ingest.ingestor import IngestMetrics, Ingestor
from services.telemetry.ingest.spool import Record
from services.telemetry.sparkplug.proto import sparkplug_b_pb2 as pb
from shared.settings import Settings, SparkplugSettings
from tests.support.telemetry import FAST

GROUP, NODE = "Plant1", "GW1"
INT32, INT64, UINT64, FLOAT, DOUBLE, BOOLEAN, STRING = 3, 4, 8, 9, 10, 11, 12
# An hour ago, whole seconds: inside retention and never in the future.
BASE_MS = (int(time.time()) - 3600) * 1000

Value = float | int | bool | str | None


def topic(kind: str, device: str = "", *, group: str = GROUP, node: str = NODE) -> str:
    return f"spBv1.0/{group}/{kind}/{node}" + (f"/{device}" if device else "")


def metric(
    name: str | None = None,
    value: Value = None,
    *,
    alias: int | None = None,
    datatype: int | None = None,
    ts: int | None = None,
    null: bool = False,
) -> pb.Payload.Metric:
    """A metric; the value goes in the field of its datatype (given, or guessed from it)."""
    m = pb.Payload.Metric()
    if name is not None:
        m.name = name
    if alias is not None:
        m.alias = alias
    if ts is not None:
        m.timestamp = ts
    kind = datatype
    if kind is None and value is not None:
        kind = {bool: BOOLEAN, int: INT64, float: DOUBLE, str: STRING}[type(value)]
    if datatype is not None:
        m.datatype = datatype
    if null:
        m.is_null = True
    elif value is not None:
        if kind == BOOLEAN:
            m.boolean_value = bool(value)
        elif kind in (1, 2, 3, 5, 6, 7):
            m.int_value = int(value) % 2**32
        elif kind in (4, 8, 13):
            m.long_value = int(value) % 2**64
        elif kind == FLOAT:
            m.float_value = float(value)
        elif kind == DOUBLE:
            m.double_value = float(value)
        else:
            m.string_value = str(value)
    return m


def payload(*metrics: pb.Payload.Metric, seq: int | None = None, ts: int | None = None) -> bytes:
    p = pb.Payload()
    if seq is not None:
        p.seq = seq
    if ts is not None:
        p.timestamp = ts
    p.metrics.extend(metrics)
    return p.SerializeToString()


def nbirth(*metrics: pb.Payload.Metric, bd_seq: int = 0, ts: int = BASE_MS) -> bytes:
    return payload(
        metric("bdSeq", bd_seq, datatype=UINT64),
        metric("Node Control/Rebirth", False, datatype=BOOLEAN),
        *metrics,
        seq=0,
        ts=ts,
    )


def ndeath(bd_seq: int) -> bytes:
    return payload(metric("bdSeq", bd_seq, datatype=UINT64))


class Feeder:
    """Feeds (topic, payload) messages to an ingestor's drain path as spooled records, one
    call one batch (not started: no broker; the database is real)."""

    def __init__(self, ingestor: Ingestor) -> None:
        self.ingestor = ingestor
        self.position = 0

    async def feed(self, *messages: tuple[str, bytes], received_ms: int | None = None) -> None:
        records = []
        for topic_text, body in messages:
            self.position += 100
            records.append(
                Record(topic_text, body, received_ms or int(time.time() * 1000), self.position)
            )
        await self.ingestor._store(records)


async def feeders(dsn: str, spool_dir: str) -> AsyncIterator[Callable[..., Any]]:
    """A factory of Feeders, each over a new Ingestor (a restart: nothing cached) with its
    own pool; `sparkplug` overrides SparkplugSettings fields."""
    pools: list[asyncpg.Pool] = []

    async def make(**sparkplug: Any) -> Feeder:
        settings = Settings(
            mes_db_url=dsn, mqtt_url="mqtt://127.0.0.1:1", mqtt_client_id="host-test",
            sparkplug=SparkplugSettings(**sparkplug),
        )  # fmt: skip
        pool = await asyncpg.create_pool(dsn, min_size=0, max_size=2)
        pools.append(pool)
        config = dataclasses.replace(FAST, spool_dir=spool_dir)
        return Feeder(Ingestor(pool, settings, config, IngestMetrics(CollectorRegistry())))

    yield make
    for pool in pools:
        await pool.close()


Sample = tuple[str, str, dt.datetime, float]
StateRow = tuple[str, dt.datetime, str, str | None]
CounterRow = tuple[str, dt.datetime, int, int]


def at(ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC)


def expected_rows(
    messages: Iterable[Any], node: str
) -> tuple[set[Sample], set[StateRow], set[CounterRow]]:
    """The rows the host's rules make of an EdgeNode's published births and data (its
    `published` log), worked out from what was sent: samples of every numeric metric,
    State rows with the message's Reason (a Reason alone restating the last State), and
    the increases of the Count/Good and Count/Scrap totals."""
    samples: set[Sample] = set()
    states: set[StateRow] = set()
    counters: set[CounterRow] = set()
    totals: dict[tuple[str, str], int] = {}
    last_state: dict[str, str] = {}
    for message in messages:
        if message.kind not in ("NBIRTH", "DBIRTH", "NDATA", "DDATA"):
            continue
        machine = message.device or node
        told: list[tuple[dt.datetime, str]] = []
        reason: tuple[dt.datetime, str | None] | None = None
        increases: dict[dt.datetime, list[int]] = {}
        for sent in message.metrics:
            name, value, ts = sent.name, sent.value, at(sent.timestamp)
            if name == "bdSeq" or name.startswith(("Node Control/", "Properties/")):
                continue
            if name == "State":
                told.append((ts, str(value).lower()))
            elif name == "Reason":
                reason = (ts, str(value) or None)
            elif name in ("Count/Good", "Count/Scrap"):
                before = totals.get((machine, name))
                totals[(machine, name)] = int(value)
                if before is not None:
                    grown = int(value) - before if int(value) >= before else int(value)
                    increases.setdefault(ts, [0, 0])[name == "Count/Scrap"] += grown
            if value is not None and not isinstance(value, str):
                samples.add((machine, name, ts, float(value)))
        text = reason[1] if reason else None
        states |= {(machine, ts, state, text) for ts, state in told}
        if told:
            last_state[machine] = told[-1][1]
        elif reason is not None and machine in last_state:
            states.add((machine, reason[0], last_state[machine], text))
        counters |= {(machine, ts, g, s) for ts, (g, s) in increases.items() if g or s}
    return samples, states, counters


async def stored_rows(dsn: str) -> tuple[set[Sample], set[StateRow], set[CounterRow]]:
    """What PostgreSQL holds, in the shapes of expected_rows (offline states left out)."""
    conn = await asyncpg.connect(dsn)
    try:
        samples = await conn.fetch("SELECT machine, metric, ts, value FROM telemetry_samples")
        states = await conn.fetch(
            "SELECT machine, ts, state, reason FROM machine_states WHERE state <> 'offline'"
        )
        counters = await conn.fetch("SELECT machine, ts, good, scrap FROM machine_counters")
    finally:
        await conn.close()
    return (
        {tuple(r) for r in samples},  # type: ignore[misc]
        {tuple(r) for r in states},  # type: ignore[misc]
        {tuple(r) for r in counters},  # type: ignore[misc]
    )

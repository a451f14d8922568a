"""replay(): generated data published on MQTT as devices would (DESIGN.md section 4), paced in
real time (or faster) and stamped with the current time; live(): an endless plant for
`make run` with DEMO_TELEMETRY=on."""

from __future__ import annotations

import asyncio
import datetime as dt
import heapq
import logging
import time
import uuid
from collections.abc import Iterator, Mapping

import aiomqtt
import orjson

from protheus_demo.plantgen.generate import demo_machines, generate
from protheus_demo.plantgen.model import PlantData
from shared.mqtt import BrokerAddress

log = logging.getLogger("protheus_demo.plantgen")

Message = tuple[dt.datetime, int, str, str, dict[str, object]]  # ts, order, machine, channel, body


def messages(data: PlantData) -> Iterator[Message]:
    """Every telemetry, state and counter message of the data, in time order (a machine's
    state before its readings of the same instant)."""

    def telemetry(machine: str) -> Iterator[Message]:
        for ts, values in data.frames(machine):
            yield ts, 2, machine, "telemetry", {"metrics": values}

    states: Iterator[Message] = (
        (ts, 0, m, "state", {"state": s} if r is None else {"state": s, "reason": r})
        for m, ts, s, r in sorted(data.states, key=lambda row: row[1])
    )
    counters: Iterator[Message] = (
        (ts, 1, m, "counter", {"good": g, "scrap": s} if o is None
         else {"good": g, "scrap": s, "order": o})
        for m, ts, g, s, o in sorted(data.counters, key=lambda row: row[1])
    )  # fmt: skip
    streams = [states, counters, *(telemetry(m) for m, *_ in data.machines)]
    return heapq.merge(*streams, key=lambda message: (message[0], message[1]))


async def replay(
    data: PlantData,
    mqtt_url: str,
    speed: float = 1.0,
    *,
    shift: bool = True,
    client_id: str | None = None,
    ca_file: str | None = None,
) -> int:
    """Publish the data at QoS 1; the number of messages. With `shift`, the data's start
    becomes now (timestamps move by the same amount); `speed` > 1 plays faster than real
    time, 0 as fast as the broker takes it."""
    address = BrokerAddress.from_url(mqtt_url)
    topics = {m: f"mes/v1/{s}/{a}/{line}/{m}" for m, s, a, line in data.machines}
    started_wall = time.monotonic()
    offset = dt.datetime.now(dt.UTC) - data.start if shift else dt.timedelta(0)
    published = 0
    client = aiomqtt.Client(
        address.host, address.port, username=address.username, password=address.password,
        identifier=client_id or f"mes-plantgen-{uuid.uuid4().hex[:8]}",
        tls_context=address.tls_context(ca_file), max_inflight_messages=100,
    )  # fmt: skip
    async with client:
        for ts, _order, machine, channel, body in messages(data):
            if speed > 0:
                due = started_wall + (ts - data.start).total_seconds() / speed
                wait = due - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
            payload = orjson.dumps({"ts": (ts + offset).isoformat(), **body})
            await client.publish(f"{topics[machine]}/{channel}", payload, qos=1)
            published += 1
    return published


async def live(
    mqtt_url: str,
    *,
    seed: int = 16,
    machines: list[tuple[str, str, str, str]] | None = None,
    step_s: float = 10,
    ca_file: str | None = None,
    orders: Mapping[str, str] | None = None,
) -> None:
    """Publish a misbehaving plant in real time until cancelled: a day of data at a time
    (the next day from the next seed), resuming after a lost broker. The machines work
    round the clock (a demo started on a Sunday night still shows machines running);
    `orders` (machine -> SC2 order key) names the order in their counter messages."""
    rows = machines or demo_machines()
    day = 0
    while True:
        now = dt.datetime.now(dt.UTC)
        start = now.replace(microsecond=0)
        data = generate(
            seed + day,
            machines=rows,
            start=start,
            days=1,
            step_s=step_s,
            shifts="24x7",
            orders=orders,
        )
        try:
            count = await replay(data, mqtt_url, 1.0, shift=False, ca_file=ca_file)
            log.info("demo telemetry: published a day (%d messages)", count)
            day += 1
        except aiomqtt.MqttError as exc:
            log.warning("demo telemetry: broker unavailable (%s); retrying in 5 s", exc)
            await asyncio.sleep(5)

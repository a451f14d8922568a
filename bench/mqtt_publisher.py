"""A PLC fleet for benchmarks and tests: publishes N telemetry messages at QoS 1, as fast as
the broker takes them, as our JSON topics or as a Sparkplug B edge node.

    python -m bench.mqtt_publisher PORT COUNT MACHINES [METRICS] [--sparkplug]

Message n goes to machine BM<n % MACHINES> with ts = start + n ms and METRICS metrics
(10 by default) m0..m<METRICS-1>, m<k> = n + k: each message is one key per metric, and
metric m0 carries the message's number. JSON: mes/v1/bench/area/line/BM<i>/telemetry.
Sparkplug: edge node `line` of group `bench` with one device per machine; the births
(NBIRTH, then a DBIRTH per device declaring m0.. as Double with aliases and null values,
so they add no rows) come first, then DDATA carrying aliases only, metric timestamps and
seq wrapping 0..255, as a gateway sends them: the same rows as the JSON stream.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import sys
from collections.abc import Iterator

import aiomqtt
import orjson

from protheus_demo.edge.payload import BD_SEQ, DOUBLE, UINT64, SentMetric, encode

GROUP, NODE = "bench", "line"
INFLIGHT = 200


def json_messages(count: int, machines: int, metrics: int) -> Iterator[tuple[str, bytes]]:
    start = dt.datetime.now(dt.UTC) - dt.timedelta(hours=12)
    for n in range(count):
        machine = f"BM{n % machines:03d}"
        ts = (start + dt.timedelta(milliseconds=n)).isoformat()
        body = orjson.dumps({"ts": ts, "metrics": {f"m{k}": n + k for k in range(metrics)}})
        yield f"mes/v1/bench/area/line/{machine}/telemetry", body


def sparkplug_messages(count: int, machines: int, metrics: int) -> Iterator[tuple[str, bytes]]:
    start = int((dt.datetime.now(dt.UTC) - dt.timedelta(hours=12)).timestamp() * 1000)
    prefix = f"spBv1.0/{GROUP}"
    birth = [SentMetric(BD_SEQ, None, UINT64, 0, start)]
    yield f"{prefix}/NBIRTH/{NODE}", encode(birth, timestamp=start, seq=0)
    seq = 0
    for i in range(machines):
        seq = (seq + 1) % 256
        declared = [
            SentMetric(f"m{k}", i * metrics + k + 1, DOUBLE, None, start) for k in range(metrics)
        ]
        yield f"{prefix}/DBIRTH/{NODE}/BM{i:03d}", encode(declared, timestamp=start, seq=seq)
    for n in range(count):
        i, ts = n % machines, start + n
        seq = (seq + 1) % 256
        values = [
            SentMetric(f"m{k}", i * metrics + k + 1, DOUBLE, n + k, ts) for k in range(metrics)
        ]
        body = encode(values, timestamp=ts, seq=seq, names=False, datatypes=False)
        yield f"{prefix}/DDATA/{NODE}/BM{i:03d}", body


async def main(port: int, count: int, machines: int, metrics: int, sparkplug: bool) -> None:
    messages = (sparkplug_messages if sparkplug else json_messages)(count, machines, metrics)
    will = None
    if sparkplug:
        death = encode([SentMetric(BD_SEQ, None, UINT64, 0, 0)], timestamp=0, seq=None)
        will = aiomqtt.Will(f"spBv1.0/{GROUP}/NDEATH/{NODE}", death, qos=1)
    async with aiomqtt.Client(
        "127.0.0.1", port, identifier="bench-plc-fleet", max_inflight_messages=INFLIGHT, will=will
    ) as client:
        pending = []
        for topic, body in messages:
            pending.append(client.publish(topic, body, qos=1))
            if len(pending) >= INFLIGHT:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)


if __name__ == "__main__":
    # aiomqtt warns on every publish beyond 10 in flight; a fleet at full speed is the point here.
    logging.getLogger("mqtt").setLevel(logging.ERROR)
    flags = [arg for arg in sys.argv[1:] if arg.startswith("--")]
    numbers = [int(arg) for arg in sys.argv[1:] if not arg.startswith("--")]
    port, count, machines, *rest = numbers
    asyncio.run(main(port, count, machines, rest[0] if rest else 10, "--sparkplug" in flags))

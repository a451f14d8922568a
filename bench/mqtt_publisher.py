"""A PLC fleet for benchmarks and tests: publishes N telemetry messages at QoS 1, as fast as
the broker takes them.

    python -m bench.mqtt_publisher PORT COUNT MACHINES [METRICS]

Message n goes to machine BM<n % MACHINES> with ts = start + n ms and METRICS metrics
(10 by default) m0..m<METRICS-1>, m<k> = n + k: each message is one key per metric, and
metric m0 carries the message's number.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import sys

import aiomqtt
import orjson


async def main(port: int, count: int, machines: int, metrics: int = 10) -> None:
    start = dt.datetime.now(dt.UTC) - dt.timedelta(hours=12)
    async with aiomqtt.Client(
        "127.0.0.1", port, identifier="bench-plc-fleet", max_inflight_messages=200
    ) as client:
        pending = []
        for n in range(count):
            machine = f"BM{n % machines:03d}"
            ts = (start + dt.timedelta(milliseconds=n)).isoformat()
            body = orjson.dumps({"ts": ts, "metrics": {f"m{k}": n + k for k in range(metrics)}})
            pending.append(
                client.publish(f"mes/v1/bench/area/line/{machine}/telemetry", body, qos=1)
            )
            if len(pending) >= 200:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)


if __name__ == "__main__":
    # aiomqtt warns on every publish beyond 10 in flight; a fleet at full speed is the point here.
    logging.getLogger("mqtt").setLevel(logging.ERROR)
    asyncio.run(main(*(int(arg) for arg in sys.argv[1:5])))

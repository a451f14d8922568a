"""A PLC fleet for benchmarks: publishes N telemetry messages (10 metrics each) at QoS 1."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import sys

import aiomqtt
import orjson


async def main(port: int, count: int, machines: int) -> None:
    start = dt.datetime.now(dt.UTC) - dt.timedelta(hours=12)
    async with aiomqtt.Client(
        "127.0.0.1", port, identifier="bench-plc-fleet", max_inflight_messages=200
    ) as client:
        pending = []
        for n in range(count):
            machine = f"BM{n % machines:03d}"
            ts = (start + dt.timedelta(milliseconds=n)).isoformat()
            body = orjson.dumps({"ts": ts, "metrics": {f"m{k}": n + k for k in range(10)}})
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
    asyncio.run(main(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])))

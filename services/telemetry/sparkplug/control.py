"""What the host application says on the broker: its STATE (birth on connect, will and a
clean stop's offline) and the NCMD Node Control/Rebirth requests of the rebirth sweep."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import aiomqtt
import asyncpg
import orjson

from services.telemetry.sparkplug import queries
from services.telemetry.sparkplug.proto import sparkplug_b_pb2 as pb
from services.telemetry.sparkplug.topic import NAMESPACE

log = logging.getLogger(__name__)

REBIRTH = "Node Control/Rebirth"
BOOLEAN = 11
SWEEP_MAX_S = 1.0
SWEEP_BACKOFF_MAX_S = 30.0
# The sweep's database or broker trouble is logged and the next sweep tries again (a node
# claimed but not asked is asked again after reorder_s).
SWEEP_ERRORS = (
    aiomqtt.MqttError,
    TimeoutError,
    OSError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
)


def state_topic(host_id: str) -> str:
    return f"{NAMESPACE}/STATE/{host_id}"


def state_payload(*, online: bool, timestamp_ms: int) -> bytes:
    """Sparkplug 3.0 STATE: JSON {"online": ..., "timestamp": epoch ms}; the birth and the
    will of one connection carry the same timestamp."""
    return orjson.dumps({"online": online, "timestamp": timestamp_ms})


def state_will(host_id: str, timestamp_ms: int) -> aiomqtt.Will:
    """The will set on every connect: offline, retained, QoS 1."""
    return aiomqtt.Will(
        state_topic(host_id),
        state_payload(online=False, timestamp_ms=timestamp_ms),
        qos=1,
        retain=True,
    )


async def publish_state(
    client: aiomqtt.Client, host_id: str, *, online: bool, timestamp_ms: int
) -> None:
    await client.publish(
        state_topic(host_id),
        state_payload(online=online, timestamp_ms=timestamp_ms),
        qos=1,
        retain=True,
        timeout=10,
    )


def rebirth_topic(group: str, node: str) -> str:
    return f"{NAMESPACE}/{group}/NCMD/{node}"


def rebirth_payload(now_ms: int) -> bytes:
    """NCMD with one metric Node Control/Rebirth = true (Boolean), stamped now."""
    payload = pb.Payload(timestamp=now_ms)
    metric = payload.metrics.add()
    metric.name = REBIRTH
    metric.timestamp = now_ms
    metric.datatype = BOOLEAN
    metric.boolean_value = True
    return payload.SerializeToString()


def sweep_interval(reorder_s: float) -> float:
    return min(reorder_s / 2, SWEEP_MAX_S)


async def request_rebirths(
    pool: asyncpg.Pool, client: aiomqtt.Client, *, reorder_s: float, now_ms: Callable[[], int]
) -> int:
    """One sweep: claim the nodes due a rebirth and publish their NCMD (QoS 0, not
    retained); how many were asked."""
    async with pool.acquire(timeout=10) as conn:
        due = await queries.claim_rebirths(conn, reorder_s=reorder_s)
    for group, node in due:
        log.info("asking edge node %s/%s for a rebirth", group, node)
        await client.publish(rebirth_topic(group, node), rebirth_payload(now_ms()), qos=0)
    return len(due)


async def sweep_forever(
    pool: asyncpg.Pool,
    client: aiomqtt.Client,
    *,
    reorder_s: float,
    now_ms: Callable[[], int],
    counted: Callable[[int], None],
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> None:
    """The rebirth sweep while `client` is connected (the session cancels it): every
    min(reorder_s / 2, 1 s). It never dies: after a failure it waits twice as long each
    time (at most SWEEP_BACKOFF_MAX_S) and tries again."""
    interval = delay = sweep_interval(reorder_s)
    while True:
        await sleep(delay)
        try:
            asked = await request_rebirths(pool, client, reorder_s=reorder_s, now_ms=now_ms)
        except SWEEP_ERRORS as exc:
            delay = min(SWEEP_BACKOFF_MAX_S, delay * 2)
            log.warning("rebirth sweep failed (%s); trying again in %.1f s", exc, delay)
            continue
        except Exception:
            # A fault of ours: logged, and the sweep goes on (it is no task the session
            # waits on, so dying would stop every rebirth request silently).
            delay = min(SWEEP_BACKOFF_MAX_S, delay * 2)
            log.exception("rebirth sweep failed; trying again in %.1f s", delay)
            continue
        delay = interval
        if asked:
            counted(asked)

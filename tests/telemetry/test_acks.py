"""The aiomqtt adapter through a real broker: manual acks and the bounded read buffer."""

from __future__ import annotations

import asyncio
import uuid

import aiomqtt

from services.telemetry.ingest.acks import ManualAckClient
from tests.support.telemetry import Broker

TOPIC = "mes/v1/t/a/l/M1/telemetry"


def client(broker: Broker, identifier: str, high_water: int = 1000) -> ManualAckClient:
    return ManualAckClient(
        hostname="127.0.0.1",
        port=broker.port,
        identifier=identifier,
        clean_session=False,
        protocol=aiomqtt.ProtocolVersion.V311,
        high_water=high_water,
    )


async def send(broker: Broker, count: int) -> None:
    async with aiomqtt.Client("127.0.0.1", broker.port) as publisher:
        for n in range(count):
            await publisher.publish(TOPIC, str(n).encode(), qos=1)


async def take(source: ManualAckClient, count: int, *, ack: bool = False) -> list[aiomqtt.Message]:
    taken: list[aiomqtt.Message] = []
    async with asyncio.timeout(20):
        async for message in source.incoming():
            taken.append(message)
            if ack:
                source.ack(message)
            if len(taken) == count:
                return taken
    return taken


async def test_only_acknowledged_messages_are_not_delivered_again(broker: Broker) -> None:
    identifier = f"acks-{uuid.uuid4().hex[:8]}"
    async with client(broker, identifier) as first:
        await first.subscribe("mes/v1/#", qos=1)
        await send(broker, 10)
        received = await take(first, 10)
        for message in received[:4]:
            first.ack(message)
        await asyncio.sleep(0.2)  # the PUBACKs reach the broker before we leave
    # The same persistent session again: the six never acknowledged come back, and only they.
    async with client(broker, identifier) as second:
        again = await take(second, 6)
        assert sorted(int(m.payload) for m in again) == [4, 5, 6, 7, 8, 9]
        for message in again:
            second.ack(message)
        await asyncio.sleep(0.2)
    async with client(broker, identifier) as third:
        await send(broker, 1)
        (last,) = await take(third, 1)
        assert last.payload == b"0"  # a new message, not a redelivery


async def test_a_full_buffer_stops_reading_and_loses_nothing(broker: Broker) -> None:
    high_water = 50
    async with client(broker, f"flow-{uuid.uuid4().hex[:8]}", high_water) as slow:
        await slow.subscribe("mes/v1/#", qos=1)
        # A consumer that takes one message and then stalls (a slow database).
        messages = slow.incoming()
        taking = asyncio.ensure_future(anext(messages))
        await send(broker, 2000)
        first = await taking
        slow.ack(first)
        await asyncio.sleep(0.5)
        assert slow.paused
        assert slow._queue.qsize() <= high_water
        # Drained, it reads again: every message arrives, once, in order.
        received = [first]
        async with asyncio.timeout(20):
            async for message in messages:
                received.append(message)
                slow.ack(message)
                if len(received) == 2000:
                    break
        assert [int(m.payload) for m in received] == list(range(2000))
        assert not slow.paused


async def test_no_pause_before_a_consumer_reads(broker: Broker) -> None:
    """A persistent session delivers at once on connect, before the SUBACK: pausing then
    would hold the SUBACK back and `subscribe()` would never return."""
    identifier = f"resume-{uuid.uuid4().hex[:8]}"
    async with client(broker, identifier) as first:
        await first.subscribe("mes/v1/#", qos=1)
    await send(broker, 300)  # queued in the session while nobody is connected
    async with client(broker, identifier, high_water=10) as again:
        await asyncio.wait_for(again.subscribe("mes/v1/#", qos=1), timeout=5)
        received = await take(again, 300, ack=True)
        assert sorted(int(m.payload) for m in received) == list(range(300))

"""Manual MQTT acknowledgements on top of aiomqtt (which does not expose them yet).

paho-mqtt, underneath aiomqtt, can leave a QoS 1 message unacknowledged until the
application says so; the ingestor acknowledges only after the message's rows are
committed, so a crash before the commit makes the broker deliver it again.
"""

from __future__ import annotations

from typing import Any

import aiomqtt


def manual_ack_client(**kwargs: Any) -> aiomqtt.Client:
    """An aiomqtt client whose QoS 1 messages wait for `ack()`; its incoming queue is
    unbounded because a full aiomqtt queue discards messages: the broker's in-flight
    window, which unacknowledged messages fill, is what holds the stream back."""
    kwargs["max_queued_incoming_messages"] = 0
    client = aiomqtt.Client(**kwargs)
    client._client.manual_ack_set(True)
    return client


def ack(client: aiomqtt.Client, message: aiomqtt.Message) -> None:
    """PUBACK one message (a no-op for QoS 0)."""
    if message.qos > 0:
        client._client.ack(message.mid, message.qos)

"""aiomqtt with manual acknowledgements and a bounded incoming buffer.

aiomqtt does not expose either yet; paho-mqtt, underneath, does the first, and the event
loop's socket reader gives the second. Both live here, in one small tested adapter:

- Manual acks: paho leaves a QoS 1 message unacknowledged until the application says
  so; the ingestor acknowledges only after the message's rows are committed, so a crash
  before the commit makes the broker deliver it again.
- Flow control: the broker's in-flight window does not bound what reaches us (Mosquitto
  2.0 keeps sending while earlier messages are acknowledged), and a full aiomqtt queue
  would discard messages. So the client stops reading its socket when `high_water`
  messages wait in its queue and reads again when they are down to half: TCP pushes back
  and the broker keeps the rest in the persistent session. Memory stays bounded and
  nothing is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import struct
import sys
import termios
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiomqtt
import paho.mqtt.client as paho
from paho.mqtt.client import PUBACK

# One read from the socket takes this much at most; paho then parses packets out of it
# (its own reads are of 1 byte for the header, 1 per length byte, then the rest: three or
# four system calls per message without this).
READ_CHUNK = 256 * 1024


class ManualAckClient(aiomqtt.Client):
    """An aiomqtt client whose QoS 1 messages wait for `ack()` and whose buffer is bounded."""

    def __init__(self, *, high_water: int = 1000, **kwargs: Any) -> None:
        # aiomqtt's own bound discards messages when reached: ours pauses the socket instead.
        kwargs["max_queued_incoming_messages"] = 0
        super().__init__(**kwargs)
        self._client.manual_ack_set(True)
        self.high_water = max(1, high_water)
        self.low_water = self.high_water // 2
        self.paused = False
        self.held = False  # stopped by the application (a full spool), not by the buffer
        self._fileno: int | None = None
        # Only while someone consumes: before that, pausing could hold back the SUBACK that
        # `subscribe()` waits for behind the messages a persistent session delivers at once.
        self._consuming = False
        # Set by `deliver_to`: each message goes straight to it from paho's callback (no
        # aiomqtt Message, no queue, no generator hop): the ingestor's hot path.
        self._sink: Callable[[str, bytes, int, int], None] | None = None
        # Bytes read from the socket that paho has not parsed yet (this connection's).
        self._rx = b""
        self._rx_pos = 0
        self._raw_recv = self._client._sock_recv
        self._client._sock_recv = self._buffered_recv  # type: ignore[method-assign]

    async def incoming(self) -> AsyncIterator[aiomqtt.Message]:
        """The messages, as `client.messages`, reading the socket again once drained."""
        self._consuming = True
        async for message in self.messages:
            if self.paused and not self.held and self._queue.qsize() <= self.low_water:
                self._resume()
            yield message

    def deliver_to(self, sink: Callable[[str, bytes, int, int], None]) -> None:
        """Hand every message to `sink(topic, payload, mid, qos)` as paho parses it; then
        `ack_id(mid, qos)` acknowledges it and `wait_closed()` ends with the connection."""
        self._sink = sink
        self._consuming = True

    async def wait_closed(self) -> None:
        """Until the connection ends; raises MqttError then (as message iteration does)."""
        try:
            await asyncio.shield(self._disconnected)
        except Exception as exc:
            raise aiomqtt.MqttError(f"conexão com o broker encerrada: {exc}") from exc
        raise aiomqtt.MqttError("conexão com o broker encerrada")

    def ack_id(self, mid: int, qos: int) -> None:
        if qos > 0:
            self._client.ack(mid, qos)

    def ack_ids(self, messages: list[tuple[int, int]]) -> None:
        """PUBACK every QoS 1 message of (mid, qos) pairs at once, in their order: one
        write for the group instead of one per message (QoS 0 needs none; QoS 2, which
        the ingestor never subscribes with, goes through paho one by one)."""
        pubacks = bytearray()
        for mid, qos in messages:
            if qos == 1:
                pubacks += struct.pack("!BBH", PUBACK, 2, mid)
            elif qos == 2:
                self._client.ack(mid, qos)
        if pubacks:
            self._client._packet_queue(PUBACK, bytes(pubacks), 0, 1)

    def hold(self) -> None:
        """Stop reading the socket until `unhold()`: the broker keeps the rest."""
        self.held = True
        if not self.paused and self._fileno is not None:
            self._loop.remove_reader(self._fileno)
            self.paused = True

    def unhold(self) -> None:
        self.held = False
        if self.paused and self._queue.qsize() <= self.low_water:
            self._resume()

    def backlog(self) -> int:
        """Messages parsed and waiting, plus bytes the kernel holds unread on the socket: a
        sign the broker is sending faster than we read."""
        waiting = self._queue.qsize()
        if self._fileno is not None:
            with contextlib.suppress(OSError):
                raw = fcntl.ioctl(self._fileno, termios.FIONREAD, b"\0\0\0\0")
                waiting += int.from_bytes(raw, sys.byteorder)
        return waiting

    def ack(self, message: aiomqtt.Message) -> None:
        """PUBACK one message (a no-op for QoS 0)."""
        if message.qos > 0:
            self._client.ack(message.mid, message.qos)

    # --- paho callbacks (on the event loop's thread, but for socket open) -------------------

    def _on_message(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        if self._sink is not None:
            self._sink(message.topic, bytes(message.payload), message.mid, message.qos)
            return
        super()._on_message(client, userdata, message)
        if (
            self._consuming
            and not self.paused
            and self._fileno is not None
            and self._queue.qsize() >= self.high_water
        ):
            self._loop.remove_reader(self._fileno)
            self.paused = True

    def _on_socket_open(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        self._rx, self._rx_pos = b"", 0  # a new connection: nothing of the old one is parsed
        super()._on_socket_open(client, userdata, sock)  # schedules aiomqtt's reader
        fileno = sock.fileno()
        self._loop.call_soon_threadsafe(self._opened, fileno)

    def _on_socket_close(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        super()._on_socket_close(client, userdata, sock)
        self._fileno = None
        self.paused = False

    def _opened(self, fileno: int) -> None:
        self._fileno = fileno
        self.paused = False
        self._loop.add_reader(fileno, self._read_socket)  # ours, in place of aiomqtt's
        if self.held:
            self.held = False
            self.hold()

    def _resume(self) -> None:
        self.paused = False
        if self._fileno is not None:
            self._loop.add_reader(self._fileno, self._read_socket)
            if self._rx_pos < len(self._rx):
                # Already read off the socket: no readiness event will come for it.
                self._loop.call_soon(self._read_socket)

    def _buffered_recv(self, bufsize: int) -> bytes:
        """paho's socket read, served from one large read: empty bytes when the broker
        closed the connection, BlockingIOError when nothing is there (as a socket)."""
        if self._rx_pos >= len(self._rx):
            data = self._raw_recv(max(bufsize, READ_CHUNK))
            if not data:
                return b""
            self._rx, self._rx_pos = data, 0
        start = self._rx_pos
        self._rx_pos = min(start + bufsize, len(self._rx))
        return self._rx[start : self._rx_pos]

    def _read_socket(self) -> None:
        # As aiomqtt's own reader (a failed read means the connection broke), but every
        # packet already read is parsed before returning to the event loop.
        try:
            while True:
                if self.paused:
                    break  # held or buffer full: _resume() reads the rest
                self._client.loop_read()
                if self._rx_pos < len(self._rx):
                    continue
                sock = self._client.socket()
                if sock is not None and getattr(sock, "pending", lambda: 0)() > 0:
                    continue  # TLS: decoded bytes still buffered in the SSL socket
                break
        except Exception as exc:  # any failure of a read ends the connection
            if not self._disconnected.done():
                self._disconnected.set_exception(exc)

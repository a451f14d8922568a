"""A LISTEN connection of a background task's own that wakes it on each NOTIFY.

The stop detector and the alert publisher poll on a timer and, besides, wake at once when a
writer notifies their channel. Without the connection (refused, database down) they only
poll; `ensure()` retries at each loop turn.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import asyncpg

from shared.db.pools import ssl_context
from shared.redact import mask_dsn

log = logging.getLogger(__name__)


class Wakeup:
    """LISTEN on `channel` over a connection of its own; each notification sets `event`."""

    def __init__(
        self,
        dsn: str,
        channel: str,
        event: asyncio.Event,
        *,
        ca_file: str | None,
        application_name: str,
    ) -> None:
        self.dsn = dsn
        self.channel = channel
        self.event = event
        self.ca_file = ca_file
        self.application_name = application_name
        self._conn: asyncpg.Connection | None = None

    @property
    def listening(self) -> bool:
        return self._conn is not None and not self._conn.is_closed()

    def _notified(self, *_: object) -> None:
        self.event.set()

    async def ensure(self) -> None:
        """Open the connection and LISTEN unless it is open; a failure is logged (polling
        only) and retried at the next call."""
        if self.listening:
            return
        try:
            conn = await asyncpg.connect(
                self.dsn,
                ssl=ssl_context(self.ca_file),
                server_settings={"application_name": self.application_name},
                timeout=5,
            )
            try:
                await conn.add_listener(self.channel, self._notified)
            except BaseException:  # cancelled by the owner's stop() or refused: close it too
                conn.terminate()
                raise
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning(
                "cannot LISTEN on %s at %s (polling only): %s",
                self.channel,
                mask_dsn(self.dsn),
                exc,
            )
            return
        self._conn = conn

    async def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close(timeout=2)
            self._conn = None

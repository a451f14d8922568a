"""The event feed: one poller per process turns the MES database's changes into events, keeps
the last ones for clients that resume (Last-Event-ID) and fans each out to the subscribers
whose key has the event's scope, each through a bounded queue (a slow client is dropped, never
the poller)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from services.web.events import queries
from shared.db.pools import Connection
from shared.json import dumps
from shared.settings import ApiKey

log = logging.getLogger(__name__)

TELEMETRY_READ = "telemetry:read"
PRODUCTION_READ = "production:read"

# Rows one read brings; a full page is followed by the next one (keyset cursor on the change
# time and the row's key) in the same poll.
BATCH_ROWS = 5_000
# Events kept for clients that come back with Last-Event-ID.
REPLAY_EVENTS = 2_000
# Events waiting for one client; a client that falls this far behind is dropped (it
# reconnects and resumes from the replay buffer).
CLIENT_QUEUE = 500
# A transaction open longer than this (or one of a role whose sessions we cannot see) does not
# hold the watermark back further: its rows, if any, are announced late or not at all.
MAX_LAG_S = 300.0
# Subtracted from the horizon: rows re-read once more rather than missed by a hair.
HORIZON_MARGIN_S = 1.0


@dataclass(frozen=True)
class Event:
    """One server-sent event: its id, name, the scope that may see it and its JSON data."""

    id: str
    name: str
    scope: str
    data: str


@dataclass
class Channel:
    """One table the poller follows: where its watermark is and which rows at or above it it
    already announced (their keys: a row changed again has another change time)."""

    name: str
    scope: str
    sql: str
    key: Callable[[dict[str, Any]], Hashable]
    payload: Callable[[dict[str, Any]], dict[str, Any] | None]
    # The row's position in the statement's order, (change time, key...): the keyset cursor.
    cursor: Callable[[dict[str, Any]], tuple[Any, ...]]
    since: datetime | None = None
    seen: dict[Hashable, datetime] = field(default_factory=dict)


class Subscription:
    """One client's queue of events it may see; `dropped` once it fell behind."""

    def __init__(self, key: ApiKey, size: int = CLIENT_QUEUE) -> None:
        self.key = key
        # None wakes the stream up to end it (the server is stopping).
        self.queue: asyncio.Queue[Event | None] = asyncio.Queue(size)
        self.dropped = False
        # The id of a `reset` event to send first: the client's Last-Event-ID could not be
        # resumed (unknown, too old, or more missed than a queue holds), so it reloads its data.
        self.reset: str | None = None

    def close(self) -> None:
        """End the client's stream now (it reconnects to another replica or a restarted one)."""
        self.dropped = True
        with contextlib.suppress(asyncio.QueueFull):  # a full queue is read at once anyway
            self.queue.put_nowait(None)

    def allows(self, event: Event) -> bool:
        return self.key.allows(event.scope)

    def offer(self, event: Event) -> bool:
        """Queue the event if the key may see it; False when the queue is full."""
        if not self.allows(event):
            return True
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            return False
        return True


def iso(value: datetime | None, tz: ZoneInfo) -> str | None:
    return None if value is None else value.astimezone(tz).isoformat()


class EventFeed:
    """The poller (start/stop) and its subscribers."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        tz: ZoneInfo,
        poll_s: float,
        replay: int = REPLAY_EVENTS,
        client_queue: int = CLIENT_QUEUE,
    ) -> None:
        self.pool = pool
        self.tz = tz
        self.poll_s = poll_s
        self.client_queue = client_queue
        # Ids are `<epoch>-<n>`: an id of another process (a restart) resumes nothing.
        self.epoch = secrets.token_hex(4)
        self.counter = 0
        self.recent: deque[Event] = deque(maxlen=replay)
        self.subscribers: set[Subscription] = set()
        self.dropped_clients = 0
        self.polls = 0
        self.last_error: str | None = None
        self._task: asyncio.Task[None] | None = None
        self._latest_state: dict[str, datetime] = {}
        self.channels = [
            Channel("machine.state", TELEMETRY_READ, queries.STATE_CHANGES,
                    key=lambda r: (r["machine"], r["ts"], r["changed_at"]),
                    payload=self._state_payload,
                    cursor=lambda r: (r["changed_at"], r["ts"], r["machine"])),
            Channel("report.status", PRODUCTION_READ, queries.REPORT_CHANGES,
                    key=lambda r: (r["id"], r["status"], r["changed_at"]),
                    payload=lambda r: {"id": str(r["id"]), "order": r["order_key"],
                                       "status": r["status"], "error": r["error"]},
                    cursor=lambda r: (r["changed_at"], r["seq"])),
            Channel("stop.status", PRODUCTION_READ, queries.STOP_CHANGES,
                    key=lambda r: (r["id"], r["status"], r["changed_at"]),
                    payload=lambda r: {"id": str(r["id"]), "machine": r["machine"],
                                       "status": r["status"], "reason": r["reason_code"]},
                    cursor=lambda r: (r["changed_at"], r["seq"])),
            Channel("anomaly", TELEMETRY_READ, queries.ANOMALY_CHANGES,
                    key=lambda r: (r["id"], r["open"], r["changed_at"]),
                    payload=lambda r: {"id": str(r["id"]), "machine": r["machine"],
                                       "kind": r["kind"],
                                       "status": "open" if r["open"] else "closed"},
                    cursor=lambda r: (r["changed_at"], r["id"])),
            Channel("risk", TELEMETRY_READ, queries.RISK_CHANGES,
                    key=lambda r: (r["machine"], r["changed_at"]),
                    payload=lambda r: {"machine": r["machine"], "risk": float(r["risk"]),
                                       "alert": r["alert"]},
                    cursor=lambda r: (r["changed_at"], r["machine"])),
        ]  # fmt: skip

    # --- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="web-event-poller")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                await self.poll()
                self.last_error = None
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database away: try again next tick
                if self.last_error is None:
                    log.warning("event poll failed: %s", exc)
                self.last_error = f"{type(exc).__name__}: {exc}"
            await asyncio.sleep(self.poll_s)

    def status(self) -> dict[str, object]:
        return {
            "clients": len(self.subscribers),
            "droppedClients": self.dropped_clients,
            "polls": self.polls,
            "lastError": self.last_error,
        }

    # --- polling -------------------------------------------------------------------------

    async def poll(self) -> list[Event]:
        """One tick: read every channel's changes since its watermark, publish them (each
        channel's as soon as they are read: a later channel failing loses none of them)."""
        events: list[Event] = []
        async with self.pool.acquire() as conn:
            # The horizon first, the rows after: a transaction that commits in between
            # started before the horizon was read, so its rows are at or after it.
            _, horizon = await queries.horizon(conn, max_lag_s=MAX_LAG_S, margin_s=HORIZON_MARGIN_S)
            for channel in self.channels:
                if channel.since is None:  # first poll: from now on, no backlog
                    channel.since = horizon
                    continue
                events.extend(await self._read(conn, channel, horizon))
        self.polls += 1
        return events

    async def _read(self, conn: Connection, channel: Channel, horizon: datetime) -> list[Event]:
        """The channel's rows changed since its watermark, page by page (keyset cursor), each
        page published once read; then the watermark moves to the horizon."""
        assert channel.since is not None
        events: list[Event] = []
        after: tuple[Any, ...] = (None,) * queries.cursor_width(channel.sql)
        while True:
            rows = await queries.changes(
                conn, channel.sql, since=channel.since, after=after, limit=BATCH_ROWS
            )
            page = self._announce(channel, rows)
            for event in page:
                self.publish(event)
            events.extend(page)
            if len(rows) < BATCH_ROWS:
                break
            after = channel.cursor(rows[-1])
        # Rows below the horizon are all visible now and were read: never again. Keys of the
        # rows at or above it stay, so the next poll's re-read announces none twice.
        channel.since = max(channel.since, horizon)
        channel.seen = {k: at for k, at in channel.seen.items() if at >= channel.since}
        return events

    def _announce(self, channel: Channel, rows: list[dict[str, Any]]) -> list[Event]:
        """Events for the rows not announced yet."""
        events = []
        for row in rows:
            key = channel.key(row)
            if key in channel.seen:
                continue
            channel.seen[key] = row["changed_at"]
            data = channel.payload(row)
            if data is not None:
                events.append(self._event(channel, data))
        return events

    def _state_payload(self, row: dict[str, Any]) -> dict[str, Any] | None:
        """A state message, unless one later (by device time) was announced for the machine:
        a late, older message does not change the tile."""
        latest = self._latest_state.get(row["machine"])
        if latest is not None and row["ts"] < latest:
            return None
        self._latest_state[row["machine"]] = row["ts"]
        return {
            "machine": row["machine"],
            "state": row["state"],
            "reason": row["reason"],
            "ts": iso(row["ts"], self.tz),
        }

    def _event(self, channel: Channel, data: dict[str, Any]) -> Event:
        self.counter += 1
        return Event(
            id=f"{self.epoch}-{self.counter}",
            name=channel.name,
            scope=channel.scope,
            data=dumps(data),
        )

    # --- fan-out -------------------------------------------------------------------------

    def publish(self, event: Event) -> None:
        """Keep the event for resumes and queue it for every subscriber that may see it."""
        self.recent.append(event)
        for subscription in list(self.subscribers):
            if not subscription.offer(event):
                self.drop(subscription)

    def drop(self, subscription: Subscription) -> None:
        subscription.dropped = True
        self.subscribers.discard(subscription)
        self.dropped_clients += 1
        log.info("event client %s fell behind; dropped", subscription.key.name)

    def subscribe(self, key: ApiKey, last_event_id: str | None = None) -> Subscription:
        """A new subscriber; with Last-Event-ID of this process, the events after it that are
        still kept come first. An id that cannot be resumed (another process's, older than
        the kept events, or more missed than a queue holds) starts the stream afresh with a
        `reset` event: the client reloads its data instead of reconnecting with it forever."""
        subscription = Subscription(key, self.client_queue)
        missed = self.missed_since(last_event_id)
        if missed is None or not all(subscription.offer(event) for event in missed):
            subscription = Subscription(key, self.client_queue)
            subscription.reset = f"{self.epoch}-{self.counter}"
        self.subscribers.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self.subscribers.discard(subscription)

    def close_all(self) -> None:
        """End every open stream: the server stops without waiting for clients that never
        hang up."""
        for subscription in list(self.subscribers):
            subscription.close()
        self.subscribers.clear()

    def missed_since(self, last_event_id: str | None) -> list[Event] | None:
        """The kept events after the id; None when the id cannot be resumed (another
        process's, malformed, or events after it are no longer kept)."""
        if not last_event_id:
            return []
        epoch, _, number = last_event_id.strip().partition("-")
        if epoch != self.epoch or not number.isdigit():
            return None
        seen = int(number)
        if seen > self.counter:
            return None
        oldest = int(self.recent[0].id.partition("-")[2]) if self.recent else self.counter + 1
        if seen + 1 < oldest:  # some events after it were dropped from the buffer
            return None
        return [e for e in self.recent if int(e.id.partition("-")[2]) > seen]

"""Web service test support: its real app on a test MES database, keys, and an SSE reader."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from aiohttp import ClientResponse, web

from services.web.app import create_app
from shared.json import loads
from shared.settings import IngestSettings, Settings, WebSettings, parse_api_keys
from tests.helpers import NO_AUDIT

TELEMETRY_KEY = "web-telemetry-key-0123456789"
PRODUCTION_KEY = "web-production-key-0123456789"
KEYS = f"painel:{TELEMETRY_KEY}:telemetry:read;operador:{PRODUCTION_KEY}:production:read,production:write"
FAST_EVENTS = WebSettings(events_poll_s=0.1, events_ping_s=1.0)


def web_app(mes_dsn: str, **overrides: Any) -> web.Application:
    """The web service's real app on a test MES database, polling fast."""
    settings = Settings(
        mes_db_url=mes_dsn,
        **{
            "api_keys": parse_api_keys(KEYS),
            "audit": NO_AUDIT,
            "ingest": IngestSettings(enabled=False),
            "web": FAST_EVENTS,
            **overrides,
        },
    )
    return create_app(settings)


@dataclass
class Received:
    id: str | None
    name: str
    data: Any


@dataclass
class SseReader:
    """Reads a text/event-stream response event by event (comments skipped)."""

    response: ClientResponse
    comments: list[str] = field(default_factory=list)

    async def next(self, wait_s: float = 15.0) -> Received:
        return await asyncio.wait_for(self._next(), wait_s)

    async def _next(self) -> Received:
        fields: dict[str, list[str]] = {}
        while True:
            raw = await self.response.content.readline()
            if not raw:
                raise EOFError("stream ended")
            line = raw.decode().rstrip("\r\n")
            if not line:
                if "data" in fields:
                    return Received(
                        id=(fields.get("id") or [None])[0],
                        name=(fields.get("event") or ["message"])[0],
                        data=loads("\n".join(fields["data"])),
                    )
                continue
            if line.startswith(":"):
                self.comments.append(line)
                continue
            name, _, value = line.partition(":")
            fields.setdefault(name, []).append(value.removeprefix(" "))

    async def until(self, predicate: Any, wait_s: float = 15.0) -> Received:
        """The first event matching the predicate (others skipped)."""

        async def wait() -> Received:
            while True:
                event = await self._next()
                if predicate(event):
                    return event

        return await asyncio.wait_for(wait(), wait_s)

    async def none_matching(self, predicate: Any, within: float) -> list[Received]:
        """The events that arrived within `within` seconds; fails if one matches."""
        got: list[Received] = []
        try:
            while True:
                event = await asyncio.wait_for(self._next(), within)
                got.append(event)
                assert not predicate(event), event
        except TimeoutError:
            return got


async def insert_state(
    conn: asyncpg.Connection, machine: str, state: str, *, reason: str | None = None,
    ts: dt.datetime | None = None,
) -> dt.datetime:  # fmt: skip
    ts = ts or dt.datetime.now(dt.UTC)
    await conn.execute(
        "INSERT INTO machine_states (machine, ts, state, reason) VALUES ($1, $2, $3, $4)",
        machine, ts, state, reason,
    )  # fmt: skip
    return ts


async def insert_report(conn: asyncpg.Connection, *, order: str = "00000101001") -> uuid.UUID:
    report_id = uuid.uuid4()
    now = dt.datetime.now(dt.UTC)
    await conn.execute(
        """INSERT INTO production_reports (id, client, branch, order_key, operation, machine,
               operator, start_at, end_at, good_quantity, scrap_quantity, final)
           VALUES ($1, 'operador', '01', $2, '10', 'M01', 'OP1', $3, $4, 5, 0, false)""",
        report_id, order, now - dt.timedelta(hours=1), now,
    )  # fmt: skip
    return report_id

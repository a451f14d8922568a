"""Stop detection test support: state timelines written through the telemetry store (which marks
the machines dirty as the ingestor does), a detector on the test's MES database, and reads of
the stops it stored."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import asyncpg
from prometheus_client import CollectorRegistry

from services.production.stops.detector import StopDetector, StopMetrics
from services.telemetry.ingest.parse import Parsed
from services.telemetry.ingest.store import TelemetryStore
from shared.settings import Settings, StopSettings
from tests.helpers import NO_AUDIT

T0 = dt.datetime(2026, 3, 2, 11, 0, tzinfo=dt.UTC)
MACHINE = "PRENSA01"
STOPS = StopSettings(min_s=120, detect_poll_s=0.05)


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


async def write_states(
    conn: asyncpg.Connection, *changes: tuple[float, str, str | None], machine: str = MACHINE
) -> None:
    """Store (seconds after T0, state, reason) rows as one ingest flush."""
    states = [(machine, at(s), state, reason) for s, state, reason in changes]
    await TelemetryStore().write(conn, [Parsed(states=states)])


def detector(mes_dsn: str, pool: asyncpg.Pool, **stops: Any) -> StopDetector:
    settings = Settings(
        mes_db_url=mes_dsn, audit=NO_AUDIT, stops=dataclasses.replace(STOPS, **stops)
    )
    return StopDetector(pool, settings, StopMetrics(CollectorRegistry()))


async def stops_of(conn: asyncpg.Connection, machine: str = MACHINE) -> list[dict[str, Any]]:
    """The machine's stops in start order, times as seconds after T0."""
    rows = await conn.fetch(
        """SELECT id, state, plc_reason, start_at, end_at, reason_code, classified_by, status,
                  branch, updated_at, EXISTS (SELECT 1 FROM stop_outbox o WHERE o.stop_id = s.id) AS queued
           FROM stops s WHERE machine = $1 ORDER BY start_at""",
        machine,
    )
    return [
        {
            **dict(r),
            "start": (r["start_at"] - T0).total_seconds(),
            "end": None if r["end_at"] is None else (r["end_at"] - T0).total_seconds(),
        }
        for r in rows
    ]


def shape(stops: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """(start, end, state, plc_reason, status) of each stop, for comparisons."""
    return [(s["start"], s["end"], s["state"], s["plc_reason"], s["status"]) for s in stops]

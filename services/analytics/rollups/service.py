"""The rollups' run: recompute the buckets ingest marked dirty, in bounded batches.

- telemetry: each batch of dirty minutes is recomputed from the samples (1 m), their hours from
  the minutes (1 h), and the marks used deleted, in one transaction;
- OEE: each dirty machine-hour (counter marks, the hours of state spans, the hours counted
  for an order the SC2 mirror changed), each hour still open (the current one, and those since
  a machine's last computed hour) and some recent closed hours still without ideal time is
  what /api/v1/oee answers for that machine and [hour, hour + 1 h): the route's own stages
  (facts, window_totals, oee_figures), every machine of an hour in one pass. Rows and the
  marks used are saved in one transaction; a mark set again meanwhile stays. A change of the settings OEE depends on (OeeSetup.basis)
  marks every machine's hours once. With Protheus down nothing is saved (ideal times would be
  wrongly unknown): the marks wait for the next run.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import asyncpg

from services.analytics.rollups import queries
from services.analytics.rollups.queries import HourMark, OeeRow, StateSpan
from services.telemetry.query.oee.facts import collect_facts
from services.telemetry.query.oee.ideal import PROTHEUS_DOWN_NOTE
from services.telemetry.query.oee.present import oee_figures
from services.telemetry.query.oee.service import window_totals
from services.telemetry.query.service import effective_end, utc_now
from services.telemetry.query.shifts import ShiftCalendar
from shared.db.pools import mes_connection
from shared.errors import DependencyUnavailable
from shared.protheus.context import ProtheusContext
from shared.settings import Settings

log = logging.getLogger(__name__)

HOUR = dt.timedelta(hours=1)
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
# Marks per batch: bounds each transaction (and the arrays bound to its statements).
MINUTE_BATCH = 20_000
HOUR_BATCH = 5_000
# Closed hours with counts and no ideal time are computed again each run while younger than
# this: Protheus may get their standards late (an order's SC2 row is marked by the mirror, an
# SG2 routing time is not). A constant, not a setting: a week covers a late registration.
UNKNOWN_IDEAL_AGE = dt.timedelta(days=7)
# At most this many such hours per run, all their machines: each hour costs a facts read and
# a Protheus read (drawn at random, 7 x 24 hours are all seen again within a few dozen runs).
UNKNOWN_IDEAL_HOURS = 12


@dataclass(frozen=True)
class OeeSetup:
    """What OEE needs from the settings: SHIFT_CALENDAR, PLANT_TIMEZONE, PROTHEUS_TIME_FORMAT."""

    calendar: ShiftCalendar
    tz: ZoneInfo
    time_format: str

    basis: str = ""

    @classmethod
    def from_settings(cls, settings: Settings) -> OeeSetup:
        """The setup, with `basis`: every setting the figures depend on, company and branch
        included (their change makes the job compute every hour again)."""
        return cls(
            ShiftCalendar.from_setting(settings.shift_calendar, settings.tz),
            settings.tz,
            settings.protheus_time_format,
            basis="|".join(
                (
                    f"SHIFT_CALENDAR={settings.shift_calendar or ''}",
                    f"PLANT_TIMEZONE={settings.plant_timezone}",
                    f"PROTHEUS_TIME_FORMAT={settings.protheus_time_format}",
                    f"PROTHEUS_COMPANY={settings.protheus_company}",
                    f"PROTHEUS_BRANCH={settings.protheus_branch}",
                )
            ),
        )


async def roll_telemetry(pool: asyncpg.Pool, *, batch: int = MINUTE_BATCH) -> int:
    """Recompute every dirty minute (marked before the run began) and its hour; returns how
    many marks were used."""
    used = 0
    async with mes_connection(pool) as conn:
        ceiling = await queries.mark_ceiling(conn)
    while True:
        async with mes_connection(pool) as conn, conn.transaction():
            marks = await queries.minute_marks(conn, limit=batch, ceiling=ceiling)
            if marks:
                used += await queries.refresh_telemetry(conn, marks=marks)
        if len(marks) < batch:
            return used


async def hourly_oee(
    pool: asyncpg.Pool,
    protheus: ProtheusContext,
    *,
    hours: Mapping[dt.datetime, Sequence[str]],
    setup: OeeSetup,
) -> list[OeeRow]:
    """The OEE rows of these machines per hour: for each hour, the figures /api/v1/oee gives
    for one machine over [hour, hour + 1 h), rounded as it rounds them (present.oee_figures).
    DependencyUnavailable when Protheus (the ideal times) or the MES is down."""
    rows: list[OeeRow] = []
    for hour in sorted(hours):
        machines = sorted(set(hours[hour]))
        end = effective_end(hour, hour + HOUR)
        planned = setup.calendar.planned(hour, end)
        async with mes_connection(pool) as conn:
            facts = await collect_facts(
                conn, machine=None, line=None, start=hour, end=end, planned=planned,
                machines=machines,
            )  # fmt: skip
        _runs, note, per_machine = await window_totals(
            pool, protheus, facts, start=hour, end=end, planned=planned, tz=setup.tz,
            time_format=setup.time_format,
        )  # fmt: skip
        if note == PROTHEUS_DOWN_NOTE:
            raise DependencyUnavailable(PROTHEUS_DOWN_NOTE)
        for machine in machines:
            totals = per_machine[machine]
            shown = oee_figures(totals)
            rows.append(
                OeeRow(
                    machine=machine,
                    hour=hour,
                    planned_s=shown["plannedTime"],
                    running_s=shown["runningTime"],
                    ideal_s=None if totals.ideal is None else round(totals.ideal, 3),
                    good=shown["goodCount"],
                    scrap=shown["scrapCount"],
                    availability=shown["availability"],
                    performance=shown["performance"],
                    quality=shown["quality"],
                    oee=shown["oee"],
                    computed_until=end,
                    closed=end >= hour + HOUR,
                )
            )
    return rows


def by_hour(pairs: Sequence[tuple[str, dt.datetime]]) -> dict[dt.datetime, list[str]]:
    """Machine-hour pairs grouped by hour, each machine once."""
    grouped: dict[dt.datetime, set[str]] = defaultdict(set)
    for machine, hour in pairs:
        grouped[hour].add(machine)
    return {hour: sorted(machines) for hour, machines in grouped.items()}


def span_hours(spans: Sequence[StateSpan], now: dt.datetime) -> list[tuple[str, dt.datetime]]:
    """Each span's machine-hours, an open end (None) up to now's hour."""
    current = hour_of(now)
    pairs = []
    for span in spans:
        hour, last = span.first_hour, max(span.first_hour, span.last_hour or current)
        while hour <= last:
            pairs.append((span.machine, hour))
            hour += HOUR
    return pairs


def hour_of(instant: dt.datetime) -> dt.datetime:
    """The UTC-aligned hour an instant falls in (the rollups' date_bin)."""
    return EPOCH + (instant - EPOCH) // HOUR * HOUR


async def roll_oee(
    pool: asyncpg.Pool,
    protheus: ProtheusContext,
    *,
    setup: OeeSetup,
    batch: int = HOUR_BATCH,
) -> tuple[int, int]:
    """Recompute every dirty machine-hour (marks, and the hours of the state spans), every
    open one and some recent ones without ideal time, `batch` pairs at a time; returns (marks
    and spans used, rows written). The spans are deleted with the last batch: until then a
    crash leaves them to redo."""
    now = utc_now()
    async with mes_connection(pool) as conn:
        # The SC2 and SH6 mirrors' logs, each folded in a transaction of its own.
        await queries.fold_order_log(conn)
        await queries.fold_span_log(conn)
        ceiling = await queries.mark_ceiling(conn)
        spans = await queries.state_spans(conn)
        extra = (
            span_hours(spans, now)
            + await queries.open_hours(conn, now=now)
            + await queries.unknown_ideal_hours(
                conn, since=now - UNKNOWN_IDEAL_AGE, hours=UNKNOWN_IDEAL_HOURS
            )
        )
    used = written = 0
    while True:
        async with mes_connection(pool) as conn:
            marks: list[HourMark] = await queries.hour_marks(conn, limit=batch, ceiling=ceiling)
        pairs = [(m.machine, m.hour) for m in marks] + extra[:batch]
        extra = extra[batch:]
        last = not extra and len(marks) < batch
        rows = await hourly_oee(pool, protheus, hours=by_hour(pairs), setup=setup)
        async with mes_connection(pool) as conn, conn.transaction():
            deleted, saved = await queries.save_oee(
                conn, rows=rows, marks=marks, spans=spans if last else ()
            )
        used += deleted
        written += saved
        if last:
            return used, written


async def refresh_rollups(
    pool: asyncpg.Pool, protheus: ProtheusContext, *, setup: OeeSetup
) -> dict[str, int]:
    """One run of the rollup job, per dataset: telemetry minutes recomputed (marks used) and
    oee_hourly rows written."""
    async with mes_connection(pool) as conn:
        # Rows computed under other settings (SHIFT_CALENDAR, ...) are to be computed again.
        machines = await queries.rebase_oee(conn, basis=setup.basis)
    if machines:
        log.info("OEE settings changed: the hourly OEE of %d machines is computed again", machines)
    minutes = await roll_telemetry(pool)
    _hours, oee_rows = await roll_oee(pool, protheus, setup=setup)
    return {"telemetry_1m": minutes, "oee_hourly": oee_rows}

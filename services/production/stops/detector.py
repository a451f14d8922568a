"""The stop detector: rebuilds the stops of machines whose states changed, classifies them,
queues the classified closed ones for the pusher, and applies the classification deadline.

The ingestor marks a machine in `stop_dirty` (from the earliest state of its batch) in the
transaction that stores the states and notifies `stop_dirty`. The detector LISTENs on a
connection of its own and also polls every STOP_DETECT_POLL_S (a notification is lost while
it is disconnected; the marks are not). For a batch of marked machines, in one transaction:

- read the states from the last non-stop state before the mark (no stop spans it), or the
  machine's first state, to the end, for all the machines in one query;
- detect the stops of that region (services/production/stops/detect.py) and reconcile them
  with the stored stops overlapping it (`reconcile`): a computed stop starting where a
  stored one starts keeps the stored id; frozen stops (a person's, or one that went to
  Protheus, or one a pusher holds) are never changed or deleted and computed stops
  overlapping one are dropped; stored stops not computed again are deleted;
- classify by stop_reason_mapping, queue the pending ones (queries.enqueue), and clear each
  mark only if nobody marked the machine again meanwhile.

A late or repeated state message is therefore exact: the region is rebuilt from scratch and a
state already stored changes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

import asyncpg
from prometheus_client import CollectorRegistry, Counter, Gauge

from services.production.stops import queries
from services.production.stops.detect import OFFLINE, DetectedStop, detect_stops
from services.production.stops.queries import DirtyMark, StopRow, StoredStop
from shared.db.listen import Wakeup
from shared.db.pools import Connection
from shared.settings import Settings

log = logging.getLogger(__name__)

CHANNEL = "stop_dirty"
BATCH_MACHINES = 200  # marked machines rebuilt per transaction


class StopMetrics:
    """Stops detected, and stops waiting for a person (count, oldest age)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.detected = Counter(
            "production_stops_detected_total",
            "Stops found in the machines' state timelines and stored as new (a rebuild that "
            "moves a stop's start stores a new one).",
            registry=registry,
        )
        self.unclassified = Gauge(
            "production_stops_unclassified",
            "Closed stops waiting for a person to give their reason (offline ones excluded).",
            registry=registry,
        )
        self.unclassified_oldest = Gauge(
            "production_stops_unclassified_oldest_seconds",
            "Time since the oldest stop waiting for a reason ended.",
            registry=registry,
        )


@dataclass
class Plan:
    """What a rebuild writes for one or more machines."""

    inserts: list[StopRow] = field(default_factory=list)
    updates: list[StopRow] = field(default_factory=list)
    deletes: list[uuid.UUID] = field(default_factory=list)
    # Machines whose rebuild could not apply because a pusher's lease held a stop it would
    # change: their mark stays, so the next round rebuilds them (the lease may end unsent).
    recheck: set[str] = field(default_factory=set)
    # Updated stops that left `pending` (their queue row must go).
    unqueue: list[uuid.UUID] = field(default_factory=list)

    @property
    def pending(self) -> list[uuid.UUID]:
        return [s.id for s in (*self.inserts, *self.updates) if s.status == "pending"]

    def extend(self, other: Plan) -> None:
        self.inserts += other.inserts
        self.updates += other.updates
        self.deletes += other.deletes
        self.unqueue += other.unqueue
        self.recheck |= other.recheck


def classify(
    stop: DetectedStop, mapping: dict[str, str], previous: StoredStop | None = None
) -> tuple[str | None, str | None, str]:
    """(reason_code, classified_by, status) of a detected stop: the mapping's reason for its
    PLC reason; a default reason the deadline already gave the stored stop is kept; offline
    stops get none. Open stops are `open`, closed ones `pending` with a reason, else
    `unclassified`."""
    reason: str | None = None
    by: str | None = None
    if stop.state != OFFLINE:
        if stop.plc_reason is not None and stop.plc_reason in mapping:
            reason, by = mapping[stop.plc_reason], "mapping"
        elif previous is not None and previous.classified_by == "default":
            reason, by = previous.reason_code, "default"
    status = "open" if stop.end is None else "pending" if reason is not None else "unclassified"
    return reason, by, status


def _overlaps(
    a_start: dt.datetime, a_end: dt.datetime | None, b_start: dt.datetime, b_end: dt.datetime | None
) -> bool:
    return (b_end is None or a_start < b_end) and (a_end is None or b_start < a_end)


def reconcile(
    machine: str,
    computed: Sequence[DetectedStop],
    stored: Sequence[StoredStop],
    *,
    region_start: dt.datetime,
    mapping: dict[str, str],
) -> Plan:
    """The writes that make the stored stops of `machine` overlapping its rebuilt region
    (from `region_start`) match the computed ones, by STOPS.md "Rebuild".

    A stored stop starting before the region (none should: the region starts at a non-stop
    state) is left alone like a frozen one."""
    plan = Plan()
    untouchable = [s for s in stored if s.frozen or s.start < region_start]
    by_start = {s.start: s for s in stored if not (s.frozen or s.start < region_start)}
    kept: set[uuid.UUID] = set()
    for stop in computed:
        blocking = [f for f in untouchable if _overlaps(stop.start, stop.end, f.start, f.end)]
        if blocking:
            if any(not f.settled and (f.start, f.end) != (stop.start, stop.end) for f in blocking):
                plan.recheck.add(machine)  # a lease, not a delivery, keeps it as it was
            continue
        previous = by_start.get(stop.start)
        reason, by, status = classify(stop, mapping, previous)
        row = StopRow(
            id=previous.id if previous else uuid.uuid4(),
            machine=machine,
            state=stop.state,
            plc_reason=stop.plc_reason,
            start=stop.start,
            end=stop.end,
            reason_code=reason,
            classified_by=by,
            status=status,
        )
        if previous is None:
            plan.inserts.append(row)
            continue
        kept.add(previous.id)
        same = (
            previous.end,
            previous.state,
            previous.plc_reason,
            previous.reason_code,
            previous.classified_by,
            previous.status,
        ) == (row.end, row.state, row.plc_reason, row.reason_code, row.classified_by, row.status)
        if not same:
            plan.updates.append(row)
            if previous.status == "pending" and row.status != "pending":
                plan.unqueue.append(row.id)
    plan.deletes = [s.id for s in by_start.values() if s.id not in kept]
    return plan


class StopDetector:
    """Rebuilds the stops of marked machines; started and stopped with the production app."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        settings: Settings,
        metrics: StopMetrics,
        *,
        batch: int = BATCH_MACHINES,
    ) -> None:
        self.pool = pool
        self.settings = settings
        self.config = settings.stops
        self.metrics = metrics
        self.batch = batch
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._listener = Wakeup(
            self.settings.mes_db_url,
            CHANNEL,
            self._wake,
            ca_file=self.settings.db_ca_file,
            application_name="mes-stop-detector",
        )
        self._next_sweep = 0.0  # time.monotonic() of the next deadline sweep

    # --- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        self._stopping.clear()
        self._task = asyncio.create_task(self._run(), name="stop-detector")

    async def stop(self) -> None:
        self._stopping.set()
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._listener.close()

    async def _run(self) -> None:
        while not self._stopping.is_set():
            await self._listener.ensure()
            # Cleared before the round: a notification during it brings the next one at once.
            self._wake.clear()
            try:
                rebuilt = await self.run_once()
                # The ingestor may wake the detector several times a second: the sweep and
                # the gauges, which read every waiting stop, run once per poll at most.
                if time.monotonic() >= self._next_sweep:
                    self._next_sweep = time.monotonic() + self.config.detect_poll_s
                    await self.apply_deadline()
                    await self.refresh_gauges()
            except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("stop detection round failed: %s", exc)
                rebuilt = 0
            except Exception:
                log.exception("stop detection round failed")
                rebuilt = 0
            if rebuilt >= self.batch:
                continue  # more marks are waiting
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.config.detect_poll_s)

    # --- one round ---------------------------------------------------------------------------

    async def run_once(self) -> int:
        """Rebuild one batch of marked machines in one transaction; returns how many."""
        async with self.pool.acquire() as conn, conn.transaction():
            await queries.lock_mapping(conn)
            marks = await queries.take_dirty(conn, limit=self.batch)
            if not marks:
                return 0
            plan = await self.rebuild(conn, marks)
            await queries.delete_stops(conn, stop_ids=plan.deletes)
            await queries.update_stops(conn, stops=plan.updates)
            await queries.insert_stops(conn, branch=self.settings.protheus_branch, stops=plan.inserts)  # fmt: skip
            await queries.unqueue(conn, stop_ids=plan.unqueue)
            await queries.enqueue(conn, stop_ids=plan.pending)
            await queries.clear_dirty(
                conn, marks=[m for m in marks if m.machine not in plan.recheck]
            )
        self.metrics.detected.inc(len(plan.inserts))
        if plan.inserts or plan.updates or plan.deletes:
            log.debug(
                "stops rebuilt for %d machine(s): %d new, %d updated, %d deleted",
                len(marks), len(plan.inserts), len(plan.updates), len(plan.deletes),
            )  # fmt: skip
        return len(marks)

    async def rebuild(self, conn: Connection, marks: list[DirtyMark]) -> Plan:
        """Read the marked machines' states and stored stops and plan the writes."""
        states = await queries.states_for_rebuild(conn, marks=marks, stop_states=self.config.states)
        # The region starts at the first state read (the anchor, or the machine's first state).
        regions = {machine: rows[0].ts for machine, rows in states.items()}
        stored = await queries.stops_in_region(conn, regions=regions)
        mapping = await queries.mapping(conn)
        plan = Plan()
        for machine, rows in states.items():
            computed = detect_stops(rows, stop_states=self.config.states, min_s=self.config.min_s)
            plan.extend(
                reconcile(
                    machine,
                    computed,
                    stored.get(machine, []),
                    region_start=regions[machine],
                    mapping=mapping,
                )
            )
        return plan

    async def apply_deadline(self) -> int:
        """With STOP_CLASSIFY_DEADLINE_H set, unclassified stops past it take
        STOP_DEFAULT_REASON and are queued; returns how many."""
        deadline_h, reason = self.config.classify_deadline_h, self.config.default_reason
        if deadline_h is None or reason is None:
            return 0
        async with self.pool.acquire() as conn, conn.transaction():
            ids = await queries.default_overdue(conn, reason=reason, deadline_s=deadline_h * 3600)
        if ids:
            log.info("%d stop(s) took the default reason %s after the deadline", len(ids), reason)
        return len(ids)

    async def refresh_gauges(self) -> None:
        async with self.pool.acquire() as conn:
            waiting, oldest_s = await queries.unclassified_stats(conn)
        self.metrics.unclassified.set(waiting)
        self.metrics.unclassified_oldest.set(oldest_s)

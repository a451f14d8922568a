"""The anomaly detector's job: every ANOMALY_INTERVAL_S, feed each machine's committed
telemetry to its streaming detectors, in time order, and write the events, their MQTT alerts
(alert_outbox) and the detectors' state with how far they were fed, in one transaction.

Progress is per machine and in the machine's own time: a run reads a machine's samples after
its `upto` (anomaly_detector_state) and up to its committed front, machines.last_seen (its
newest message time, which the ingestor moves with GREATEST in the transaction of the
samples), minus ANOMALY_LAG_S. Neither the wall clock nor commit delays move that bound: a
PLC whose clock is behind is read in its own time, and while the MES database is down or the
ingestor's spool drains, a machine's front does not move, so the backlog (stamped in the
past) is read when it is committed. ANOMALY_LAG_S is the tolerance for a machine's samples
committed out of order (in separate messages, by two ingestor replicas): a sample committed
after its machine's progress passed it cannot be fed to a streaming detector; the next run
counts those that came in at most ANOMALY_LAG_S behind (anomaly_late_samples_total, and a
warning): a hint to raise it. Older ones are not looked for (a scan of the whole series).

Off the ingest path: it reads telemetry_samples and machine_states by their primary keys,
holds no lock an ingest statement waits for, and adds nothing to ingestion. A run reads at
most about ANOMALY_BATCH_ROWS samples (spread over the series of the machines with something
to read; a machine's end is cut at the earliest last sample of its series that hit their
share, so its metrics are read up to the same instant), and the job's run repeats them until
caught up or its interval is spent.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import orjson
from aiohttp import web
from prometheus_client import Counter

from services.analytics.anomalies import queries
from services.analytics.anomalies.detectors import Change, DetectorConfig, MachineDetector
from services.analytics.jobs import PeriodicJob, RunResult, running_job
from services.analytics.keys import JOB_METRICS, JOBS
from shared.keys import MES_POOL, METRICS, SETTINGS
from shared.settings import AnomalySettings, Settings

log = logging.getLogger(__name__)

JOB = "anomalies"
MIN_PER_SERIES = 50  # samples per series and run at least, however many series there are
# A machine's front is taken at most this far ahead of the wall clock: one sample stamped in
# the future (the ingestor takes up to a day ahead) would otherwise move its front, and its
# progress, past every genuine sample to come. A clock further ahead only delays its reading.
MAX_AHEAD = dt.timedelta(hours=1)
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def detector_config(settings: AnomalySettings) -> DetectorConfig:
    return DetectorConfig(
        spike_z=settings.spike_z,
        spike_max_samples=settings.spike_max_samples,
        warmup_samples=settings.warmup_samples,
        spike_hold_s=settings.spike_hold_s,
        stuck_s=settings.stuck_s,
        stuck_samples=settings.stuck_samples,
        stuck_eps=settings.stuck_eps,
        limits=settings.limits_map(),
        close_samples=settings.close_samples,
        drift_window_s=settings.drift_window_s,
        drift_baseline_s=settings.drift_baseline_s,
        drift_warmup_s=settings.drift_warmup_s,
        drift_settle_s=settings.drift_settle_s,
        drift_settle_max_s=settings.drift_settle_max_s,
        drift_z=settings.drift_z,
        drift_close_z=settings.drift_close_z,
        drift_reference_s=settings.drift_reference_s,
    )


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _utc(epoch: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, dt.UTC)


def _iso(epoch: float | None) -> str | None:
    return None if epoch is None else _utc(epoch).isoformat().replace("+00:00", "Z")


@dataclass
class Outcome:
    """What one run did."""

    samples: int = 0
    events: int = 0  # events opened, updated or closed
    opened: int = 0
    alerts: int = 0
    caught_up: bool = True
    late: int = 0  # samples that came in behind their machine's progress (not scored)
    upto: dict[str, dt.datetime] = field(default_factory=dict)  # machines moved: how far

    def rows(self) -> dict[str, int]:
        return {"samples": self.samples, "events": self.events, "alerts": self.alerts}


@dataclass
class Fed:
    """The detectors' output of one run, ready to write."""

    events: dict[str, queries.EventRow] = field(default_factory=dict)
    alerts: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    opened: int = 0


def feed_in_order(
    detectors: dict[str, MachineDetector],
    samples: Iterable[asyncpg.Record],
    states: Iterable[asyncpg.Record],
    config: DetectorConfig,
    *,
    now: dt.datetime,
) -> Fed:
    """Feed states and samples in time order (a state before a sample of the same instant);
    the events and alerts they produce. CPU only: runs in a thread."""
    timeline: list[tuple[float, int, str, str, float]] = []
    for row in states:
        timeline.append((row["ts"].timestamp(), 0, row["machine"], row["state"], 0.0))
    for row in samples:
        timeline.append((row["ts"].timestamp(), 1, row["machine"], row["metric"], row["value"]))
    timeline.sort(key=lambda item: (item[0], item[1]))
    fed = Fed()
    stamp = now.isoformat().replace("+00:00", "Z")
    for ts, kind, machine, name, value in timeline:
        detector = detectors.get(machine)
        if detector is None:
            detector = detectors[machine] = MachineDetector(machine)
        if kind == 0:
            detector.set_state(name)
            continue
        for change in detector.feed(name, ts, value, config):
            _record(fed, change, stamp)
    return fed


def _record(fed: Fed, change: Change, stamp: str) -> None:
    detail = dict(change.detail)
    if isinstance(detail.get("detectedAt"), float):
        detail["detectedAt"] = _iso(detail["detectedAt"])
    fed.events[change.id] = queries.EventRow(
        id=change.id,
        machine=change.machine,
        kind=change.kind,
        metrics=change.metrics,
        started_at=_utc(change.start),
        ended_at=None if change.end is None else _utc(change.end),
        score=change.score,
        detail=detail,
    )
    if change.action == "update":
        return
    fed.opened += change.action == "open"
    payload = {
        "type": "anomaly",
        "event": change.action,
        "id": change.id,
        "machine": change.machine,
        "kind": change.kind,
        "metrics": change.metrics,
        "start": _iso(change.start),
        "end": _iso(change.end),
        "score": change.score,
        "ts": stamp,
    }
    fed.alerts.append((change.machine, payload))


def _day_start(ts: dt.datetime) -> dt.datetime:
    utc = ts.astimezone(dt.UTC)
    return utc.replace(hour=0, minute=0, second=0, microsecond=0)


@dataclass
class Pending:
    """A machine with samples to read this run: its committed front minus ANOMALY_LAG_S ahead
    of how far its detectors were fed (both in the machine's own time)."""

    machine: str
    after: dt.datetime  # fed up to here (ts <= after)
    front: dt.datetime  # the run reads up to here at most
    metrics: set[str]
    state: Any  # the stored detectors' state (None: seen for the first time)


class AnomalyDetection:
    """Runs of the detector against the MES database (the job's and the bench's)."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        settings: Settings,
        *,
        clock: Callable[[], dt.datetime] | None = None,
        late: Callable[[int], None] | None = None,
    ) -> None:
        self.pool = pool
        self.settings = settings.anomaly
        self.config = detector_config(settings.anomaly)
        self.clock = clock or utc_now  # tests move time by hand
        self.late = late  # told how many samples came in behind a machine's progress

    async def run_once(self, *, from_earliest: bool = False) -> Outcome:
        """One bounded run in one transaction: each machine read from how far its detectors
        were fed up to its committed front (machines.last_seen) minus ANOMALY_LAG_S, in its
        own time. A machine seen for the first time starts ANOMALY_BACKFILL_H before its front
        (or at its first sample if later), or at its first sample with `from_earliest`."""
        async with self.pool.acquire() as conn, conn.transaction():
            outcome = await self._run(conn, from_earliest=from_earliest)
        if outcome.late:
            log.warning(
                "%d telemetry samples came in more than ANOMALY_LAG_S behind their machine's "
                "newest message, after the detector had passed them: not scored",
                outcome.late,
            )
            if self.late is not None:
                self.late(outcome.late)
        return outcome

    async def _run(self, conn: Any, *, from_earliest: bool) -> Outcome:
        now = self.clock()
        lag = dt.timedelta(seconds=self.settings.lag_s)
        outcome = Outcome()
        previous_read = await queries.lock_run(conn)
        fronts = await queries.machine_fronts(conn)
        if not fronts:
            return outcome
        read_at: dt.datetime = fronts[0]["read_at"]
        pending: list[Pending] = []
        behind: list[queries.SeriesRange] = []
        for row in fronts:
            front = min(row["last_seen"], now + MAX_AHEAD) - lag
            if row["upto"] is not None:
                after = row["upto"]
                behind += [
                    queries.SeriesRange(row["machine"], metric, after - lag, after)
                    for metric in row["metrics"]
                ]
            elif from_earliest:
                after = EPOCH
            else:
                after = front - dt.timedelta(hours=self.settings.backfill_h)
            # A machine seen for the first time is registered even with nothing to read yet
            # (ANOMALY_BACKFILL_H=0): its progress starts at its front, saved with its state.
            if front > after or row["upto"] is None:
                state = _json(row["state"]) if row["state"] is not None else None
                metrics = set(row["metrics"] or ())
                pending.append(Pending(row["machine"], after, front, metrics, state))
        if previous_read is not None and behind:
            outcome.late = await queries.count_late(
                conn, ranges=behind, received=(previous_read, read_at)
            )
        await queries.save_run(conn, read_at=read_at)
        if not pending:
            return outcome
        found = await queries.machine_series(
            conn,
            machines=[p.machine for p in pending],
            since=[_day_start(p.after) for p in pending],
            upto=[p.front for p in pending],
        )
        by_machine = {p.machine: p for p in pending}
        for machine, metric in found:
            by_machine[machine].metrics.add(metric)
        ranges = [
            queries.SeriesRange(p.machine, metric, p.after, p.front)
            for p in pending
            for metric in sorted(p.metrics)
        ]
        samples: list[asyncpg.Record] = []
        ends = {p.machine: p.front for p in pending}
        if ranges:
            per_series = max(MIN_PER_SERIES, self.settings.batch_rows // len(ranges))
            samples = await queries.read_samples(conn, ranges=ranges, per_series=per_series)
            cuts = _cuts(samples, per_series)
            if cuts:
                samples = [r for r in samples if r["ts"] <= cuts.get(r["machine"], r["ts"])]
                ends.update(cuts)
                outcome.caught_up = False
        states = await queries.read_states(
            conn,
            machines=[p.machine for p in pending],
            after=[p.after for p in pending],
            upto=[ends[p.machine] for p in pending],
        )
        detectors = {p.machine: MachineDetector.from_state(p.machine, p.state) for p in pending}
        fed = await asyncio.to_thread(
            feed_in_order, detectors, samples, states, self.config, now=now
        )
        await queries.upsert_events(conn, events=list(fed.events.values()))
        await queries.insert_alerts(conn, alerts=fed.alerts)
        await queries.save_states(
            conn,
            states=[
                {
                    "machine": p.machine,
                    "metrics": sorted(p.metrics | set(detectors[p.machine].series)),
                    "state": detectors[p.machine].to_state(),
                    "upto": ends[p.machine],
                }
                for p in pending
            ],
        )
        outcome.samples = len(samples)
        outcome.events = len(fed.events)
        outcome.opened = fed.opened
        outcome.alerts = len(fed.alerts)
        outcome.upto = ends
        return outcome

    async def run(self, budget_s: float) -> RunResult:
        """Runs until caught up or `budget_s` spent (the job's run; each run commits)."""
        started = time.monotonic()
        total = Outcome()
        while True:
            outcome = await self.run_once()
            total.samples += outcome.samples
            total.events += outcome.events
            total.alerts += outcome.alerts
            if outcome.caught_up or time.monotonic() - started >= budget_s:
                return total.rows()


def _cuts(samples: list[asyncpg.Record], per_series: int) -> dict[str, dt.datetime]:
    """Per machine, the instant all its series were read up to: the earliest last sample of
    its series that filled their share (machines where none did are absent: everything up to
    their front was read). A machine's metrics stay aligned; machines are independent."""
    counts: dict[tuple[str, str], int] = {}
    last: dict[tuple[str, str], dt.datetime] = {}
    for row in samples:
        key = (row["machine"], row["metric"])
        counts[key] = counts.get(key, 0) + 1
        last[key] = row["ts"]
    cuts: dict[str, dt.datetime] = {}
    for (machine, _), count in counts.items():
        if count >= per_series:
            ts = last[(machine, _)]
            if machine not in cuts or ts < cuts[machine]:
                cuts[machine] = ts
    return cuts


def _json(raw: Any) -> Any:
    if isinstance(raw, str):
        return orjson.loads(raw)
    return raw


async def detect_until_caught_up(pool: asyncpg.Pool, settings: Settings) -> int:
    """Run the detector until every machine is read up to its front (machines.last_seen -
    ANOMALY_LAG_S), a machine seen for the first time from its oldest sample; returns the events written (opened,
    updated or closed, each counted once per run)."""
    detection = AnomalyDetection(pool, settings)
    events = 0
    while True:
        outcome = await detection.run_once(from_earliest=True)
        events += outcome.events
        if outcome.caught_up:
            return events


async def anomaly_job(app: web.Application) -> AsyncIterator[None]:
    """The job's resource: runs with ANALYTICS_ENABLED and ANOMALY_ENABLED."""
    settings = app[SETTINGS]
    if not (settings.analytics.enabled and settings.anomaly.enabled):
        yield
        return
    pool = app[MES_POOL]
    late = Counter(
        "anomaly_late_samples_total",
        "Telemetry samples committed after the anomaly detector had read their machine past "
        "them (at most ANOMALY_LAG_S behind): never scored.",
        registry=app[METRICS],
    )
    detection = AnomalyDetection(pool, settings, late=late.inc)
    interval = settings.anomaly.interval_s
    run = functools.partial(detection.run, max(interval, 1.0))
    job = PeriodicJob(JOB, interval, pool, run, app[JOB_METRICS])
    async with running_job(app[JOBS], job):
        yield

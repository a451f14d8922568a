"""The anomaly detector's job: every ANOMALY_INTERVAL_S, feed the committed telemetry after the
watermark (and before now - ANOMALY_LAG_S) to the streaming detectors, in time order, and write
the events, their MQTT alerts (alert_outbox), the detectors' state and the new watermark in
one transaction.

Off the ingest path: it reads telemetry_samples and machine_states by their primary keys,
holds no lock an ingest statement waits for, and adds nothing to ingestion. A run reads at
most about ANOMALY_BATCH_ROWS samples (spread over the known series; the run's end is cut at
the earliest last sample of a series that hit its share, so every series is read up to the
same instant), and the job's run repeats them until caught up or its interval is spent.

A sample committed later than ANOMALY_LAG_S after its own time, behind the watermark already,
is not scored: the lag is the price of reading by sample time (the only index there is).
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

from services.analytics.anomalies import queries
from services.analytics.anomalies.detectors import Change, DetectorConfig, MachineDetector
from services.analytics.jobs import PeriodicJob, RunResult, running_job
from services.analytics.keys import JOB_METRICS, JOBS
from shared.keys import MES_POOL, SETTINGS
from shared.settings import AnomalySettings, Settings

log = logging.getLogger(__name__)

JOB = "anomalies"
MIN_PER_SERIES = 50  # samples per series and run at least, however many series there are


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
    upto: dt.datetime | None = None

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


class AnomalyDetection:
    """Runs of the detector against the MES database (the job's and the bench's)."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        settings: Settings,
        *,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        self.pool = pool
        self.settings = settings.anomaly
        self.config = detector_config(settings.anomaly)
        self.clock = clock or utc_now  # tests move time by hand

    async def run_once(self, *, from_earliest: bool = False) -> Outcome:
        """One bounded run in one transaction. Without a watermark yet, it starts
        ANOMALY_BACKFILL_H back, or at the oldest sample with `from_earliest` (catch-up)."""
        now = self.clock()
        upto = now - dt.timedelta(seconds=self.settings.lag_s)
        outcome = Outcome()
        async with self.pool.acquire() as conn, conn.transaction():
            after = await queries.lock_watermark(conn)
            if after is None:
                after = await self._start(conn, upto, from_earliest=from_earliest)
                await queries.init_watermark(conn, upto=after)
                after = await queries.lock_watermark(conn)
                assert after is not None
            if upto <= after:
                outcome.upto = after
                return outcome
            stored = {r["machine"]: r for r in await queries.detector_states(conn)}
            series = {(m, metric) for m, r in stored.items() for metric in r["metrics"]}
            series.update(await queries.series_since(conn, since=_day_start(after), upto=upto))
            ordered = sorted(series)
            if not ordered:
                await queries.save_watermark(conn, upto=upto)
                outcome.upto = upto
                return outcome
            per_series = max(MIN_PER_SERIES, self.settings.batch_rows // len(ordered))
            samples = await queries.read_samples(
                conn, series=ordered, after=after, upto=upto, per_series=per_series
            )
            cut = _cut(samples, per_series)
            if cut is not None:
                samples = [r for r in samples if r["ts"] <= cut]
                outcome.caught_up = False
            end = cut or upto
            machines = sorted({m for m, _ in ordered})
            states = await queries.read_states(conn, machines=machines, after=after, upto=end)
            touched = {r["machine"] for r in samples} | {r["machine"] for r in states}
            detectors = {
                m: MachineDetector.from_state(m, _json(stored[m]["state"]) if m in stored else None)
                for m in touched
            }
            fed = await asyncio.to_thread(
                feed_in_order, detectors, samples, states, self.config, now=now
            )
            metrics_of: dict[str, set[str]] = {}
            for machine, metric in ordered:
                metrics_of.setdefault(machine, set()).add(metric)
            await queries.upsert_events(conn, events=list(fed.events.values()))
            await queries.insert_alerts(conn, alerts=fed.alerts)
            await queries.save_states(
                conn,
                states=[
                    {
                        "machine": m,
                        "metrics": sorted(metrics_of.get(m, set()) | set(d.series)),
                        "state": d.to_state(),
                    }
                    for m, d in detectors.items()
                ],
            )
            await queries.save_watermark(conn, upto=end)
        outcome.samples = len(samples)
        outcome.events = len(fed.events)
        outcome.opened = fed.opened
        outcome.alerts = len(fed.alerts)
        outcome.upto = end
        return outcome

    async def _start(self, conn: Any, upto: dt.datetime, *, from_earliest: bool) -> dt.datetime:
        start = upto - dt.timedelta(hours=self.settings.backfill_h)
        if from_earliest:
            since = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
            series = await queries.series_since(conn, since=since, upto=upto)
            earliest = await queries.earliest_sample(conn, series=series) if series else None
            if earliest is not None:
                start = min(start, earliest - dt.timedelta(microseconds=1))
        return start

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


def _cut(samples: list[asyncpg.Record], per_series: int) -> dt.datetime | None:
    """The instant every series was read up to: the earliest last sample of the series that
    filled their share (None when none did: everything up to the run's end was read)."""
    counts: dict[tuple[str, str], int] = {}
    last: dict[tuple[str, str], dt.datetime] = {}
    for row in samples:
        key = (row["machine"], row["metric"])
        counts[key] = counts.get(key, 0) + 1
        last[key] = row["ts"]
    full = [last[key] for key, count in counts.items() if count >= per_series]
    return min(full) if full else None


def _json(raw: Any) -> Any:
    if isinstance(raw, str):
        return orjson.loads(raw)
    return raw


async def detect_until_caught_up(pool: asyncpg.Pool, settings: Settings) -> int:
    """Run the detector until its watermark reaches the data (now - ANOMALY_LAG_S), starting at
    the oldest sample when it has no watermark yet; returns the events written (opened,
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
    detection = AnomalyDetection(pool, settings)
    interval = settings.anomaly.interval_s
    run = functools.partial(detection.run, max(interval, 1.0))
    job = PeriodicJob(JOB, interval, pool, run, app[JOB_METRICS])
    async with running_job(app[JOBS], job):
        yield

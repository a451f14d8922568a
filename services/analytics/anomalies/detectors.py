"""Streaming anomaly detectors (pure: no I/O), one `MachineDetector` per machine.

Per machine and metric (`SeriesDetector`):
- spike: an isolated jump that returns. An EWMA mean/variance (the update winsorised, so an
  outlier does not drag its own baseline) gives each running sample a z score; a sample at
  or above `spike_z` starts a candidate, confirmed when the value comes back within
  `spike_max_samples` samples. A jump that stays is a level shift (a new setpoint): the
  baseline restarts at the new level and nothing is flagged. For `spike_hold_s` after the
  machine starts running nothing is scored: the metrics ramp to their running level (a
  first-order lag), the mean follows the ramp quickly and the deviation, learnt on settled
  running, is kept.
- stuck: the same value (within `stuck_eps`) for at least `stuck_s` seconds and
  `stuck_samples` samples while the machine runs (idle samples neither extend nor break a run:
  an idle machine may read flat).
- out_of_range: outside the metric's physical limits (`limits`), whatever the state; closes
  after `close_samples` samples back in range (hysteresis).
Per machine (`DriftDetector`): a slow EWMA baseline (mean and variance, time constant
`drift_baseline_s`, a day) and a fast EWMA (`drift_window_s`) of each metric, learnt and scored
only on settled running: each running stretch's ramp-up (per metric: at least
`drift_settle_s`, then while the metric still closes in on its baseline, at most
`drift_settle_max_s`: a slow lag such as a housing warming up takes longer than a drive's) and
samples another check holds as anomalous (out of range, spike candidate, stuck) are left out.
The drift score is the Mahalanobis distance (diagonal covariance) of the fast means from the
baseline, in baseline standard deviations. The baseline freezes while a drift is open or
half-way there, or while the metric's fast mean is a deviation away (a slow drift is not
learnt as the new normal); a level shift seen by the spike detector re-seeds the metric's
baseline (a setpoint change is not a drift). The fast means carry over a stop (a drift goes on
across idle time); a fault (what a drift warns of) closes the open drift and restarts them.
After a fault the repaired machine is as serviced (what maintenance engineers compare with):
each metric's first `drift_reference_s` of settled running is its reference, frozen until the
next fault, and the fast means are scored against it (the baseline's level moves to it too;
the baseline still gives the deviations). A baseline that a drift pulled along, or froze away
from the healthy level (the fast mean a deviation away keeps it frozen), is put right at each
repair; on the generator's 8-16 h drifts the share caught before the fault on seed A's training
days went from 80% to 96% (the misses: drifts in the first hours of data, and one the machine
barely ran through).

Why not river's HalfSpaceTrees: its window mass adapts to a slow drift (what we must catch),
it names no metric, and its state is a forest; these few floats per metric are explainable
(the event lists the metrics that moved and by how many deviations), bounded, and serialise to
JSON in the detector-state table.

Memory per series is constant (no sample windows); the state of a machine is `to_state()`,
a JSON-ready dict, and `MachineDetector.from_state` restores it.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass, field
from typing import Any

from shared.settings import parse_limits

__all__ = ["Change", "DetectorConfig", "MachineDetector", "parse_limits"]

KINDS = ("spike", "stuck", "out_of_range", "drift")
STATE_VERSION = 1
# Settling after a start (DriftDetector._settled): a short EWMA of each metric (time
# constant), checked this often, is still ramping while it closes in on the baseline by this
# many baseline deviations per check.
RAMP_TAU_S = 120.0
RAMP_CHECK_S = 300.0
RAMP_SHRINK = 0.5


@dataclass(frozen=True)
class DetectorConfig:
    """Thresholds and windows (the ANOMALY_* settings)."""

    spike_z: float = 6.0
    spike_alpha: float = 0.05  # EWMA weight of a new sample in the mean (about 20 samples)
    # ...and in the variance: slower (about 100 samples), so that the deviation a z is
    # measured in is not itself noisy (a 20-sample estimate is often 20% low: false spikes).
    spike_var_alpha: float = 0.01
    spike_max_samples: int = 3  # a jump lasting longer is a level shift, not a spike
    warmup_samples: int = 60  # running samples before spikes are scored
    # After the machine (re)starts running the metrics ramp to their running level (a lag of
    # a few minutes): spikes are not scored this long, the baseline follows the ramp unbounded.
    spike_hold_s: float = 600.0
    spike_hold_alpha: float = 0.3  # EWMA weight of a sample in the mean while held
    stuck_s: float = 45.0
    stuck_samples: int = 5
    stuck_eps: float = 1e-9
    limits: dict[str, tuple[float, float]] = field(default_factory=dict)
    close_samples: int = 3  # samples back to normal before out_of_range closes
    drift_window_s: float = 600.0
    # Learnt over a day of settled running (a 2-10 h drift barely moves it) and not at all
    # while a drift is open or building up.
    drift_baseline_s: float = 24 * 3600.0
    drift_warmup_s: float = 3600.0  # running time before drift is scored
    # After a start, running time before the drift detector takes samples (the metrics ramp
    # to their running level).
    drift_settle_s: float = 600.0
    drift_settle_max_s: float = 3600.0  # ...and at most this long while a metric still ramps
    drift_z: float = 6.0
    drift_close_z: float = 3.0
    # After each repair (a fault ends) the machine is as serviced: the first this-many settled
    # running seconds of each metric are its reference, frozen until the next fault, and a
    # drift is scored against it (0: against the slow baseline only, as before the first fault).
    drift_reference_s: float = 3600.0
    max_gap_s: float = 600.0  # a longer silence restarts the stuck run, as a start would


@dataclass
class Change:
    """An event opened, updated (score or end while open) or closed by one sample."""

    action: str  # open | update | close
    id: str
    machine: str
    kind: str
    metrics: list[str]
    start: float  # epoch seconds (sample time)
    end: float | None
    score: float
    detail: dict[str, Any]
    at: float  # sample time the change was detected


@dataclass
class Episode:
    """An open event (or a spike candidate) of one kind."""

    id: str
    start: float
    last: float  # the latest anomalous sample
    score: float
    detail: dict[str, Any]
    count: int = 1  # anomalous samples so far
    normal: int = 0  # consecutive normal samples since `last`
    opened: bool = True

    def to_state(self) -> list[Any]:
        return [
            self.id,
            self.start,
            self.last,
            self.score,
            self.detail,
            self.count,
            self.normal,
            self.opened,
        ]

    @classmethod
    def from_state(cls, raw: list[Any] | None) -> Episode | None:
        if raw is None:
            return None
        return cls(*raw)


def _new_id() -> str:
    return str(uuid.uuid4())


class SeriesDetector:
    """Spike, stuck and out_of_range of one machine's metric."""

    __slots__ = (
        "count",
        "last_ts",
        "mean",
        "oor",
        "resumed",
        "run_count",
        "run_last",
        "run_start",
        "run_value",
        "spike",
        "stuck",
        "var",
    )

    def __init__(self) -> None:
        self.mean: float | None = None
        self.var = 0.0
        self.count = 0  # running samples learnt
        self.run_value: float | None = None
        self.run_start = 0.0
        self.run_last = 0.0
        self.run_count = 0
        self.spike: Episode | None = None  # a candidate until it returns
        self.stuck: Episode | None = None
        self.oor: Episode | None = None
        # When the metric's current running stretch began (None: not running now).
        self.resumed: float | None = None
        self.last_ts: float | None = None

    def to_state(self) -> dict[str, Any]:
        return {
            "m": self.mean,
            "v": self.var,
            "n": self.count,
            "rv": self.run_value,
            "rs": self.run_start,
            "rl": self.run_last,
            "rn": self.run_count,
            "sp": self.spike.to_state() if self.spike else None,
            "st": self.stuck.to_state() if self.stuck else None,
            "or": self.oor.to_state() if self.oor else None,
            "re": self.resumed,
            "lt": self.last_ts,
        }

    @classmethod
    def from_state(cls, raw: dict[str, Any]) -> SeriesDetector:
        series = cls()
        series.mean = raw["m"]
        series.var = raw["v"]
        series.count = raw["n"]
        series.run_value = raw["rv"]
        series.run_start = raw["rs"]
        series.run_last = raw["rl"]
        series.run_count = raw["rn"]
        series.spike = Episode.from_state(raw["sp"])
        series.stuck = Episode.from_state(raw["st"])
        series.oor = Episode.from_state(raw["or"])
        series.resumed = raw.get("re")
        series.last_ts = raw.get("lt")
        return series

    # --- the three checks ---------------------------------------------------------------------

    def feed(
        self,
        machine: str,
        metric: str,
        ts: float,
        value: float,
        running: bool,
        config: DetectorConfig,
        out: list[Change],
    ) -> bool:
        """Score one sample, appending what changed to `out`; True when it was a level shift
        (the drift detector re-seeds its baseline for the metric)."""
        limits = config.limits.get(metric)
        outside = limits is not None and not (limits[0] <= value <= limits[1])
        self._out_of_range(machine, metric, ts, value, outside, limits, config, out)
        previous, self.last_ts = self.last_ts, ts
        if not running:
            self.resumed = None
            return False
        if previous is None:
            # The first sample of the series: no start seen (the warm-up covers it).
            self.resumed = ts - config.spike_hold_s
        elif self.resumed is None or ts - previous > config.max_gap_s:
            self.resumed = ts  # a new running stretch (or a long silence): the metric ramps
        self._stuck(machine, metric, ts, value, outside, config, out)
        held = ts - self.resumed < config.spike_hold_s
        return self._spike(machine, metric, ts, value, outside, held, config, out)

    def _std(self, config: DetectorConfig) -> float:
        # Bias-corrected: the EWMA variance starts at 0.
        seen = 1 - (1 - config.spike_var_alpha) ** self.count
        return math.sqrt(self.var / seen) if seen > 0 else 0.0

    def _out_of_range(
        self,
        machine: str,
        metric: str,
        ts: float,
        value: float,
        outside: bool,
        limits: tuple[float, float] | None,
        config: DetectorConfig,
        out: list[Change],
    ) -> None:
        episode = self.oor
        if outside and limits is not None:
            low, high = limits
            excess = (low - value) if value < low else (value - high)
            score = excess / max(high - low, 1e-9)
            if episode is None:
                detail = {"value": value, "min": low, "max": high, "detectedAt": ts}
                self.oor = Episode(_new_id(), ts, ts, score, detail)
                out.append(_change("open", machine, "out_of_range", [metric], self.oor, ts))
                return
            episode.last, episode.normal = ts, 0
            episode.count += 1
            if score > episode.score:
                episode.score = score
                episode.detail["value"] = value
                out.append(_change("update", machine, "out_of_range", [metric], episode, ts))
        elif episode is not None:
            episode.normal += 1
            if episode.normal >= config.close_samples:
                out.append(_change("close", machine, "out_of_range", [metric], episode, ts))
                self.oor = None

    def _stuck(
        self,
        machine: str,
        metric: str,
        ts: float,
        value: float,
        outside: bool,
        config: DetectorConfig,
        out: list[Change],
    ) -> None:
        same = (
            not outside  # a reading pinned outside the limits is out_of_range, not stuck
            and self.run_value is not None
            and abs(value - self.run_value) <= config.stuck_eps
            and ts - self.run_last <= config.max_gap_s
        )
        if same:
            self.run_count += 1
            self.run_last = ts
        else:
            if self.stuck is not None:
                out.append(_change("close", machine, "stuck", [metric], self.stuck, ts))
                self.stuck = None
            self.run_value = None if outside else value
            self.run_start = self.run_last = ts
            self.run_count = 1
            return
        duration = ts - self.run_start
        if duration < config.stuck_s or self.run_count < config.stuck_samples:
            return
        score = duration / config.stuck_s
        if self.stuck is None:
            detail = {"value": value, "samples": self.run_count, "detectedAt": ts}
            self.stuck = Episode(_new_id(), self.run_start, ts, score, detail, self.run_count)
            out.append(_change("open", machine, "stuck", [metric], self.stuck, ts))
        else:
            self.stuck.last, self.stuck.score = ts, score
            self.stuck.count = self.stuck.detail["samples"] = self.run_count

    def _spike(
        self,
        machine: str,
        metric: str,
        ts: float,
        value: float,
        outside: bool,
        held: bool,
        config: DetectorConfig,
        out: list[Change],
    ) -> bool:
        mean = self.mean
        if mean is None:
            self.mean, self.var, self.count = value, 0.0, 1
            return False
        if held:
            # Ramping after a start: not scored; the level follows (the deviation, learnt on
            # settled running, is kept); a candidate from before the stop is dropped.
            self.spike = None
            if not outside:
                self.mean = mean + config.spike_hold_alpha * (value - mean)
            return False
        std = self._std(config)
        floor = max(std, 1e-6 * abs(mean), 1e-9)
        z = abs(value - mean) / floor
        warm = self.count >= config.warmup_samples
        high = warm and z >= config.spike_z and not outside
        candidate = self.spike
        if high:
            if candidate is None:
                detail = {"value": value, "baseline": mean, "std": std, "detectedAt": ts}
                self.spike = Episode(_new_id(), ts, ts, z, detail, opened=False)
                return False
            candidate.last = ts
            candidate.count += 1
            if z > candidate.score:
                candidate.score, candidate.detail["value"] = z, value
            if candidate.count > config.spike_max_samples:
                # It stays: a new level (setpoint), not a spike. Restart the baseline there.
                self.spike = None
                self.mean, self.count = value, config.warmup_samples
                return True
            return False
        if candidate is not None:
            # Back to normal: the jump was isolated. Opened and closed at once.
            candidate.detail["detectedAt"] = ts
            out.append(_change("open", machine, "spike", [metric], candidate, ts))
            out.append(_change("close", machine, "spike", [metric], candidate, ts))
            self.spike = None
        if outside or self.run_count >= 2:
            # Not learnt: a reading out of range, or a flat run (a stuck sensor would
            # collapse the variance, and its release would look like spikes).
            return False
        # Winsorised EWMA: an outlier moves the baseline no more than a 3-sigma sample would.
        alpha, var_alpha = config.spike_alpha, config.spike_var_alpha
        bound = 3.0 * floor if warm else math.inf
        delta = max(-bound, min(bound, value - mean))
        self.mean = mean + alpha * delta
        self.var = (1 - var_alpha) * (self.var + var_alpha * delta * delta)
        self.count += 1
        return False


def _change(
    action: str, machine: str, kind: str, metrics: list[str], episode: Episode, at: float
) -> Change:
    end = episode.last if action == "close" else None
    return Change(
        action=action,
        id=episode.id,
        machine=machine,
        kind=kind,
        metrics=list(metrics),
        start=episode.start,
        end=end,
        score=float(episode.score),
        detail=dict(episode.detail),
        at=at,
    )


class DriftDetector:
    """Multivariate drift of one machine: fast EWMA means against a slow baseline."""

    __slots__ = (
        "base",
        "ended",
        "episode",
        "fast",
        "last_ts",
        "learnt_s",
        "ramp",
        "ref",
        "ref_open",
        "resumed_at",
    )

    def __init__(self) -> None:
        # metric -> [mean, var]; metric -> fast mean
        self.base: dict[str, list[float]] = {}
        self.fast: dict[str, float] = {}
        self.learnt_s: dict[str, float] = {}  # running seconds in each metric's baseline
        self.last_ts: dict[str, float] = {}  # latest running sample of each metric
        self.resumed_at: float | None = None  # start of the current running stretch
        self.episode: Episode | None = None
        self.ended = False  # a fault ended the open drift: it closes with the next sample
        # metric -> [short EWMA, checkpoint deviation, checkpoint time, last time, settled at]
        # over the current running stretch (see `_settled`)
        self.ramp: dict[str, list[Any]] = {}
        # metric -> [mean, seconds learnt] of the reference after the latest repair
        self.ref: dict[str, list[float]] = {}
        self.ref_open = False  # a fault was seen: references are learnt (see `_reference`)

    def to_state(self) -> dict[str, Any]:
        return {
            "x": self.ended,
            "q": self.ramp,
            "b": self.base,
            "f": self.fast,
            "l": self.learnt_s,
            "t": self.last_ts,
            "r": self.resumed_at,
            "e": self.episode.to_state() if self.episode else None,
            "rf": self.ref,
            "ro": self.ref_open,
        }

    @classmethod
    def from_state(cls, raw: dict[str, Any]) -> DriftDetector:
        drift = cls()
        drift.base = raw["b"]
        drift.fast = raw["f"]
        drift.learnt_s = raw["l"]
        drift.last_ts = raw["t"]
        drift.resumed_at = raw["r"]
        drift.episode = Episode.from_state(raw["e"])
        drift.ended = bool(raw.get("x", False))
        drift.ramp = raw.get("q", {})
        drift.ref = raw.get("rf", {})
        drift.ref_open = bool(raw.get("ro", False))
        return drift

    def stopped(self) -> None:
        """The machine left running: its next running stretch settles before it counts (the
        fast means are kept: they carry on once it has)."""
        self.resumed_at = None

    def faulted(self) -> None:
        """The machine went into fault: what a drift warns of happened. The open drift ends
        (closed with the next sample) and the fast means start afresh after the repair; the
        baseline stays, and the repaired machine's first settled running hour becomes the
        reference drifts are scored against until the next fault."""
        self.resumed_at = None
        self.fast.clear()
        self.ended = self.episode is not None
        self.ref.clear()
        self.ref_open = True

    def close_ended(self, machine: str, ts: float, out: list[Change]) -> None:
        if self.ended and self.episode is not None:
            metrics = sorted(self.episode.detail["shift"])
            self.episode.detail["endedBy"] = "fault"
            out.append(_change("close", machine, "drift", metrics, self.episode, ts))
            self.episode = None
        self.ended = False

    def reseed(self, metric: str, value: float) -> None:
        """A level shift (setpoint change): the metric's baseline (and reference) moves to the
        new level."""
        base = self.base.get(metric)
        if base is not None:
            base[0] = value
        ref = self.ref.get(metric)
        if ref is not None:
            ref[0] = value
        self.fast[metric] = value

    def feed(
        self,
        machine: str,
        metric: str,
        ts: float,
        value: float,
        config: DetectorConfig,
        out: list[Change],
    ) -> None:
        """One running sample."""
        if self.resumed_at is None:
            self.resumed_at = ts
            self.ramp.clear()
        previous = self.last_ts.get(metric)
        self.last_ts[metric] = ts
        if (
            previous is not None
            and previous >= self.resumed_at
            and ts - previous > config.max_gap_s
        ):
            self.resumed_at = ts  # a long silence while running: as good as a restart
            self.ramp.clear()
        settled_at = self._settled(metric, ts, value, config)
        if settled_at is None:
            return  # ramping to the running level after a start: neither learnt nor scored
        if previous is None or previous < settled_at:
            previous = ts  # the first settled sample of the stretch: no time to weigh yet
        dt_s = max(0.0, min(ts - previous, config.max_gap_s))
        fast = self.fast.get(metric)
        if fast is None:
            self.fast[metric] = value
        else:
            self.fast[metric] = fast + (1 - math.exp(-dt_s / config.drift_window_s)) * (
                value - fast
            )
        if config.drift_reference_s > 0:
            self._reference(metric, value, dt_s, config)
        score, moved = self._score(config)
        base = self.base.get(metric)
        # Not learnt while a drift is open, half-way there, or while this metric's fast mean
        # is a deviation away from its baseline (a slow drift is not learnt as normal).
        frozen = (
            self.episode is not None
            or score >= config.drift_close_z
            or (
                base is not None
                and self.learnt_s[metric] >= config.drift_warmup_s
                and abs(self.fast[metric] - base[0]) >= self._std(metric, config)
            )
        )
        if base is None:
            self.base[metric] = [value, 0.0]
            self.learnt_s[metric] = 0.0
        elif not frozen:
            alpha = 1 - math.exp(-dt_s / config.drift_baseline_s)
            delta = value - base[0]
            if self.learnt_s[metric] >= config.drift_warmup_s:
                # Winsorised once learnt: a drift under way moves neither the baseline's level
                # nor its spread faster than ordinary samples would.
                bound = 2.5 * self._std(metric, config)
                delta = max(-bound, min(bound, delta))
            base[0] += alpha * delta
            base[1] = (1 - alpha) * (base[1] + alpha * delta * delta)
            self.learnt_s[metric] += dt_s
        episode = self.episode
        if episode is None:
            if score >= config.drift_z and moved:
                detail = {"shift": moved, "detectedAt": ts}
                self.episode = Episode(_new_id(), ts, ts, score, detail)
                out.append(_change("open", machine, "drift", sorted(moved), self.episode, ts))
            return
        metrics = sorted(set(episode.detail["shift"]) | set(moved))
        if score >= config.drift_close_z:
            episode.last, episode.normal = ts, 0
            if score > episode.score:
                episode.score = score
                episode.detail["shift"] = {**episode.detail["shift"], **moved}
                out.append(_change("update", machine, "drift", metrics, episode, ts))
            return
        episode.normal += 1
        if episode.normal >= config.close_samples:
            out.append(_change("close", machine, "drift", metrics, episode, ts))
            self.episode = None

    def _reference(self, metric: str, value: float, dt_s: float, config: DetectorConfig) -> None:
        """After a repair: learn the metric's reference (the time-weighted mean of its first
        `drift_reference_s` settled running seconds); once complete, the baseline's level
        moves to it too (a baseline the drift before the fault pulled is put right)."""
        if not self.ref_open:
            return
        ref = self.ref.get(metric)
        if ref is None:
            self.ref[metric] = [value, 0.0]
            return
        if ref[1] >= config.drift_reference_s:
            return
        ref[1] += dt_s
        if ref[1] > 0:
            ref[0] += (value - ref[0]) * dt_s / ref[1]
        base = self.base.get(metric)
        if ref[1] >= config.drift_reference_s and base is not None:
            base[0] = ref[0]

    def _settled(
        self, metric: str, ts: float, value: float, config: DetectorConfig
    ) -> float | None:
        """When the metric settled in this running stretch (None: still ramping). At least
        `drift_settle_s` after the start, then for as long as a short EWMA of the metric keeps
        closing in on its baseline (by RAMP_SHRINK deviations every RAMP_CHECK_S: a lag
        still running out, however slow the metric), at most `drift_settle_max_s`."""
        ramp = self.ramp.get(metric)
        if ramp is None:
            ramp = self.ramp[metric] = [value, None, ts, ts, None]
        else:
            weight = 1 - math.exp(-max(0.0, ts - ramp[3]) / RAMP_TAU_S)
            ramp[0] += weight * (value - ramp[0])
            ramp[3] = ts
        if ramp[4] is not None:
            return float(ramp[4])
        assert self.resumed_at is not None
        since = ts - self.resumed_at
        if since < config.drift_settle_s:
            return None
        base = self.base.get(metric)
        if (
            base is None
            or self.learnt_s[metric] < config.drift_warmup_s
            or since >= config.drift_settle_max_s
        ):
            ramp[4] = ts
            return ts
        deviation = abs(ramp[0] - base[0]) / self._std(metric, config)
        if ramp[1] is None:
            ramp[1], ramp[2] = deviation, ts
        elif ts - ramp[2] >= RAMP_CHECK_S:
            if deviation > ramp[1] - RAMP_SHRINK:
                ramp[4] = ts
                return ts
            ramp[1], ramp[2] = deviation, ts
        return None

    def _std(self, metric: str, config: DetectorConfig) -> float:
        """The baseline's standard deviation of a metric (bias-corrected: it starts at 0)."""
        base = self.base[metric]
        learnt = self.learnt_s.get(metric, 0.0)
        seen = 1 - math.exp(-learnt / config.drift_baseline_s)
        variance = base[1] / seen if seen > 0 else 0.0
        return max(math.sqrt(variance), 1e-3 * abs(base[0]), 1e-9)

    def _score(self, config: DetectorConfig) -> tuple[float, dict[str, float]]:
        """The distance of the fast means from the baseline, and the metrics that moved
        (|z| >= drift_close_z), with their signed z."""
        total = 0.0
        moved: dict[str, float] = {}
        for metric, fast in self.fast.items():
            base = self.base.get(metric)
            if base is None or self.learnt_s.get(metric, 0.0) < config.drift_warmup_s:
                continue
            ref = self.ref.get(metric)
            ready = ref is not None and 0 < config.drift_reference_s <= ref[1]
            center = ref[0] if ready and ref is not None else base[0]
            z = (fast - center) / self._std(metric, config)
            total += z * z
            if abs(z) >= config.drift_close_z:
                moved[metric] = round(z, 3)
        return math.sqrt(total), moved


class MachineDetector:
    """Every detector of one machine, fed its samples in time order."""

    __slots__ = ("drift", "machine", "running", "series")

    def __init__(self, machine: str) -> None:
        self.machine = machine
        self.series: dict[str, SeriesDetector] = {}
        self.drift = DriftDetector()
        self.running = True  # no state message yet: the machine counts as running

    def set_state(self, state: str) -> None:
        running = state == "running"
        if state == "fault":
            self.drift.faulted()
        elif self.running and not running:
            self.drift.stopped()
        self.running = running

    def feed(self, metric: str, ts: float, value: float, config: DetectorConfig) -> list[Change]:
        out: list[Change] = []
        if self.drift.ended:
            self.drift.close_ended(self.machine, ts, out)
        series = self.series.get(metric)
        if series is None:
            series = self.series[metric] = SeriesDetector()
        shifted = series.feed(self.machine, metric, ts, value, self.running, config, out)
        # What the short-event checks hold as anomalous (out of range, a spike candidate, a
        # stuck run) is kept out of the drift detector's means.
        clean = series.oor is None and series.spike is None and series.stuck is None
        if self.running and math.isfinite(value) and clean:
            if shifted:
                self.drift.reseed(metric, value)
            self.drift.feed(self.machine, metric, ts, value, config, out)
        return out

    def open_events(self) -> int:
        """Events open now (spike candidates are not events yet)."""
        count = 1 if self.drift.episode is not None else 0
        for series in self.series.values():
            count += (series.stuck is not None) + (series.oor is not None)
        return count

    def to_state(self) -> dict[str, Any]:
        return {
            "v": STATE_VERSION,
            "running": self.running,
            "series": {metric: s.to_state() for metric, s in self.series.items()},
            "drift": self.drift.to_state(),
        }

    @classmethod
    def from_state(cls, machine: str, raw: dict[str, Any] | None) -> MachineDetector:
        detector = cls(machine)
        if not raw or raw.get("v") != STATE_VERSION:
            return detector
        detector.running = raw["running"]
        detector.series = {m: SeriesDetector.from_state(s) for m, s in raw["series"].items()}
        detector.drift = DriftDetector.from_state(raw["drift"])
        return detector

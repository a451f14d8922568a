"""Scoring detections and risk scores against the generator's ground truth (bench predictive).

Event level, per anomaly kind: a detection matches a truth event of the same kind and machine
(and, for spike, stuck and out_of_range, a metric in common) when their spans overlap, the
truth's widened by `tolerance_s` on each side. Recall is the share of truth events some
detection matches. Precision counts each matched truth event once, however many detections
match it: matched truth events / (matched truth events + detections that match nothing). A truth
event reported as several detections is fragmentation, not a false alarm nor extra hits: it is
reported beside precision as `fragments` (the detections beyond the first of each matched truth
event). The delay of a matched truth event is the earliest matching detection's detection time
(the sample time at which the detector knew, else its start) minus the truth's start, at least 0.

Drifts are scored on what they are for: a truth drift is caught when a drift detection of
its machine is made between the drift's start (less the tolerance) and the fault it precedes;
precision and fragments are counted as above.
"""

from __future__ import annotations

import datetime as dt
import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from protheus_demo.plantgen.model import TruthEvent

TOLERANCE_S = 60.0
# Kinds whose truth names one metric: a detection must name it too.
SINGLE_METRIC = ("spike", "stuck", "out_of_range")


@dataclass(frozen=True)
class Detection:
    """An anomaly event as the detector stored it (anomaly_events)."""

    machine: str
    kind: str
    metrics: tuple[str, ...]
    start: dt.datetime
    end: dt.datetime | None  # None while open
    detected: dt.datetime | None = None  # sample time it was known (detail.detectedAt)

    @property
    def known_at(self) -> dt.datetime:
        return self.detected or self.start

    @classmethod
    def from_row(cls, row: Any) -> Detection:
        """A row of anomaly_events (machine, kind, metrics, started_at, ended_at, detail)."""
        detail = row["detail"] or {}
        if isinstance(detail, str):
            import json

            detail = json.loads(detail)
        detected = detail.get("detectedAt") if isinstance(detail, dict) else None
        moment = None
        if isinstance(detected, str):
            moment = dt.datetime.fromisoformat(detected.replace("Z", "+00:00"))
        elif isinstance(detected, int | float):
            moment = dt.datetime.fromtimestamp(detected, dt.UTC)
        return cls(
            machine=row["machine"],
            kind=row["kind"],
            metrics=tuple(row["metrics"]),
            start=row["started_at"],
            end=row["ended_at"],
            detected=moment,
        )


@dataclass(frozen=True)
class KindScore:
    kind: str
    truths: int
    detections: int
    matched_truths: int
    true_detections: int  # detections matching some truth event (fragments included)
    fragments: int  # matching detections beyond the first of each matched truth event
    # matched truths / (matched truths + detections matching nothing); None without detections
    precision: float | None
    recall: float | None  # None without truth events
    median_delay_s: float | None  # over matched truth events

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "truths": self.truths,
            "detections": self.detections,
            "matchedTruths": self.matched_truths,
            "trueDetections": self.true_detections,
            "fragments": self.fragments,
            "precision": self.precision,
            "recall": self.recall,
            "medianDelayS": self.median_delay_s,
        }


@dataclass(frozen=True)
class DriftScore:
    drifts: int
    caught: int
    share: float | None  # caught before their fault
    median_lead_s: float | None  # fault time minus the first catching detection
    detections: int
    true_detections: int  # overlapping a truth drift (or its fault's hour after it)
    matched_drifts: int  # truth drifts some detection overlaps (the same way)
    fragments: int  # overlapping detections beyond the first of each matched drift
    precision: float | None  # matched drifts / (matched drifts + detections overlapping none)

    def as_dict(self) -> dict[str, Any]:
        return {
            "drifts": self.drifts,
            "caught": self.caught,
            "caughtShare": self.share,
            "medianLeadS": self.median_lead_s,
            "detections": self.detections,
            "trueDetections": self.true_detections,
            "matchedDrifts": self.matched_drifts,
            "fragments": self.fragments,
            "precision": self.precision,
        }


def _within(moment: dt.datetime, window: tuple[dt.datetime, dt.datetime] | None) -> bool:
    return window is None or window[0] <= moment < window[1]


def _overlaps(
    detection: Detection, truth: TruthEvent, tolerance: dt.timedelta, horizon: dt.datetime
) -> bool:
    end = detection.end or horizon
    return detection.start <= truth.end + tolerance and end >= truth.start - tolerance


def _precision(matched_truths: int, detections: int, true_detections: int) -> float | None:
    """Each matched truth event once against the detections that match nothing."""
    false = detections - true_detections
    return matched_truths / (matched_truths + false) if detections else None


def score_kind(
    kind: str,
    truth: Iterable[TruthEvent],
    detections: Iterable[Detection],
    *,
    tolerance_s: float = TOLERANCE_S,
    window: tuple[dt.datetime, dt.datetime] | None = None,
) -> KindScore:
    """Event-level precision, recall and median delay of one kind; truth events and
    detections starting inside `window` (all when None)."""
    tolerance = dt.timedelta(seconds=tolerance_s)
    truths = [t for t in truth if t.kind == kind and _within(t.start, window)]
    found = [d for d in detections if d.kind == kind and _within(d.start, window)]
    horizon = max(
        [t.end for t in truths] + [d.start for d in found], default=dt.datetime.now(dt.UTC)
    )
    by_machine: dict[str, list[TruthEvent]] = {}
    for t in truths:
        by_machine.setdefault(t.machine, []).append(t)

    def matches(d: Detection, t: TruthEvent) -> bool:
        if kind in SINGLE_METRIC and d.metrics and not set(d.metrics) & set(t.metrics):
            return False
        return _overlaps(d, t, tolerance, horizon)

    true_detections = 0
    first_known: dict[int, dt.datetime] = {}
    hits: dict[int, int] = {}  # matching detections per truth event
    for d in found:
        hit = False
        for t in by_machine.get(d.machine, ()):
            if matches(d, t):
                hit = True
                key = id(t)
                hits[key] = hits.get(key, 0) + 1
                if key not in first_known or d.known_at < first_known[key]:
                    first_known[key] = d.known_at
        true_detections += hit
    delays = [
        max(0.0, (first_known[id(t)] - t.start).total_seconds())
        for t in truths
        if id(t) in first_known
    ]
    return KindScore(
        kind=kind,
        truths=len(truths),
        detections=len(found),
        matched_truths=len(delays),
        true_detections=true_detections,
        fragments=sum(n - 1 for n in hits.values()),
        precision=_precision(len(delays), len(found), true_detections),
        recall=len(delays) / len(truths) if truths else None,
        median_delay_s=statistics.median(delays) if delays else None,
    )


def score_drifts(
    truth: Iterable[TruthEvent],
    detections: Iterable[Detection],
    *,
    tolerance_s: float = TOLERANCE_S,
    window: tuple[dt.datetime, dt.datetime] | None = None,
    after_fault_s: float = 3600.0,
) -> DriftScore:
    """How many truth drifts a drift detection caught before their fault; a drift
    detection is true when it overlaps a truth drift (its span widened by the tolerance
    before and `after_fault_s` after the fault: an episode may close late)."""
    tolerance = dt.timedelta(seconds=tolerance_s)
    drifts = [t for t in truth if t.kind == "drift" and _within(t.start, window)]
    found = [d for d in detections if d.kind == "drift" and _within(d.start, window)]
    caught, leads = 0, []
    for t in drifts:
        fault = t.fault_at or t.end
        times = [
            d.known_at
            for d in found
            if d.machine == t.machine and t.start - tolerance <= d.known_at < fault
        ]
        if times:
            caught += 1
            leads.append((fault - min(times)).total_seconds())
    late = dt.timedelta(seconds=after_fault_s)
    horizon = max(
        [t.end for t in drifts] + [d.start for d in found], default=dt.datetime.now(dt.UTC)
    )

    def overlaps(d: Detection, t: TruthEvent) -> bool:
        return (
            d.machine == t.machine
            and d.start <= t.end + late
            and (d.end or horizon) >= t.start - tolerance
        )

    true_detections = sum(1 for d in found if any(overlaps(d, t) for t in drifts))
    hits = [n for n in (sum(1 for d in found if overlaps(d, t)) for t in drifts) if n]
    return DriftScore(
        drifts=len(drifts),
        caught=caught,
        share=caught / len(drifts) if drifts else None,
        median_lead_s=statistics.median(leads) if leads else None,
        detections=len(found),
        true_detections=true_detections,
        matched_drifts=len(hits),
        fragments=sum(n - 1 for n in hits),
        precision=_precision(len(hits), len(found), true_detections),
    )


def roc_auc(scores: Sequence[float], labels: Sequence[int]) -> float | None:
    """ROC AUC by ranks (Mann-Whitney U, ties averaged); None with a single class."""
    pairs = sorted(zip(scores, labels, strict=True), key=lambda p: p[0])
    positives = sum(1 for _, y in pairs if y)
    negatives = len(pairs) - positives
    if positives == 0 or negatives == 0:
        return None
    rank_sum, i = 0.0, 0
    while i < len(pairs):
        j = i
        while j + 1 < len(pairs) and pairs[j + 1][0] == pairs[i][0]:
            j += 1
        average = (i + j) / 2 + 1  # ranks are 1-based
        rank_sum += average * sum(1 for k in range(i, j + 1) if pairs[k][1])
        i = j + 1
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


def precision_at(
    scores: Sequence[float], labels: Sequence[int], share: float = 0.1
) -> float | None:
    """The share of positives among the top `share` of rows by score (at least one row;
    equal scores keep their order)."""
    if not scores:
        return None
    top = max(1, math.ceil(len(scores) * share))
    order = sorted(range(len(scores)), key=lambda i: -scores[i])[:top]
    return sum(1 for i in order if labels[i]) / top

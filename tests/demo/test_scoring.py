"""The bench's scoring (protheus_demo.plantgen.scoring) on crafted truth and detections:
exact precision, recall, delays, drifts caught before their fault, AUC and precision at 10%."""

from __future__ import annotations

import datetime as dt

import pytest

from protheus_demo.plantgen.model import TruthEvent
from protheus_demo.plantgen.scoring import (
    Detection,
    precision_at,
    roc_auc,
    score_drifts,
    score_kind,
)

T0 = dt.datetime(2026, 11, 2, 12, tzinfo=dt.UTC)


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def truth(kind: str, start: float, end: float, machine: str = "M1", metric: str = "vibration",
          fault: float | None = None) -> TruthEvent:  # fmt: skip
    return TruthEvent(machine, kind, (metric,), at(start), at(end),
                      at(fault) if fault is not None else None)  # fmt: skip


def found(kind: str, start: float, end: float | None, machine: str = "M1",
          metric: str = "vibration", known: float | None = None) -> Detection:  # fmt: skip
    return Detection(machine, kind, (metric,), at(start), at(end) if end is not None else None,
                     at(known) if known is not None else None)  # fmt: skip


def test_precision_recall_and_delay_of_one_kind() -> None:
    truths = [
        truth("stuck", 0, 300),
        truth("stuck", 1000, 1300),
        truth("stuck", 5000, 5300, machine="M2"),
        truth("stuck", 9000, 9200),
    ]
    detections = [
        found("stuck", 0, 300, known=50),  # matches the first, known after 50 s
        found("stuck", 1090, 1300),  # the second, 90 s late (no detectedAt: its start)
        found("stuck", 1200, 1300, known=1250),  # a second detection of it: a fragment
        found("stuck", 5000, 5300, machine="M3"),  # another machine: false
        found("stuck", 7000, 7100),  # nothing there: false
        found("stuck", 9000, 9200, metric="temperature"),  # another metric: false
        found("spike", 9000, 9000),  # another kind: not counted here
    ]
    score = score_kind("stuck", truths, detections)
    assert score.truths == 4
    assert score.detections == 6
    assert score.true_detections == 3
    assert score.matched_truths == 2
    assert score.fragments == 1
    # Each matched truth once against the 3 detections matching nothing: the fragment is
    # neither a second hit nor a false alarm.
    assert score.precision == pytest.approx(2 / 5)
    assert score.recall == pytest.approx(2 / 4)
    assert score.median_delay_s == pytest.approx(70.0)  # median of 50 and 90


def test_a_truth_event_split_in_fragments_counts_once() -> None:
    truths = [truth("stuck", 0, 900)]
    pieces = [found("stuck", 0, 300), found("stuck", 300, 600), found("stuck", 600, 900)]
    score = score_kind("stuck", truths, [*pieces, found("stuck", 5000, 5100)])
    assert (score.detections, score.true_detections, score.matched_truths) == (4, 3, 1)
    assert score.fragments == 2
    assert score.precision == pytest.approx(1 / 2)  # one truth found, one false alarm
    assert score.recall == 1.0
    assert score.as_dict()["fragments"] == 2
    alone = score_kind("stuck", truths, pieces)
    assert alone.precision == 1.0


def test_the_tolerance_matches_a_detection_just_beside_the_truth() -> None:
    truths = [truth("spike", 100, 100)]
    beside = [found("spike", 150, 150)]
    assert score_kind("spike", truths, beside).recall == 1.0
    assert score_kind("spike", truths, beside, tolerance_s=30).recall == 0.0
    # An early detection within the tolerance counts as no delay at all.
    early = score_kind("spike", truths, [found("spike", 80, 80)])
    assert early.median_delay_s == 0.0


def test_window_keeps_only_the_events_that_start_inside_it() -> None:
    truths = [truth("out_of_range", 0, 10), truth("out_of_range", 4000, 4010)]
    detections = [found("out_of_range", 0, 10), found("out_of_range", 4000, 4010)]
    score = score_kind("out_of_range", truths, detections, window=(at(3600), at(7200)))
    assert (score.truths, score.detections, score.precision, score.recall) == (1, 1, 1.0, 1.0)


def test_nothing_to_find_and_nothing_found_give_none_not_zero() -> None:
    score = score_kind("spike", [], [])
    assert score.precision is None
    assert score.recall is None
    assert score.median_delay_s is None


def test_drifts_count_when_caught_before_their_fault() -> None:
    hour = 3600
    truths = [
        truth("drift", 0, 5 * hour, fault=5 * hour),  # caught at 3 h: lead 2 h
        truth("drift", 10 * hour, 13 * hour, fault=13 * hour),  # caught only after the fault
        truth("drift", 20 * hour, 24 * hour, fault=24 * hour, machine="M2"),  # missed
    ]
    detections = [
        found("drift", 3 * hour, 6 * hour, known=3 * hour),
        found("drift", 13 * hour + 60, None),  # after its fault: not caught, still true
        found("drift", 40 * hour, 41 * hour),  # a false alarm
        found("drift", 4 * hour, 5 * hour),  # a fragment of the first
    ]
    score = score_drifts(truths, detections)
    assert (score.drifts, score.caught) == (3, 1)
    assert score.share == pytest.approx(1 / 3)
    assert score.median_lead_s == pytest.approx(2 * hour)
    assert (score.detections, score.true_detections) == (4, 3)
    assert (score.matched_drifts, score.fragments) == (2, 1)
    assert score.precision == pytest.approx(2 / 3)


def test_roc_auc_by_ranks_with_ties() -> None:
    assert roc_auc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]) == pytest.approx(0.75)
    assert roc_auc([1, 2, 3, 4], [0, 0, 1, 1]) == 1.0
    assert roc_auc([4, 3, 2, 1], [0, 0, 1, 1]) == 0.0
    assert roc_auc([1, 1, 1, 1], [0, 1, 0, 1]) == 0.5  # all tied
    assert roc_auc([1, 2], [1, 1]) is None


def test_precision_at_the_top_ten_percent() -> None:
    scores = [float(n) for n in range(20)]  # the top 10%: the two highest
    labels = [0] * 18 + [1, 0]
    assert precision_at(scores, labels) == 0.5
    assert precision_at(scores[:5], labels[:5], 0.1) == 0.0  # at least one row
    assert precision_at([], []) is None


async def test_detections_read_from_anomaly_events_score_against_the_truth(mes_dsn: str) -> None:
    """The bench's path: rows of anomaly_events (detail.detectedAt as the detector writes
    it) into Detections, scored against generated truth."""
    import uuid

    import asyncpg

    from bench.predictive import DETECTIONS, score_anomalies

    truths = [truth("stuck", 0, 600, metric="pressure"), truth("spike", 3000, 3000)]
    conn = await asyncpg.connect(mes_dsn)
    try:
        await conn.execute(
            "INSERT INTO anomaly_events (id, machine, kind, metrics, started_at, ended_at, score,"
            " detail) VALUES ($1, 'M1', 'stuck', '{pressure}', $2, $3, 1, $4::jsonb),"
            " ($5, 'M1', 'spike', '{vibration}', $6, NULL, 9, '{}'::jsonb)",
            uuid.uuid4(), at(0), at(600), f'{{"detectedAt": "{at(40).isoformat()}"}}',
            uuid.uuid4(), at(3000),
        )  # fmt: skip
        rows = await conn.fetch(DETECTIONS)
    finally:
        await conn.close()
    detections = [Detection.from_row(r) for r in rows]
    assert detections[0].known_at == at(40)
    assert detections[1].end is None
    kinds, drifts = score_anomalies(truths, detections, (at(-60), at(7200)))
    assert kinds["stuck"].median_delay_s == 40.0
    assert kinds["spike"].recall == 1.0
    assert kinds["out_of_range"].precision is None
    assert drifts.drifts == 0

"""The reconciliation of computed stops with stored ones (pure): ids kept by start, frozen and
earlier stops untouched, computed stops over them dropped, stale ones deleted."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid

from services.production.stops.detect import DetectedStop
from services.production.stops.detector import reconcile
from services.production.stops.queries import StoredStop

T0 = dt.datetime(2026, 3, 2, 8, 0, tzinfo=dt.UTC)


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def stored(start: float, end: float | None, *, frozen: bool = False, reason: str = "A",
           status: str = "unclassified") -> StoredStop:  # fmt: skip
    return StoredStop(
        uuid.uuid4(), "M1", at(start), None if end is None else at(end), "fault", reason,
        None, None, status, frozen,
    )  # fmt: skip


def computed(start: float, end: float | None, reason: str = "A") -> DetectedStop:
    return DetectedStop(at(start), None if end is None else at(end), "fault", reason)


def test_a_stop_with_the_same_start_keeps_its_id_and_an_unchanged_one_is_not_written() -> None:
    same, longer = stored(100, 300), stored(400, 600)
    plan = reconcile(
        "M1", [computed(100, 300), computed(400, 800)], [same, longer],
        region_start=at(0), mapping={},
    )  # fmt: skip
    assert plan.inserts == []
    assert plan.deletes == []
    assert [(u.id, u.end) for u in plan.updates] == [(longer.id, at(800))]


def test_stale_stops_are_deleted_and_new_ones_inserted() -> None:
    stale = stored(100, 300)
    plan = reconcile("M1", [computed(150, 300)], [stale], region_start=at(0), mapping={"A": "07"})
    assert plan.deletes == [stale.id]
    [new] = plan.inserts
    assert (new.start, new.reason_code, new.classified_by, new.status) == (
        at(150), "07", "mapping", "pending",
    )  # fmt: skip
    assert plan.pending == [new.id]


def test_frozen_stops_and_stops_before_the_region_are_never_touched() -> None:
    frozen = stored(100, 300, frozen=True, status="delivered")
    before = stored(-200, 50)  # reaches into the region: left alone like a frozen one
    plan = reconcile(
        "M1",
        [computed(0, 120), computed(200, 500), computed(600, None)],
        [before, frozen],
        region_start=at(0),
        mapping={},
    )
    # The first overlaps the earlier stop, the second the frozen one: both dropped.
    assert [(s.start, s.end, s.status) for s in plan.inserts] == [(at(600), None, "open")]
    assert plan.updates == []
    assert plan.deletes == []


def test_a_queued_stop_that_loses_its_mapping_leaves_the_queue() -> None:
    queued = dataclasses.replace(
        stored(100, 300, status="pending"), reason_code="07", classified_by="mapping"
    )
    plan = reconcile(
        "M1", [computed(100, 300, "B")], [queued], region_start=at(0), mapping={"A": "07"}
    )
    [update] = plan.updates
    assert (update.id, update.status, update.reason_code) == (queued.id, "unclassified", None)
    assert plan.unqueue == [queued.id]

"""Sparkplug seq bookkeeping: in order, repeats, gaps, late arrivals that heal, the wrap."""

from __future__ import annotations

import datetime as dt

from services.telemetry.sparkplug.seq import (
    LOST,
    Arrival,
    SeqState,
    born,
    observe,
    rebirth_due,
)

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
T1 = T0 + dt.timedelta(seconds=1)


def run(state: SeqState, *seqs: int) -> tuple[SeqState, list[Arrival]]:
    arrivals = []
    for n, seq in enumerate(seqs):
        state, arrival = observe(state, seq, T0 + dt.timedelta(seconds=n))
        arrivals.append(arrival)
    return state, arrivals


def test_a_birth_starts_at_its_seq_with_no_gap():
    assert born(0) == SeqState(0, frozenset(), None)
    assert born(256) == SeqState(0, frozenset(), None)


def test_in_order_through_the_wrap_has_no_gap():
    state, arrivals = run(born(0), *range(1, 256), 0, 1, 2)
    assert set(arrivals) == {Arrival.NEXT}
    assert state == SeqState(2, frozenset(), None)


def test_a_repeat_changes_nothing():
    state, arrivals = run(born(0), 1, 1)
    assert arrivals == [Arrival.NEXT, Arrival.REPEAT]
    assert state == SeqState(1, frozenset(), None)


def test_a_skip_opens_a_gap_and_the_late_ones_heal_it():
    state, arrival = observe(born(0), 4, T1)
    assert arrival == Arrival.AHEAD
    assert state == SeqState(4, frozenset({1, 2, 3}), T1)
    state, arrivals = run(state, 2, 5, 1)
    assert arrivals == [Arrival.HEALED, Arrival.NEXT, Arrival.HEALED]
    assert state.missing == {3}
    assert state.gap_since == T1
    state, arrival = observe(state, 3, T1)
    assert arrival == Arrival.HEALED
    assert state == SeqState(5, frozenset(), None)


def test_a_gap_across_the_wrap():
    state, _ = observe(SeqState(254), 2, T1)
    assert state.missing == {255, 0, 1}
    state, arrival = observe(state, 255, T1)
    assert arrival == Arrival.HEALED
    assert state.missing == {0, 1}


def test_an_old_seq_that_was_not_missing_is_late_and_ignored():
    state = SeqState(10)
    assert observe(state, 9, T1) == (state, Arrival.LATE)
    assert observe(state, 200, T1) == (state, Arrival.LATE)  # 66 behind


def test_a_missing_seq_left_more_than_127_behind_is_lost_until_the_next_birth():
    state, _ = observe(born(0), 2, T0)  # 1 missing
    state, _ = run(state, *range(3, 129))  # 1 is now 127 behind: still awaited
    assert state.missing == {1}
    state, _ = observe(state, 129, T1)  # 128 behind: could read as ahead, so it is lost
    assert state.missing == {LOST}
    assert state.gap_since == T0
    # A later gap healing does not clear a lost one.
    state, _ = observe(state, 131, T1)
    state, _ = observe(state, 130, T1)
    assert state.missing == {LOST}
    assert state.gap_since == T0
    assert born(0).gap_since is None


def test_before_any_birth_the_first_seq_starts_tracking():
    state, arrival = observe(SeqState(), 17, T0)
    assert arrival == Arrival.FIRST
    assert state == SeqState(17)


def test_a_rebirth_is_due_once_a_gap_is_older_than_reorder_s():
    state, _ = observe(born(0), 3, T0)
    assert not rebirth_due(state, T0 + dt.timedelta(seconds=5), 5.0)
    assert rebirth_due(state, T0 + dt.timedelta(seconds=5.1), 5.0)
    assert not rebirth_due(born(0), T0 + dt.timedelta(days=1), 5.0)

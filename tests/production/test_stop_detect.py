"""The pure detection of stops from a state timeline, rule by rule (STOPS.md "Stops from
states"), with STOP_MIN_S = 120 s and STOP_STATES = stopped, fault, setup."""

from __future__ import annotations

import datetime as dt

from services.production.stops.detect import DetectedStop, StateChange, detect_stops

T0 = dt.datetime(2026, 3, 2, 8, 0, tzinfo=dt.UTC)
STOP_STATES = ("stopped", "fault", "setup")


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def timeline(*changes: tuple[float, str, str | None]) -> list[StateChange]:
    return [StateChange(at(s), state, reason) for s, state, reason in changes]


def detect(*changes: tuple[float, str, str | None]) -> list[DetectedStop]:
    return detect_stops(timeline(*changes), stop_states=STOP_STATES, min_s=120)


def stop(start: float, end: float | None, state: str, reason: str | None) -> DetectedStop:
    return DetectedStop(at(start), None if end is None else at(end), state, reason)


def test_a_run_shorter_than_stop_min_s_is_a_micro_stop_and_not_stored() -> None:
    assert detect((0, "running", None), (100, "stopped", "E1"), (219, "running", None)) == []


def test_a_run_of_exactly_stop_min_s_is_a_stop() -> None:
    assert detect((0, "running", None), (100, "stopped", "E1"), (220, "running", None)) == [
        stop(100, 220, "stopped", "E1")
    ]


def test_short_states_of_one_run_add_up_to_a_stop() -> None:
    # Three stop states of 60 s each with different reasons: no part lasts STOP_MIN_S, one stop.
    assert detect(
        (0, "running", None),
        (100, "stopped", "A"),
        (160, "fault", "B"),
        (220, "setup", "C"),
        (280, "running", None),
    ) == [stop(100, 280, "stopped", "A")]


def test_a_reason_change_with_both_parts_long_enough_makes_two_stops() -> None:
    assert detect(
        (0, "running", None),
        (100, "stopped", "A"),
        (300, "stopped", "B"),
        (450, "running", None),
    ) == [stop(100, 300, "stopped", "A"), stop(300, 450, "stopped", "B")]


def test_a_short_reason_blip_is_merged_into_the_stop_before_it() -> None:
    assert detect(
        (0, "running", None),
        (100, "fault", "A"),
        (400, "fault", "B"),  # 30 s: too short to be a stop of its own
        (430, "fault", "C"),
        (500, "running", None),
    ) == [stop(100, 500, "fault", "A")]
    # The rule walks segment by segment: a long part after the blip starts a stop of its own,
    # even with the reason before the blip.
    assert detect(
        (0, "running", None),
        (100, "fault", "A"),
        (400, "fault", "B"),
        (430, "fault", "A"),
        (700, "running", None),
    ) == [stop(100, 430, "fault", "A"), stop(430, 700, "fault", "A")]


def test_a_long_part_after_a_short_start_is_merged_and_names_the_stop() -> None:
    # The stop built so far (60 s) is too short to stand alone: the long part joins it, and
    # being the longest segment it gives the stop its state and reason.
    assert detect(
        (0, "running", None),
        (100, "setup", "A"),
        (160, "fault", "B"),
        (460, "running", None),
    ) == [stop(100, 460, "fault", "B")]


def test_the_longest_segment_wins_and_the_earliest_on_a_tie() -> None:
    assert detect(
        (0, "running", None),
        (100, "stopped", "A"),
        (160, "fault", "B"),
        (220, "running", None),
    ) == [stop(100, 220, "stopped", "A")]


def test_a_state_change_with_the_same_reason_is_one_stop() -> None:
    assert detect(
        (0, "running", None),
        (100, "stopped", "E7"),
        (300, "fault", "E7"),
        (800, "setup", "E7"),
        (900, "running", None),
    ) == [stop(100, 900, "fault", "E7")]


def test_a_missing_reason_is_a_reason_of_its_own() -> None:
    assert detect(
        (0, "running", None),
        (100, "stopped", None),
        (300, "stopped", "A"),
        (500, "stopped", None),
        (700, "running", None),
    ) == [stop(100, 300, "stopped", None), stop(300, 500, "stopped", "A"), stop(500, 700, "stopped", None)]  # fmt: skip


def test_offline_intervals_form_stops_of_their_own() -> None:
    assert detect(
        (0, "running", None),
        (100, "stopped", "A"),
        (300, "offline", None),
        (900, "stopped", "A"),
        (1000, "running", None),
    ) == [stop(100, 300, "stopped", "A"), stop(300, 900, "offline", None)]


def test_a_short_offline_interval_is_not_stored() -> None:
    assert detect((0, "running", None), (100, "offline", None), (160, "running", None)) == []


def test_idle_is_no_stop_unless_stop_states_says_so() -> None:
    changes = timeline((0, "running", None), (100, "idle", None), (400, "running", None))
    assert detect_stops(changes, stop_states=STOP_STATES, min_s=120) == []
    assert detect_stops(changes, stop_states=(*STOP_STATES, "idle"), min_s=120) == [
        stop(100, 400, "idle", None)
    ]


def test_the_last_state_in_a_run_makes_an_open_stop_whatever_its_length() -> None:
    assert detect((0, "running", None), (100, "fault", "A")) == [stop(100, None, "fault", "A")]
    assert detect((0, "running", None), (100, "fault", "A"), (130, "stopped", "A")) == [
        stop(100, None, "fault", "A")
    ]


def test_an_open_segment_counts_as_zero_and_never_splits_off() -> None:
    # The closed part lasts 300 s; the open one with another reason has an unknown length:
    # it stays in the stop (which keeps the closed part's reason) until the next state.
    assert detect((0, "running", None), (100, "fault", "A"), (400, "stopped", "B")) == [
        stop(100, None, "fault", "A")
    ]
    # Once it is closed and long enough, it becomes a stop of its own; the first keeps its start.
    assert detect(
        (0, "running", None), (100, "fault", "A"), (400, "stopped", "B"), (600, "running", None)
    ) == [stop(100, 400, "fault", "A"), stop(400, 600, "stopped", "B")]


def test_a_timeline_starting_in_a_stop_and_consecutive_runs() -> None:
    assert detect(
        (0, "setup", "S"),
        (200, "running", None),
        (300, "stopped", "A"),
        (320, "running", None),
        (400, "fault", "F"),
        (700, "idle", None),
    ) == [stop(0, 200, "setup", "S"), stop(400, 700, "fault", "F")]


def test_no_states_no_stops() -> None:
    assert detect() == []

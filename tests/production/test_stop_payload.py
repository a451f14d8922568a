"""The MATA682 body of a stop: nearest-minute bounds that never overlap, plant time, the marker."""

from __future__ import annotations

import datetime as dt
import itertools
import random
import uuid
from zoneinfo import ZoneInfo

import pytest

from services.production.pusher.client import fault_message
from services.production.pusher.documents import nearest_minute, pushed_bounds, stop_payload
from shared.protheus.sql import marker

PLANT = ZoneInfo("America/Sao_Paulo")


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def stop(**overrides: object) -> dict[str, object]:
    row: dict[str, object] = {
        "id": uuid.UUID("0b9f6c1e-7d2a-4c1b-9a53-1f2e3d4c5b6a"),
        "machine": "INJ01",
        "branch": "01",
        "reason_code": "02",
        "operator": "OP0001",
        "note": "troca de molde",
        "start_at": at("2026-03-02T10:05:25-03:00"),
        "end_at": at("2026-03-02T10:31:40-03:00"),
    }
    row.update(overrides)
    return row


@pytest.mark.parametrize(
    ("moment", "rounded"),
    [
        ("10:05:00", "10:05:00"),
        ("10:05:10", "10:05:00"),
        ("10:05:29.999999", "10:05:00"),
        ("10:05:30", "10:06:00"),
        ("10:05:59", "10:06:00"),
        ("23:59:45", "00:00:00"),
    ],
)
def test_each_bound_goes_to_the_nearest_minute(moment: str, rounded: str) -> None:
    got = nearest_minute(at(f"2026-03-02T{moment}-03:00"))
    assert got.strftime("%H:%M:%S") == rounded
    assert abs(got - at(f"2026-03-02T{moment}-03:00")) <= dt.timedelta(seconds=30)


def test_consecutive_stops_touch_but_never_overlap_once_rounded() -> None:
    first = pushed_bounds(at("2026-03-02T09:58:40-03:00"), at("2026-03-02T10:05:10-03:00"))
    second = pushed_bounds(at("2026-03-02T10:05:25-03:00"), at("2026-03-02T10:09:00-03:00"))
    assert first[1].strftime("%H:%M") == second[0].strftime("%H:%M") == "10:05"
    # The simulator's (and MATA682's) overlap test is strict: touching is allowed.
    assert not (second[0] < first[1] and second[1] > first[0])


def test_rounded_stops_of_a_machine_never_overlap_whatever_their_seconds() -> None:
    rng = random.Random(13)
    at_ = at("2026-03-02T06:00:00-03:00")
    bounds = []
    for _ in range(2000):
        at_ += dt.timedelta(seconds=rng.uniform(0, 200))  # a gap, maybe none
        end = at_ + dt.timedelta(seconds=rng.uniform(120, 1800))  # a stop >= STOP_MIN_S
        bounds.append(pushed_bounds(at_, end))
        at_ = end
    for (start, end), (next_start, _) in itertools.pairwise(bounds):
        assert start < end
        assert end <= next_start, (start, end, next_start)
        assert start.second == end.second == 0


def test_an_end_rounding_onto_the_start_is_one_minute_later() -> None:
    start, end = pushed_bounds(at("2026-03-02T10:05:10-03:00"), at("2026-03-02T10:05:25-03:00"))
    assert (start.strftime("%H:%M"), end.strftime("%H:%M")) == ("10:05", "10:06")


def test_the_stop_report_carries_plant_time_the_reason_and_the_marker_first() -> None:
    now = at("2026-03-02T16:45:31+00:00")  # 13:45:31 at the plant
    body = stop_payload(stop(), tz=PLANT, now=now)
    assert body == {
        "MachineCode": "INJ01",
        "StopReasonCode": "02",
        "StartDateTime": "2026-03-02T10:05:00",
        "EndDateTime": "2026-03-02T10:32:00",
        "OperatorCode": "OP0001",
        "ReportDateTime": "2026-03-02T13:45:31",
        "Observation": "MES:0B9F6C1E-7D2A-4C1B-9A53-1F2E3D4C5B6A troca de molde",
    }


def test_bounds_given_in_utc_are_sent_in_plant_time() -> None:
    body = stop_payload(
        stop(start_at=at("2026-03-02T13:05:25+00:00"), end_at=at("2026-03-02T13:31:40+00:00")),
        tz=PLANT,
        now=at("2026-03-02T16:45:00+00:00"),
    )
    assert (body["StartDateTime"], body["EndDateTime"]) == (
        "2026-03-02T10:05:00",
        "2026-03-02T10:32:00",
    )


def test_without_operator_or_note_the_fields_are_blank_and_the_marker_alone() -> None:
    row = stop(operator=None, note=None)
    body = stop_payload(row, tz=PLANT, now=at("2026-03-02T16:45:00+00:00"))
    assert body["OperatorCode"] == ""
    assert body["Observation"] == marker(row["id"])  # type: ignore[arg-type]
    assert body["Observation"] == f"MES:{str(row['id']).upper()}"


def test_a_mata682_rejection_keeps_the_routine_sentence_and_its_reason_once() -> None:
    reason = "Motivo de parada ZZ não cadastrado (CYN)."
    body = {
        "code": 400,
        "message": "Erro durante Inclusão/Estorno do Apontamento de Parada!.",
        "detailedMessage": f"A682MOTIVO: {reason}",
        "helpUrl": "",
        "details": [{"code": 400, "message": reason, "detailedMessage": f"A682MOTIVO: {reason}"}],
    }
    assert fault_message(body) == (
        f"Erro durante Inclusão/Estorno do Apontamento de Parada!. A682MOTIVO: {reason}"
    )

"""The note that explains null performance names a few machines, not a whole plant's."""

from __future__ import annotations

from services.telemetry.query.oee.ideal import MAX_NAMED_ISSUES, issues_note
from services.telemetry.query.oee.standards import OrderRun


def run(machine: str, issue: str | None = "ordem sem roteiro") -> OrderRun:
    return OrderRun(machine, "000001", None, "counter", issue=issue, good=1)


def test_no_issue_no_note() -> None:
    assert issues_note([run("M1", None)]) is None


def test_few_issues_are_all_named() -> None:
    note = issues_note([run("M2"), run("M1")])
    assert note is not None
    assert "máquina M1: ordem sem roteiro; máquina M2: ordem sem roteiro" in note
    assert "e mais" not in note


def test_a_plant_of_issues_names_the_first_and_counts_the_rest() -> None:
    runs = [run(f"M{n:03d}") for n in range(200)]
    note = issues_note(runs)
    assert note is not None
    assert note.count("máquina ") == MAX_NAMED_ISSUES
    assert "máquina M000:" in note
    assert "máquina M199:" not in note
    assert f"e mais {200 - MAX_NAMED_ISSUES}" in note
    assert len(note) < 400

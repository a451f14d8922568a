"""Present: the OEE answer as the API gives it (rounded seconds and ratios, plant times)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from services.telemetry.query.oee.aggregate import EPSILON_S, OeeTotals, figures
from services.telemetry.query.oee.standards import OrderRun

NO_PLANNED_TIME = "Não há tempo planejado na janela (SHIFT_CALENDAR ou janela no futuro)."


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def losses_list(totals: OeeTotals) -> list[dict[str, Any]]:
    """`losses` as the API gives it: `{state, reason, seconds, protheusReason}`, largest
    first; a state and reason partly covered by classified stops is one item per Protheus
    reason (null for the time no classified stop covers)."""
    items = [
        {"state": state, "reason": reason, "seconds": round(seconds, 3), "protheusReason": stop}
        for (state, reason, stop), seconds in totals.losses.items()
        if seconds > EPSILON_S
    ]
    return sorted(
        items,
        key=lambda item: (
            -item["seconds"],
            item["state"],
            item["reason"] or "",
            item["protheusReason"] or "",
        ),
    )


def oee_figures(totals: OeeTotals) -> dict[str, Any]:
    """The ratios (6 decimals), planned and running seconds (3 decimals) and counts."""
    ratios = {name: _round(value, 6) for name, value in figures(totals).items()}
    return {
        **ratios,
        "plannedTime": round(totals.planned, 3),
        "runningTime": round(totals.running, 3),
        "goodCount": totals.good,
        "scrapCount": totals.scrap,
    }


def order_item(run: OrderRun, time_format: str) -> dict[str, Any]:
    """One entry of `orders`: the order, operation and ideal time used for a run."""
    return {
        "machine": run.machine,
        "order": run.order,
        "source": run.source,
        "operation": run.operation,
        "operationType": run.standard.tpoper if run.standard else None,
        "crew": run.standard.crew if run.standard else None,
        "idealCycleTime": _round(run.unit_seconds(time_format), 6),
        "idealTime": _round(run.ideal(time_format), 3),
        "goodCount": run.good,
        "scrapCount": run.scrap,
        "issue": run.issue,
    }


def oee_answer(
    *,
    machine: str | None,
    line: str | None,
    start: str | None,
    end: str | None,
    totals: OeeTotals,
    per_machine: Mapping[str, OeeTotals],
    runs: Sequence[OrderRun],
    time_format: str,
    notes: list[str],
) -> dict[str, Any]:
    """`data` of the OEE route; `byMachine` only for a line. `start` and `end` come already
    shown in the plant's zone."""
    data: dict[str, Any] = {
        "machine": machine,
        "line": line,
        "machines": sorted(per_machine),
        "from": start,
        "to": end,
        **oee_figures(totals),
        "idealTime": _round(totals.ideal, 3),
        "losses": losses_list(totals),
        "orders": [order_item(run, time_format) for run in runs],
    }
    if line is not None:
        data["byMachine"] = [
            {"machine": target, **oee_figures(per_machine[target])}
            for target in sorted(per_machine)
        ]
    data["notes"] = notes
    return data


def answer_notes(ideal_note: str | None, *, planned: bool) -> list[str]:
    """The notes of the answer (also in its message): why performance/oee are null, and the
    absence of planned time."""
    notes = [ideal_note] if ideal_note else []
    if not planned:
        notes.append(NO_PLANNED_TIME)
    return notes


def oee_csv_rows(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The CSV rows of a dumped OEE answer: the machine's or line's figures, then for a line
    one row per machine (its figures; no ideal time, losses or notes: the JSON's byMachine
    carries none). The row schema is schemas.OeeCsvRow."""
    window = {"line": data.get("line"), "from": data.get("from"), "to": data.get("to")}
    rows = [dict(data)]
    rows.extend({**window, **machine} for machine in data.get("byMachine") or ())
    return rows

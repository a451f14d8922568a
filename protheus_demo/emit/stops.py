"""Past stop appointments (SH6 with H6_TIPO 'I', as MATA682 writes them): no order, a
machine, a reason from CYN, start and end; never overlapping on one machine."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from protheus_demo.model import BRANCHES, hhmm
from protheus_demo.vocabulary import BRANCH_02_UNUSED_REASONS, STOP_NOTES, STOP_REASONS

if TYPE_CHECKING:
    from protheus_demo.orders import OrderBook
    from protheus_demo.plant import DemoPlant

DAYS = 14  # the days before the reference date that get stops (never the reference day)
TOOL_REASONS = frozenset({"03", "05"})
# How often a reason comes up (FALTA DE MATERIAL and setups dominate, as on a real floor).
REASON_WEIGHTS = {"01": 8, "02": 5, "03": 9, "04": 3, "05": 2, "06": 3, "99": 1}

# Column positions in an SH6 row (TABLES["SH6"] order).
_FILIAL, _RECURSO, _DATAINI, _HORAINI, _DATAFIN, _HORAFIN, _TIPO = 0, 4, 6, 7, 8, 9, 14


Interval = tuple[str, str]  # ("YYYYMMDDHH:MM", "YYYYMMDDHH:MM"): text order is time order


def booked_stops(book: OrderBook) -> dict[tuple[str, str], list[Interval]]:
    """Live stop rows the orders already hold, per (filial, machine)."""
    booked: dict[tuple[str, str], list[Interval]] = {}
    for row, deleted in book.sh6:
        if deleted or row[_TIPO] != "I":
            continue
        key = (str(row[_FILIAL]), str(row[_RECURSO]))
        start = f"{row[_DATAINI]}{row[_HORAINI]}"
        end = f"{row[_DATAFIN]}{row[_HORAFIN]}"
        booked.setdefault(key, []).append((start, end))
    return booked


def overlaps(interval: Interval, others: list[Interval]) -> bool:
    """Strict overlap, as MATA682 checks it: touching intervals do not overlap."""
    start, end = interval
    return any(start < other_end and end > other_start for other_start, other_end in others)


def rows(plant: DemoPlant, book: OrderBook) -> Iterator[tuple[tuple[object, ...], bool]]:
    """(business values, deleted) of every machine's past stops; H6_IDENT continues the
    orders' numbering. About one stop in twenty was reversed (the row deleted)."""
    rng = plant.rng("SH6/stops")
    booked = booked_stops(book)
    codes = [code for code, _ in STOP_REASONS if code in REASON_WEIGHTS]
    weights = [REASON_WEIGHTS[code] for code in codes]
    for branch_index, branch in enumerate(BRANCHES):
        share = 0.7 if branch_index == 0 else 0.25  # branch 02 runs fewer machines
        for code, *_ in plant.machines:
            if rng.random() >= share:
                continue
            taken = booked.setdefault((branch, code), [])
            for offset in range(-DAYS, 0):
                day = plant.day(offset)
                minute = 6 * 60
                for _ in range(rng.choice((0, 1, 1, 2, 3))):
                    start = minute + rng.randrange(0, 240)
                    length = rng.choice((3, 5, 8, 12, 15, 20, 30, 45, 60, 90, 120, 180))
                    end = start + length
                    if end > 23 * 60 + 59:
                        break
                    minute = end
                    interval = (f"{day}{hhmm(start)}", f"{day}{hhmm(end)}")
                    if overlaps(interval, taken):
                        continue
                    reason = rng.choices(codes, weights)[0]
                    if branch_index == 1 and reason in BRANCH_02_UNUSED_REASONS:
                        reason = "99"
                    deleted = rng.random() < 0.05
                    if not deleted:
                        taken.append(interval)
                    tool = (
                        f"FER{rng.randint(1, 60):03d}"
                        if reason in TOOL_REASONS and code[:5] in ("PRENS", "INJET")
                        else ""
                    )
                    notes = STOP_NOTES.get(reason, ())
                    note = rng.choice(notes) if notes and rng.random() < 0.3 else ""
                    operator = f"{rng.randint(1, 180):06d}" if rng.random() < 0.8 else ""
                    book.ident += 1
                    yield (
                        (
                            branch, "", "", "", code, tool, day, hhmm(start), day, hhmm(end),
                            round(length / 60, 2), 0.0, 0.0, "", "I", reason, day, "", "",
                            operator, note, f"{book.ident:06d}",
                        ),
                        deleted,
                    )  # fmt: skip

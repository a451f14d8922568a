"""SH1, the resources (machines), with a decommissioned and a re-entered one as deleted rows."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from protheus_demo.model import SHARED_FILIAL, numbered
from protheus_demo.shape import crew_of

if TYPE_CHECKING:
    from protheus_demo.plant import DemoPlant


def rows(plant: DemoPlant) -> Iterator[tuple[object, ...]]:
    rows = [
        ((SHARED_FILIAL, code, title, centre, cost, "001", crew_of(code)), False)
        for code, title, centre, cost in plant.machines
    ]
    # A decommissioned machine, and a machine whose first record was deleted and
    # re-entered: both only as deleted rows beside the live ones.
    code, title, centre, cost = plant.machines[0]
    crew = crew_of(code)
    rows.append(
        (
            (
                SHARED_FILIAL,
                f"{code[:5]}9",
                f"{title[:29]} DESATIVADA",
                centre,
                cost,
                "001",
                crew,
            ),
            True,
        )
    )
    rows.append(((SHARED_FILIAL, code, f"{title[:33]} ANTIGA", centre, cost, "001", crew), True))
    return numbered(rows)

"""SG1, the bill of materials' lines, with each trap's validity dates and revisions."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from protheus_demo.model import BRANCHES, with_control
from protheus_demo.shape import (
    DELETED,
    EXPIRED,
    NEXT_REVISION,
    NORMAL,
    NOT_YET,
    OLD_REVISION,
    OPEN_END,
    TRT_CODES,
)

if TYPE_CHECKING:
    from protheus_demo.plant import DemoPlant


def rows(plant: DemoPlant) -> Iterator[tuple[object, ...]]:
    rng = plant.rng("SG1/render")
    products = plant.products
    day = plant.day
    for number in range(len(plant.bom.line_parent)):
        parent = products[plant.bom.line_parent[number]]
        kind = plant.bom.line_kind[number]
        start = day(-rng.randint(400, 3500))
        end = OPEN_END
        revision_start, revision_end = ("001", "ZZZ") if rng.random() < 0.8 else ("", "")
        if kind in (NORMAL, DELETED):
            roll = rng.random()
            # Blank validity dates mean "no bound" in either direction.
            if roll < 0.08:
                start, end = "", ""
            elif roll < 0.12:
                end = ""
        elif kind == EXPIRED:
            end = day(-rng.randint(1, 300))
        elif kind == NOT_YET:
            start = day(rng.randint(1, 180))
        elif kind == OLD_REVISION:
            revision_start, revision_end = "001", f"{int(parent.revatu) - 1:03d}"
        elif kind == NEXT_REVISION:
            revision_start, revision_end = f"{int(parent.revatu) + 1:03d}", "ZZZ"
        business = (
            BRANCHES[plant.bom.line_branch[number]],
            parent.code,
            products[plant.bom.line_comp[number]].code,
            TRT_CODES[plant.bom.line_trt[number]],
            plant.bom.line_qty[number],
            plant.bom.line_loss[number],
            start,
            end,
            "F" if plant.bom.line_fixed[number] else "V",
            revision_start,
            revision_end,
            f"{parent.height:02d}",
            f"{99 - parent.height:02d}",
        )
        yield with_control(business, kind == DELETED, number + 1)

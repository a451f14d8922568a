"""SB1, the products: live, deleted, and registered twice by mistake, in no code order."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from protheus_demo.model import numbered

if TYPE_CHECKING:
    from protheus_demo.plant import DemoPlant


def rows(plant: DemoPlant) -> Iterator[tuple[object, ...]]:
    rng = plant.rng("SB1/render")
    rows: list[tuple[tuple[object, ...], bool]] = [(p.sb1(), False) for p in plant.products]
    rows += [(p.sb1(), True) for p in plant.deleted_products]
    for product in rng.sample(plant.products, max(2, len(plant.products) // 100)):
        if product.tipo == "MO":
            continue
        # A product registered twice by mistake: the first record is deleted, so a
        # query without the D_E_L_E_T_ filter answers the code twice.
        old = product.sb1()
        old = (*old[:2], f"{product.desc[:52]} (ANTIGO)", *old[3:])
        rows.append((old, True))
    # Physical order is insertion order, never code order.
    rng.shuffle(rows)
    return numbered(rows)

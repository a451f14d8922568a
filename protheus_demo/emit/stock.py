"""SB2, stock balances per branch and warehouse, with stale balances as deleted rows."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import TYPE_CHECKING

from protheus_demo.model import BRANCHES, Product, numbered

if TYPE_CHECKING:
    from protheus_demo.plant import DemoPlant


def rows(plant: DemoPlant) -> Iterator[tuple[object, ...]]:
    rng = plant.rng("SB2")

    def pairs() -> Iterator[tuple[tuple[object, ...], bool]]:
        for product in plant.products:
            if product.tipo == "MO":
                continue
            for branch, chance in ((0, 0.75), (1, 0.3)):
                if rng.random() > chance:
                    continue
                warehouses = [product.locpad]
                if rng.random() < 0.2:
                    warehouses.append(
                        rng.choice([w for w in ("01", "02", "03") if w != product.locpad])
                    )
                for warehouse in warehouses:
                    row = _stock(rng, product, BRANCHES[branch], warehouse)
                    yield row, False
                    if rng.random() < 0.02:
                        # A stale balance row, deleted: summing without the filter doubles stock.
                        yield (*row[:3], row[3] * 2, *row[4:]), True

    return numbered(pairs())


def _stock(rng: random.Random, product: Product, branch: str, warehouse: str) -> tuple[object, ...]:
    scale = {"M": 5000, "KG": 2000, "RL": 300}.get(product.um, 800 if product.tipo == "MP" else 300)
    on_hand = float(rng.randint(0, scale))

    def part(chance: float, fraction: float) -> float:
        return float(int(on_hand * rng.uniform(0.05, fraction))) if rng.random() < chance else 0.0

    roll = rng.random()
    return (
        branch,
        product.code,
        warehouse,
        on_hand,
        part(0.2, 0.5),
        part(0.1, 0.3),
        part(0.1, 0.5),
        float(rng.randint(10, scale)) if rng.random() < 0.1 else 0.0,
        part(0.05, 0.2),
        round(product.custd * rng.uniform(0.9, 1.1), 4),
        "2" if roll < 0.02 else (" " if roll < 0.2 else "1"),
    )

"""SG2, the routings' operations, and SH3, their alternative and secondary resources."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from protheus_demo.model import BRANCHES, Operation, numbered
from protheus_demo.shape import OPERATION_TITLES

if TYPE_CHECKING:
    from protheus_demo.plant import DemoPlant


def operation_rows(plant: DemoPlant) -> Iterator[tuple[object, ...]]:
    def pairs() -> Iterator[tuple[tuple[object, ...], bool]]:
        for (branch, index), routes in plant.routings.items():
            code = plant.products[index].code
            for routing, operations in routes.items():
                for op in operations:
                    yield _sg2(plant, branch, code, routing, op), False
        for branch, index, routing, op in plant.deleted_operations:
            yield _sg2(plant, branch, plant.products[index].code, routing, op), True

    return numbered(pairs())


def _sg2(
    plant: DemoPlant, branch: int, code: str, routing: str, op: Operation
) -> tuple[object, ...]:
    machine = plant.machines[op.machine]
    return (
        BRANCHES[branch],
        code,
        routing,
        op.operac,
        machine[0],
        machine[2],
        OPERATION_TITLES[plant.machine_kind[op.machine]],
        op.setup,
        op.tempad,
        op.lotepad,
        op.maoobra,
        op.tpoper,
    )


def resource_rows(plant: DemoPlant) -> Iterator[tuple[object, ...]]:
    """Alternative (A) and secondary (S) resources of some operations: another machine of
    the same kind. Its own random stream, so no other table changes."""
    rng = plant.rng("SH3")
    rows: list[tuple[tuple[object, ...], bool]] = []
    for (branch, index), routes in plant.routings.items():
        code = plant.products[index].code
        for routing, operations in routes.items():
            for op in operations:
                draw = rng.random()
                if draw >= 0.2:
                    continue
                kind_of = plant.machine_kind[op.machine]
                others = [m for m in plant.machines_by_kind[kind_of] if m != op.machine]
                if not others:
                    continue
                other = plant.machines[rng.choice(others)][0]
                kind = "A" if draw < 0.15 else "S"
                # A few alternatives withdrawn: deleted rows a forgotten filter would use.
                deleted = rng.random() < 0.1
                rows.append(((BRANCHES[branch], code, routing, op.operac, other, kind), deleted))
    return numbered(rows)

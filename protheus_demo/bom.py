"""The demo plant's bill of materials (SG1): parents composed by height under the explosion
caps, branch 02's variants, the traps a forgotten filter falls into, and the cycles."""

from __future__ import annotations

import random
from array import array
from typing import TYPE_CHECKING

from protheus_demo.model import Product
from protheus_demo.shape import (
    BOM_SIZE_CAP,
    CYCLE_PRODUCTS,
    DEEP_CHAIN_SIZE,
    DEEP_PRODUCTS,
    DELETED,
    EXPIRED,
    INVALID_LOSSES,
    MAX_DEPTH,
    NEXT_REVISION,
    NORMAL,
    NOT_YET,
    OLD_REVISION,
    PA_HEIGHTS,
    PI_HEIGHTS,
    SHARED_SUBASSEMBLY,
    UNION_SIZE_CAP,
    WIDELY_USED_COMPONENT,
    Popularity,
    sample,
)

if TYPE_CHECKING:
    from protheus_demo.plant import DemoPlant


class BillOfMaterials:
    """Every SG1 line of the plant, column by column (compact at the large scale), with what
    the orders need from it: each parent's intermediates and first raw materials per branch.

    Built from the plant's products, branches and routings; sets each parent's height.
    """

    def __init__(self, plant: DemoPlant) -> None:
        self.rng = plant.rng
        self.scale = plant.scale
        self.products = plant.products
        self.index_of = plant.index_of
        self.parents = plant.parents
        self.intermediates = plant.intermediates
        self.cycle_members = plant.cycle_members
        self.makes = plant.makes
        self.mp_pickers = plant.mp_pickers
        self.routings = plant.routings
        self.labour = plant.labour
        self.machine_kind = plant.machine_kind
        self._build()

    def _build(self) -> None:
        rng = self.rng("SG1")
        count = len(self.products)
        self.bom_size = [array("i", bytes(4 * count)), array("i", bytes(4 * count))]
        self.bom_union = array("i", bytes(4 * count))
        self.line_parent = array("i")
        self.line_comp = array("i")
        self.line_branch = array("b")
        self.line_kind = array("b")
        self.line_trt = array("b")
        self.line_qty = array("d")
        self.line_loss = array("d")
        self.line_fixed = array("b")
        self.pi_children: dict[tuple[int, int], list[tuple[int, float]]] = {}
        self.first_materials: dict[tuple[int, int], list[tuple[int, float]]] = {}

        parents = [i for i in self.parents if i not in self.cycle_members]
        for index in parents:
            product = self.products[index]
            product.height = rng.choices(*(PA_HEIGHTS if product.tipo == "PA" else PI_HEIGHTS))[0]
        shared = self.index_of[SHARED_SUBASSEMBLY]
        self.products[shared].height, self.products[shared].slim = 1, True
        # The deep chain: seven slim intermediates, each the spine of the next, under
        # every deep product, so an explosion reaches level 8 while staying small.
        chain_pool = [
            i
            for i in self.intermediates
            if self.makes[i] == (True, False) and i not in self.cycle_members and i != shared
        ]
        chain = rng.sample(chain_pool, DEEP_CHAIN_SIZE)
        for height, index in enumerate(chain, start=1):
            self.products[index].height, self.products[index].slim = height, True
            self.products[index].spine = chain[height - 2] if height > 1 else None
        for code in DEEP_PRODUCTS:
            deep = self.products[self.index_of[code]]
            deep.height, deep.spine = MAX_DEPTH, chain[-1]

        # The fixed-code products and the deep chain keep their designed shape: no traps.
        reserved = {self.index_of[c] for c in DEEP_PRODUCTS} | {shared, *chain}
        candidates = [i for i in parents if i not in reserved]
        self._wide_parents = sample(rng, candidates, 0.0, self.scale.widely_used)
        tall = [i for i in candidates if self.products[i].height >= 2]
        self._shared_parents = sample(rng, tall, 0.0, self.scale.shared_used)
        in01 = [i for i in candidates if self.makes[i][0]]
        self._expired = sample(rng, in01, 0.04, 3)
        self._not_yet = sample(rng, in01, 0.03, 3)
        revised = [i for i in in01 if self.products[i].revatu != "001"]
        self._old_revision = sample(rng, revised, 0.04, 3)
        self._next_revision = sample(rng, in01, 0.02, 2)
        self._two_trt = sample(rng, in01, 0.05, 3)
        self._deleted_lines = sample(rng, in01, 0.03, 3)
        bad = sorted(sample(rng, in01, 0.002, len(INVALID_LOSSES)))
        self._bad_loss = {
            index: INVALID_LOSSES[n % len(INVALID_LOSSES)] for n, index in enumerate(bad)
        }

        self.buckets: dict[int, list[int]] = {}
        for index in parents:
            if self.products[index].tipo == "PI":
                self.buckets.setdefault(self.products[index].height, []).append(index)
        self._pickers: dict[int, Popularity] = {}

        parents.sort(key=lambda i: (self.products[i].height, i))
        wide = self.index_of[WIDELY_USED_COMPONENT]
        for index in parents:
            product = self.products[index]
            makes01, makes02 = self.makes[index]
            lines01: list[list] = []
            union_total = 0
            if makes01:
                lines01, total = self._compose(rng, product, 0, 0, traps=True, wide=wide)
                self.bom_size[0][index] = total
                union_total = sum(1 + self.bom_union[line[0]] for line in lines01)
                self._record(index, 0, lines01)
            if makes02:
                if makes01:
                    lines02 = self._variant(rng, lines01)
                else:
                    lines02, _ = self._compose(rng, product, 1, 0, traps=False, wide=wide)
                lines02, total02, union_total = self._fit_branch02(lines02, union_total)
                self.bom_size[1][index] = total02
                self._record(index, 1, lines02)
            self.bom_union[index] = union_total

        # Cycles: a mistake real BOMs contain; the explosion must cut them, not loop.
        for cycle in CYCLE_PRODUCTS:
            members = [self.index_of[c] for c in cycle]
            for position, index in enumerate(members):
                product = self.products[index]
                lines = [[members[(position + 1) % len(members)], NORMAL, 0, 1.0, 0.0, 0]]
                for _ in range(2):
                    assert product.family is not None
                    material = self.mp_pickers[rng.choice(product.family.materials)].pick(rng)
                    if material is not None and all(line[0] != material for line in lines):
                        lines.append(
                            [material, NORMAL, 0, self._quantity(rng, product, material), 0.0, 0]
                        )
                self._record(index, 0, lines)

    def _picker(self, height: int) -> Popularity:
        picker = self._pickers.get(height)
        if picker is None:
            # Built on first use: parents are processed by height, so every intermediate
            # of a lower height already has its final size when a picker needs it.
            picker = Popularity(self.buckets.get(height, []), self.rng(f"SG1/pick/{height}"))
            self._pickers[height] = picker
        return picker

    def _quantity(self, rng: random.Random, parent: Product, component: int) -> float:
        unit = self.products[component].um
        tipo = self.products[component].tipo
        if tipo == "PI":
            quantity = float(rng.choice((1, 1, 1, 2, 2, 4)))
        elif unit == "M":
            quantity = round(rng.uniform(0.15, 4.5), 3)
        elif unit == "KG":
            quantity = round(rng.uniform(0.01, 2.0), 4)
        elif unit == "RL":
            quantity = round(rng.uniform(0.01, 0.2), 3)
        elif unit == "HR":
            quantity = round(rng.uniform(0.005, 0.35), 4)
        else:
            quantity = float(rng.randint(1, 8))
        # Quantities are per B1_QB units of the parent: a base of 100 scales them up.
        return round(quantity * 100, 3) if parent.qb == 100.0 else quantity

    def _compose(
        self,
        rng: random.Random,
        product: Product,
        branch: int,
        union_start: int,
        *,
        traps: bool,
        wide: int,
    ) -> tuple[list[list], int]:
        """Lines of one parent in one branch, keeping its exploded size under the caps."""
        size = self.bom_size[branch]
        union = self.bom_union
        lines: list[list] = []
        used: set[int] = set()
        total = 0
        union_total = union_start
        # Room kept for the raw-material and labour lines added after the intermediates.
        reserve = 30

        def fits(component: int) -> bool:
            return (
                total + 1 + size[component] <= BOM_SIZE_CAP - reserve
                and union_total + 1 + union[component] <= UNION_SIZE_CAP - reserve
            )

        def add(component: int, kind: int = NORMAL, trt: int = 0) -> list:
            nonlocal total, union_total
            total += 1 + size[component]
            union_total += 1 + union[component]
            loss = 0.0 if rng.random() < 0.7 else round(rng.uniform(0.5, 10.0), 2)
            fixed = 1 if rng.random() < 0.04 else 0
            line = [component, kind, trt, self._quantity(rng, product, component), loss, fixed]
            lines.append(line)
            used.add(component)
            return line

        def material() -> int | None:
            assert product.family is not None
            for _ in range(4):
                picked = self.mp_pickers[rng.choice(product.family.materials)].pick(rng)
                if picked is not None and picked not in used:
                    return picked
            return None

        height = product.height
        if product.spine is not None:
            add(product.spine)
        elif height > 1:
            for _ in range(6):
                picked = self._picker(height - 1).pick(rng)
                if picked is not None and picked not in used and fits(picked):
                    add(picked)
                    break
        if not product.slim and height > 1:
            for _ in range(rng.choice((0, 1, 1, 1, 2, 2, 3))):
                picked = self._picker(rng.randint(1, height - 1)).pick(rng)
                if picked is not None and picked not in used and fits(picked):
                    add(picked)
            shared = self.index_of[SHARED_SUBASSEMBLY]
            if product.index in self._shared_parents and shared not in used and fits(shared):
                add(shared)
        count = rng.randint(2, 3) if product.slim else rng.randint(2, self.scale.max_materials)
        for _ in range(count):
            picked = material()
            if picked is not None:
                add(picked)
        if product.index in self._wide_parents and wide not in used:
            add(wide)
        routes = self.routings.get((branch, product.index))
        if routes and rng.random() < 0.9:
            add(self.labour[self.machine_kind[routes["01"][0].machine]])
            second = self.labour[self.machine_kind[routes["01"][-1].machine]]
            if second not in used and rng.random() < 0.3:
                add(second)

        if traps:
            index = product.index
            for kind, chosen in (
                (EXPIRED, self._expired),
                (NOT_YET, self._not_yet),
                (OLD_REVISION, self._old_revision),
                (NEXT_REVISION, self._next_revision),
            ):
                if index in chosen:
                    picked = material()
                    if picked is not None:
                        add(picked, kind)
            live = [line for line in lines if line[1] == NORMAL]
            if index in self._two_trt:
                # The same component twice under one parent (e.g. a terminal crimped at
                # both ends): G1_TRT tells the lines apart.
                raw = [line for line in live if self.products[line[0]].tipo == "MP"]
                if raw:
                    first = rng.choice(raw)
                    first[2] = 1
                    twin = add(first[0], NORMAL, 2)
                    twin[3] = first[3]
            if index in self._deleted_lines and live:
                old = rng.choice(live)
                if self.products[old[0]].tipo != "PI" or fits(old[0]):
                    ghost = add(old[0], DELETED, old[2])
                    ghost[3] = round(old[3] * 2, 3)
            if index in self._bad_loss and live:
                rng.choice(live)[4] = self._bad_loss[index]
        return lines, total

    def _variant(self, rng: random.Random, lines01: list[list]) -> list[list]:
        """Branch 02's copy of a structure: same idea, some quantities and materials differ."""
        lines: list[list] = []
        used = {line[0] for line in lines01}
        for component, kind, trt, quantity, loss, fixed in lines01:
            if kind != NORMAL:
                continue
            roll = rng.random()
            if roll < 0.05:
                continue
            product = self.products[component]
            if roll < 0.15 and product.tipo == "MP" and product.family is not None:
                other = self.mp_pickers[product.family.key].pick(rng)
                if other is not None and other not in used:
                    component = other
                    used.add(other)
            if roll < 0.35:
                quantity = round(quantity * rng.uniform(0.8, 1.25), 4)
            lines.append([component, NORMAL, trt, quantity, loss, fixed])
        return lines

    def _fit_branch02(self, lines: list[list], union_total: int) -> tuple[list[list], int, int]:
        size = self.bom_size[1]
        union = self.bom_union

        def totals() -> tuple[int, int]:
            return (
                sum(1 + size[line[0]] for line in lines),
                union_total + sum(1 + union[line[0]] for line in lines),
            )

        total, union_all = totals()
        while total > BOM_SIZE_CAP or union_all > UNION_SIZE_CAP:
            biggest = max(lines, key=lambda line: union[line[0]] + size[line[0]])
            lines.remove(biggest)
            total, union_all = totals()
        return lines, total, union_all

    def _record(self, parent: int, branch: int, lines: list[list]) -> None:
        materials: list[tuple[int, float]] = []
        children: list[tuple[int, float]] = []
        for component, kind, trt, quantity, loss, fixed in lines:
            self.line_parent.append(parent)
            self.line_comp.append(component)
            self.line_branch.append(branch)
            self.line_kind.append(kind)
            self.line_trt.append(trt)
            self.line_qty.append(quantity)
            self.line_loss.append(loss)
            self.line_fixed.append(fixed)
            if kind != NORMAL:
                continue
            tipo = self.products[component].tipo
            if tipo == "PI" and component not in self.cycle_members:
                children.append((component, quantity))
            elif tipo == "MP" and len(materials) < 2:
                materials.append((component, quantity))
        if children:
            self.pi_children[(branch, parent)] = children
        if materials:
            self.first_materials[(branch, parent)] = materials

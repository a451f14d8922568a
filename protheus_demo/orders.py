"""Production orders (SC2) with their appointments (SH6) and moves (SD3), consistent by design."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from protheus_demo.model import BRANCHES, Operation, Product, hhmm
from protheus_demo.vocabulary import STOP_REASONS

if TYPE_CHECKING:
    from protheus_demo.generate import DemoPlant

ORDER_STATUSES: tuple[str, ...] = (
    "planned",
    "open",
    "started",
    "idle",
    "partially_closed",
    "closed",
    "suspended",
    "sacramented",
)
STATUS_WEIGHTS = (10, 14, 20, 10, 10, 26, 5, 5)
ORDER_SIZES = (20.0, 50.0, 100.0, 120.0, 200.0, 250.0, 300.0, 500.0, 1000.0)
# The stop appointments an order gets name one of the plant's first five reasons (CYN).
ORDER_STOP_REASONS = STOP_REASONS[:5]
APPOINTMENT_NOTES = ("TROCA DE BOBINA", "AJUSTE DE FERRAMENTA", "LOTE RETRABALHADO", "INSPEÇÃO OK")


class OrderBook:
    """Production orders (SC2) with their appointments (SH6) and moves (SD3)."""

    def __init__(self, plant: DemoPlant) -> None:
        self.plant = plant
        self.rng = plant.rng("SC2")
        self.day = plant.day
        self.sc2: list[tuple[tuple[object, ...], bool]] = []
        self.sh6: list[tuple[tuple[object, ...], bool]] = []
        self.sd3: list[tuple[tuple[object, ...], bool]] = []
        self.ident = 0
        self.numseq = 0
        self.document = 0
        self.last_quantity = 0.0

    def build(self) -> tuple[list, list, list]:
        plant, rng = self.plant, self.rng
        for branch, share in ((0, 0.8), (1, 0.2)):
            count = max(2 * len(ORDER_STATUSES), round(plant.scale.orders * share))
            statuses = list(ORDER_STATUSES) * 2
            statuses += rng.choices(ORDER_STATUSES, STATUS_WEIGHTS, k=count - len(statuses))
            rng.shuffle(statuses)
            routed = [
                i
                for i in plant.parents
                if (branch, i) in plant.routings
                and i not in plant.cycle_members
                and plant.products[i].blocked != "1"
            ]
            finished = [i for i in routed if plant.products[i].tipo == "PA"]
            intermediate = [i for i in routed if plant.products[i].tipo == "PI"]
            # Both branches number their orders from the same start: an order number
            # alone names two different orders.
            number = 100
            traps = {"reversed_idle": 2, "deleted_open": 2, "old_started": 2}
            for status in statuses:
                number += 1
                for item in range(1, 3 if rng.random() < 0.1 else 2):
                    pool = finished if (rng.random() < 0.75 or not intermediate) else intermediate
                    product = plant.products[rng.choice(pool)]
                    trap = None
                    for name, wanted in (
                        ("reversed_idle", "idle"),
                        ("deleted_open", "open"),
                        ("old_started", "started"),
                    ):
                        if status == wanted and traps[name] > 0:
                            traps[name] -= 1
                            trap = name
                    window = self.order(branch, number, item, 1, product, status, None, None, trap)
                    children = plant.pi_children.get((branch, product.index))
                    if product.tipo == "PA" and children and rng.random() < 0.5:
                        quantity = self.last_quantity
                        for sequence, (child, per) in enumerate(children[:2], start=2):
                            child_product = plant.products[child]
                            if (branch, child) not in plant.routings:
                                continue
                            base = product.qb or 1.0
                            needed = float(math.ceil(quantity * per / base))
                            self.order(
                                branch, number, item, sequence, child_product,
                                self.child_status(status), needed, window, None,
                            )  # fmt: skip
        self.internal_moves()
        self.deleted_copies()
        return self.sc2, self.sh6, self.sd3

    def deleted_copies(self) -> None:
        """Deleted rows that share a live row's key, so a forgotten D_E_L_E_T_ filter shows.

        An order cancelled and re-entered under the same number, a production move typed
        twice and deleted: joins and sums without the filter count them twice.
        """
        rng = self.rng
        for rows, column in ((self.sc2, 8), (self.sd3, 4)):
            live = [row for row, deleted in rows if not deleted]
            for row in rng.sample(live, max(2, len(live) // 100)):
                amount = row[column]
                assert isinstance(amount, float)
                rows.append(((*row[:column], amount * 2, *row[column + 1 :]), True))

    def child_status(self, status: str) -> str:
        if status in ("planned", "open", "suspended", "sacramented"):
            return status
        if status == "started":
            return "closed" if self.rng.random() < 0.6 else "started"
        return "closed"

    def order(
        self,
        branch: int,
        number: int,
        item: int,
        sequence: int,
        product: Product,
        status: str,
        quantity: float | None,
        parent_window: tuple[int, int] | None,
        trap: str | None,
    ) -> tuple[int, int] | None:
        """One SC2 row plus its movements; returns its activity window (day offsets)."""
        plant, rng, day = self.plant, self.rng, self.day
        r = rng.randint
        grid = "001" if rng.random() < 0.03 else ""
        key = f"{number:06d}{item:02d}{sequence:03d}{grid:<3}"
        quantity = quantity or rng.choice(ORDER_SIZES) * (2 if product.tipo == "PI" else 1)
        self.last_quantity = quantity
        routes = plant.routings[(branch, product.index)]
        roteiro = ""
        if "02" in routes and rng.random() < 0.6:
            roteiro = rng.choice(("01", "02"))
        elif rng.random() < 0.12:
            roteiro = "01"
        # The order's routing: C2_ROTEIRO, else the product's B1_OPERPAD, else '01'.
        operations = routes[roteiro or product.operpad or "01"]

        tpop, situation, closed_on, idle_days = "F", rng.choice(("N", " ")), "", 0.0
        window: tuple[int, int] | None = None
        if status == "planned":
            tpop = "P"
            issued = -r(0, 10)
            planned_start = r(3, 40)
        elif status == "open":
            issued = -r(0, 15)
            planned_start = r(-4, 20)
        else:
            if status == "started":
                if trap == "old_started":
                    # Started long ago, nothing since, but C2_DIASOCI = 0: never idle.
                    last = -r(20, 60)
                else:
                    idle_days = float(r(3, 10)) if rng.random() < 0.5 else 0.0
                    last = -r(0, int(idle_days) - 1) if idle_days else -r(0, 6)
                start = last - r(0, 15)
            elif status == "idle":
                idle_days = float(r(2, 7))
                last = -(int(idle_days) + r(1, 25))
                start = last - r(0, 10)
            elif status == "suspended":
                situation = "U"
                last = -r(5, 40)
                start = last - r(0, 8)
            else:
                if status == "sacramented":
                    situation = "S"
                last = -r(2, 330)
                start = last - r(0, 12)
                closed_on = day(min(0, last + r(0, 2)))
            if parent_window is not None and status in ("closed", "sacramented"):
                # A child order finishes before its parent starts consuming it.
                last = parent_window[0] - r(0, 2)
                start = last - r(0, 6)
                closed_on = day(min(0, last + r(0, 1)))
            window = (start, last)
            issued = start - r(0, 5)
            planned_start = start + r(-1, 1)

        produced, scrapped = 0.0, 0.0
        moves = window is not None and not (status == "suspended" and rng.random() < 0.4)
        if moves and window is not None:
            produced, scrapped = self.movements(
                branch, key, product, status, quantity, operations, window, idle_days, trap
            )
        elif status == "open" and trap == "deleted_open":
            self.reversed_appointment(branch, key, product, operations[-1], -r(0, 3), quantity)

        observation = rng.choice(
            ("", "", "", "", "URGENTE CLIENTE", "REPROGRAMADA", f"PEDIDO {r(1, 99999):06d}")
        )
        row = (
            BRANCHES[branch], key[:6], key[6:8], key[8:11], grid, product.code, product.locpad,
            product.um, quantity, produced, scrapped, day(planned_start),
            day(planned_start + r(2, 15)), closed_on, day(issued), tpop, situation, roteiro,
            rng.choice(("500", "500", "500", "100", "900")), idle_days, observation,
        )  # fmt: skip
        self.sc2.append((row, False))
        return window

    def movements(
        self,
        branch: int,
        key: str,
        product: Product,
        status: str,
        quantity: float,
        operations: list[Operation],
        window: tuple[int, int],
        idle_days: float,
        trap: str | None,
    ) -> tuple[float, float]:
        """Appointments (SH6) and production moves (SD3) of an order; returns (C2_QUJE, C2_PERDA)."""
        rng = self.rng
        total = int(quantity)
        count = len(operations)
        # A sacramented order ('S') was closed for good, complete or not.
        complete = status == "closed" or (status == "sacramented" and rng.random() < 0.5)
        if complete:
            done = [total] * count
            if rng.random() < 0.2:
                done[-1] = total + rng.randint(1, max(1, total // 25))
        elif status in ("partially_closed", "sacramented"):
            current = int(total * rng.uniform(0.4, 0.95))
            done = []
            for _ in range(count):
                done.append(current)
                current = min(total, current + int((total - current) * rng.random()))
            done.reverse()
        else:
            current = max(1, int(total * rng.uniform(0.15, 1.0)))
            done = []
            for _ in range(count):
                done.append(current)
                current = int(current * rng.uniform(0.2, 1.0))
        finished = status in ("closed", "partially_closed", "sacramented")

        # A simple appointment (MATA250) moves stock without operations: SD3 only.
        if rng.random() < 0.15:
            produced = float(done[-1])
            parts = self.split(int(produced), rng.randint(1, 3))
            dates = self.dates(window, len(parts))
            for part, offset in zip(parts, dates, strict=True):
                self.ident += 1
                self.production_move(branch, key, product, float(part), offset, f"{self.ident:06d}")
            if trap == "reversed_idle" or rng.random() < 0.1:
                self.ident += 1
                offset = self.reversal_day(window, idle_days, trap)
                self.production_move(
                    branch,
                    key,
                    product,
                    float(max(1, total // 10)),
                    offset,
                    f"{self.ident:06d}",
                    reversed_=True,
                )
            return produced, 0.0

        plan = []
        for position, amount in enumerate(done):
            if amount > 0:
                for part in self.split(amount, rng.randint(1, 3)):
                    plan.append((position, part))
        dates = self.dates(window, len(plan))
        produced = scrapped = 0.0
        first = True
        for number, ((position, part), offset) in enumerate(zip(plan, dates, strict=True)):
            op = operations[position]
            last_of_op = number + 1 == len(plan) or plan[number + 1][0] != position
            op_done = done[position] >= total or (finished and position == count - 1)
            scrap = float(rng.randint(1, max(1, part // 25))) if rng.random() < 0.25 else 0.0
            ident = self.appointment(
                branch, key, product, op, offset, float(part), scrap,
                "T" if last_of_op and op_done else "P",
            )  # fmt: skip
            if position == count - 1:
                # Only the last operation moves goods into stock (C2_QUJE, SD3 'PR0').
                produced += part
                scrapped += scrap
                self.production_move(branch, key, product, float(part), offset, ident)
            if first:
                first = False
                for material, per in self.plant.first_materials.get((branch, product.index), []):
                    self.requisition(branch, key, self.plant.products[material], per * part, offset)
        if rng.random() < 0.1:
            op = rng.choice(operations)
            reason, text = rng.choice(ORDER_STOP_REASONS)
            offset = rng.randint(*window)
            start = rng.randrange(6 * 60, 18 * 60, 5)
            length = rng.randrange(30, 180, 5)
            self.ident += 1
            row = self.sh6_row(
                branch,
                key,
                product,
                op,
                offset,
                start,
                start + length,
                0.0,
                0.0,
                "P",
                "I",
                reason,
                text,
            )
            self.sh6.append((row, False))
        if trap == "reversed_idle" or rng.random() < 0.12:
            offset = self.reversal_day(window, idle_days, trap)
            self.reversed_appointment(branch, key, product, operations[-1], offset, quantity)
        return produced, scrapped

    def reversal_day(self, window: tuple[int, int], idle_days: float, trap: str | None) -> int:
        if trap == "reversed_idle":
            # Reversed recently: an idle check that forgets D_E_L_E_T_ or D3_ESTORNO
            # sees fresh activity and calls the order started.
            return -self.rng.randint(0, max(0, int(idle_days) - 1))
        return self.rng.randint(*window)

    def split(self, amount: int, parts: int) -> list[int]:
        parts = max(1, min(parts, amount))
        cuts = sorted(self.rng.sample(range(1, amount), parts - 1)) if parts > 1 else []
        edges = [0, *cuts, amount]
        return [edges[i + 1] - edges[i] for i in range(parts)]

    def dates(self, window: tuple[int, int], count: int) -> list[int]:
        start, last = window
        offsets = sorted(self.rng.randint(start, last) for _ in range(count))
        if offsets:
            offsets[-1] = last  # the latest activity is exactly the window's end
        return offsets

    def appointment(
        self,
        branch: int,
        key: str,
        product: Product,
        op: Operation,
        offset: int,
        good: float,
        scrap: float,
        part_total: str,
        deleted: bool = False,
    ) -> str:
        rng = self.rng
        hours = op.tempad * good / (op.lotepad or 1.0)
        start = rng.randrange(6 * 60, 16 * 60, 5)
        length = max(10, min(int(hours * 60), 23 * 60 + 55 - start))
        note = rng.choice(APPOINTMENT_NOTES) if rng.random() < 0.05 else ""
        self.ident += 1
        row = self.sh6_row(
            branch,
            key,
            product,
            op,
            offset,
            start,
            start + length,
            good,
            scrap,
            part_total,
            "P",
            "",
            note,
        )
        self.sh6.append((row, deleted))
        return row[-1]  # type: ignore[return-value]

    def sh6_row(
        self,
        branch: int,
        key: str,
        product: Product,
        op: Operation,
        offset: int,
        start: int,
        end: int,
        good: float,
        scrap: float,
        part_total: str,
        kind: str,
        reason: str,
        note: str,
    ) -> tuple[object, ...]:
        rng = self.rng
        machine = self.plant.machines[op.machine]
        tool = f"FER{rng.randint(1, 60):03d}" if machine[0][:5] in ("PRENS", "INJET") else ""
        lot = f"{self.day(offset)[2:]}{rng.randint(1, 99):02d}" if rng.random() < 0.2 else ""
        date_text = self.day(offset)
        return (
            BRANCHES[branch], key, product.code, op.operac, machine[0], tool, date_text,
            hhmm(start), date_text, hhmm(end), round((end - start) / 60, 2), good, scrap,
            part_total, kind, reason, date_text, product.locpad, lot,
            f"{rng.randint(1, 180):06d}", note, f"{self.ident:06d}",
        )  # fmt: skip

    def reversed_appointment(
        self, branch: int, key: str, product: Product, op: Operation, offset: int, quantity: float
    ) -> None:
        # Reversing an appointment in Protheus deletes the SH6 row and marks its SD3
        # production move D3_ESTORNO = 'S'; neither counts as progress or activity.
        amount = float(max(1, int(quantity) // 10))
        ident = self.appointment(branch, key, product, op, offset, amount, 0.0, "P", deleted=True)
        self.production_move(branch, key, product, amount, offset, ident, reversed_=True)

    def production_move(
        self,
        branch: int,
        key: str,
        product: Product,
        amount: float,
        offset: int,
        ident: str,
        *,
        reversed_: bool = False,
    ) -> None:
        self.numseq += 1
        self.document += 1
        row = (
            BRANCHES[branch], "010", product.code, product.um, amount, "PR0", key,
            product.locpad, f"{self.document:09d}", self.day(offset), "S" if reversed_ else "",
            f"{self.numseq:06d}", ident,
        )  # fmt: skip
        self.sd3.append((row, False))

    def requisition(
        self, branch: int, key: str, material: Product, amount: float, offset: int
    ) -> None:
        self.numseq += 1
        row = (
            BRANCHES[branch], "999", material.code, material.um, round(amount, 4), "RE1", key,
            material.locpad, f"{self.document:09d}", self.day(offset), "",
            f"{self.numseq:06d}", "",
        )  # fmt: skip
        self.sd3.append((row, False))

    def internal_moves(self) -> None:
        """Moves with no order (transfers, adjustments): D3_OP blank."""
        plant, rng = self.plant, self.rng
        for _ in range(max(5, len(self.sd3) // 10)):
            material = plant.products[rng.choice(plant.materials)]
            self.numseq += 1
            self.document += 1
            out = rng.random() < 0.5
            row = (
                BRANCHES[0 if rng.random() < 0.8 else 1], "501" if out else "001", material.code,
                material.um, float(rng.randint(1, 500)), "RE0" if out else "DE0", "",
                material.locpad, f"{self.document:09d}", self.day(-rng.randint(0, 364)), "",
                f"{self.numseq:06d}", "",
            )  # fmt: skip
            self.sd3.append((row, False))

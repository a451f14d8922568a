"""Deterministic generation of a demo plant's Protheus rows: pure, no I/O, no wall clock."""

from __future__ import annotations

import random
from array import array
from bisect import bisect_right
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from itertools import accumulate

from protheus_demo.model import (
    BRANCHES,
    SHARED_FILIAL,
    Operation,
    Product,
    numbered,
    with_control,
)
from protheus_demo.orders import OrderBook
from protheus_demo.schema import ALIASES, SHARED_ALIASES, TABLE_TITLES, TABLES
from protheus_demo.vocabulary import (
    CITIES,
    COMPANY_SUFFIXES,
    COMPANY_WORDS,
    FAMILIES,
    FAMILY_BY_KEY,
    LABOUR_TITLES,
    MACHINE_KINDS,
    NAME_WORDS,
    SUPPLIER_WORDS,
    SURNAMES,
    Family,
)
from shared.protheus.naming import table_name

# Protheus's conventional "valid forever" end date of a BOM line.
OPEN_END = "20491231"
# Rows a recursive explosion of one product may return, per branch (each path counted).
BOM_SIZE_CAP = 3000
# The same bound for an explosion that forgets the branch filter and walks both branches.
UNION_SIZE_CAP = 4 * BOM_SIZE_CAP
MAX_DEPTH = 8

# Fixed codes, whatever the seed and scale, so tests and benchmarks can name them.
WIDELY_USED_COMPONENT = "10309901"  # raw material under hundreds of parents (default scale)
ABBREVIATED_PRODUCT = "10009901"  # description "TERM. BANDEIRA ..." (punctuation)
SHARED_SUBASSEMBLY = "20009901"  # intermediate under hundreds of parents (default scale)
DEEP_PRODUCTS: tuple[str, ...] = ("30009901", "30109902", "30209903")  # 8 levels below
DEEP_CHAIN_SIZE = MAX_DEPTH - 1
# Each tuple is a cycle in branch 01: every product is a component of the previous one
# and the first is a component of the last (A -> B -> A, P -> Q -> R -> P).
CYCLE_PRODUCTS: tuple[tuple[str, ...], ...] = (
    ("30009911", "20509911"),
    ("20509921", "20509922", "20509923"),
)
COMMON_SEARCH_TERM = "TERMINAL"
# Words of the rare solenoid family: each matches well under 0.5% of products.
SELECTIVE_SEARCH_TERMS: tuple[str, ...] = ("SOLENOIDE", "PRESSOSTATO")


@dataclass(frozen=True)
class Scale:
    """How much of everything a demo database holds."""

    name: str
    products: int
    machines_per_kind: int
    customers: int
    suppliers: int
    inbound_documents: int
    outbound_documents: int
    max_items: int
    orders: int
    widely_used: int
    shared_used: int
    max_materials: int


SCALES: dict[str, Scale] = {
    "tiny": Scale("tiny", 300, 2, 30, 24, 100, 100, 6, 70, 25, 15, 8),
    "default": Scale("default", 5_000, 3, 400, 250, 2_500, 3_000, 10, 800, 300, 200, 8),
    # Sized for the benchmarks' floors (>= 200,000 products, >= 1,000,000 BOM lines,
    # >= 2,000,000 invoice items) with a margin whatever the seed.
    "large": Scale("large", 205_000, 4, 6_000, 4_000, 190_000, 170_000, 12, 20_000, 800, 600, 9),
}

# BOM line kinds: what makes a line live or a trap for a filter someone forgot.
NORMAL, EXPIRED, NOT_YET, OLD_REVISION, NEXT_REVISION, DELETED = range(6)
TRT_CODES = ("", "001", "002")
INVALID_LOSSES = (150.0, -5.0, 100.0)

PI_HEIGHTS = ((1, 2, 3, 4, 5, 6, 7), (35, 25, 15, 10, 7, 5, 3))
PA_HEIGHTS = ((1, 2, 3, 4, 5, 6, 7, 8), (15, 25, 25, 15, 8, 6, 4, 2))
OPERATION_TITLES: dict[str, str] = {kind[0]: kind[2] for kind in MACHINE_KINDS}


class _Popularity:
    """Picks items with Zipf-like weights: a few are used everywhere, most rarely, as in real BOMs."""

    def __init__(self, items: list[int], rng: random.Random, exponent: float = 0.85) -> None:
        self.items = list(items)
        rng.shuffle(self.items)
        self.cumulative = list(
            accumulate(1.0 / (rank + 1) ** exponent for rank in range(len(items)))
        )
        self.total = self.cumulative[-1] if self.cumulative else 0.0

    def pick(self, rng: random.Random) -> int | None:
        if not self.items:
            return None
        position = bisect_right(self.cumulative, rng.random() * self.total)
        return self.items[min(position, len(self.items) - 1)]


def _sample(rng: random.Random, population: list[int], fraction: float, minimum: int) -> set[int]:
    count = min(len(population), max(minimum, round(len(population) * fraction)))
    return set(rng.sample(population, count))


# H1_MAOOBRA, the crew a resource needs: benches and packaging lines are manned by several
# people, machines by one (fixed per kind, no random draw: the other tables do not move).
CREWS: dict[str, float] = {"MONT": 2.0, "EMBAL": 3.0}


def crew_of(code: str) -> float:
    """H1_MAOOBRA of a demo machine code (kind prefix + unit number)."""
    return CREWS.get(code.rstrip("0123456789"), 1.0)


def _cnpj(root: int, branch: int) -> str:
    digits = [int(ch) for ch in f"{root:08d}{branch:04d}"]
    for weights in ((5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2), (6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2)):
        rest = sum(d * w for d, w in zip(digits, weights, strict=False)) % 11
        digits.append(0 if rest < 2 else 11 - rest)
    return "".join(str(d) for d in digits)


class DemoPlant:
    """The generated plant: master data built up front, table rows streamed on demand.

    `tables()` yields (alias, rows) in load order; consume each iterable before asking
    for the next (SF1's totals and SF2's come from the items generated just before them).
    """

    def __init__(self, *, seed: int, scale: str, today: date) -> None:
        if scale not in SCALES:
            raise ValueError(f"unknown scale {scale!r}; expected one of {', '.join(SCALES)}")
        self.seed = seed
        self.scale = SCALES[scale]
        self.today = today
        self._days: dict[int, str] = {}
        self._make_machines()
        self._make_products()
        self._make_partners()
        self._assign_branches()
        self._make_routings()
        self._make_bom()
        self._inbound_headers: list[tuple[tuple[object, ...], bool]] | None = None
        self._outbound_headers: list[tuple[tuple[object, ...], bool]] | None = None
        self._orders: tuple[list, list, list] | None = None

    # -- helpers -----------------------------------------------------------------

    def rng(self, name: str) -> random.Random:
        # One independent stream per table (string seeds hash with SHA-512, stable
        # across processes), so adding rows to one table never shifts another.
        return random.Random(f"{self.seed}/{name}")

    def day(self, offset: int) -> str:
        text = self._days.get(offset)
        if text is None:
            text = (self.today + timedelta(days=offset)).strftime("%Y%m%d")
            self._days[offset] = text
        return text

    # -- master data -------------------------------------------------------------

    def _make_machines(self) -> None:
        rng = self.rng("SH1")
        self.machines: list[tuple[str, str, str, str]] = []
        self.machines_by_kind: dict[str, list[int]] = {}
        self.machine_kind: list[str] = []
        for number, (prefix, title, _operation, centre) in enumerate(MACHINE_KINDS, start=1):
            cost_centre = f"1101{number:02d}"
            for unit in range(1, self.scale.machines_per_kind + 1):
                if prefix in ("PRENS", "INJET"):
                    title_unit = f"{title} {rng.choice((40, 60, 80, 150, 250))}T {unit}"
                else:
                    title_unit = f"{title} {unit}"
                self.machines_by_kind.setdefault(prefix, []).append(len(self.machines))
                self.machines.append((f"{prefix}{unit}", title_unit, centre, cost_centre))
                self.machine_kind.append(prefix)

    def _make_products(self) -> None:
        rng = self.rng("SB1")
        total_weight = sum(family.weight for family in FAMILIES)
        self.products: list[Product] = []
        self.deleted_products: list[Product] = []
        self.by_family: dict[str, list[int]] = {}
        self.index_of: dict[str, int] = {}

        def add(product: Product, family: Family | None) -> Product:
            product.family = family
            self.products.append(product)
            self.index_of[product.code] = product.index
            if family is not None:
                self.by_family.setdefault(family.key, []).append(product.index)
            return product

        for family in FAMILIES:
            count = max(2, round(self.scale.products * family.weight / total_weight))
            group, sequence = family.group, rng.randint(1, 40)
            # ~1% extra codes exist only as deleted rows (products removed from the catalog).
            deleted = max(1, count // 100)
            for number in range(count + deleted):
                code = f"{group:04d}{sequence:04d}"
                sequence += rng.choice((1, 1, 1, 2, 3))
                if sequence > 9899:  # 9900-9999 hold the fixed-code products
                    group, sequence = group + 1, 1
                product = Product(
                    len(self.products), code, family.describe(rng), family.tipo, family.um
                )
                if number >= count:
                    product.index = -1
                    self._fill_product(rng, product)
                    self.deleted_products.append(product)
                    continue
                self._fill_product(rng, add(product, family))

        specials = (
            (WIDELY_USED_COMPONENT, "CABO FLEXIVEL 2,5MM2 PRETO 750V", "CF"),
            # Typed with punctuation: a search for "TERM BANDEIRA" must still find it.
            (ABBREVIATED_PRODUCT, "TERM. BANDEIRA 6,30X0,80MM2 ESTANHADO", "TB"),
            (SHARED_SUBASSEMBLY, "CHICOTE ELETRICO ALIMENTACAO PADRAO CE-9901", "CE"),
            (DEEP_PRODUCTS[0], "CHICOTE ELETRICO PAINEL PRINCIPAL CP-9901", "PC"),
            (DEEP_PRODUCTS[1], "PAINEL ELÉTRICO COMANDO GERAL PE-9902", "PE"),
            (DEEP_PRODUCTS[2], "MÓDULO DE CONTROLE MESTRE MC-9903", "MC"),
            (CYCLE_PRODUCTS[0][0], "CHICOTE ELETRICO PAINEL CP-9911", "PC"),
            (CYCLE_PRODUCTS[0][1], "SUBCONJUNTO CHICOTE SC-9911", "SC"),
            (CYCLE_PRODUCTS[1][0], "SUBCONJUNTO MODULAR SC-9921", "SC"),
            (CYCLE_PRODUCTS[1][1], "SUBCONJUNTO FIXACAO SC-9922", "SC"),
            (CYCLE_PRODUCTS[1][2], "SUBCONJUNTO TAMPA SC-9923", "SC"),
        )
        for code, desc, key in specials:
            family = FAMILY_BY_KEY[key]
            product = add(Product(len(self.products), code, desc, family.tipo, family.um), family)
            self._fill_product(rng, product)
            product.blocked = "2"

        self.labour: dict[str, int] = {}
        for prefix, _title, _operation, _centre in MACHINE_KINDS:
            cost_centre = next(m[3] for m in self.machines if m[0].startswith(prefix))
            product = add(
                Product(len(self.products), f"MOD{cost_centre}", LABOUR_TITLES[prefix], "MO", "HR"),
                None,
            )
            product.custd = round(rng.uniform(35.0, 90.0), 2)
            self.labour[prefix] = product.index

        self.materials = [p.index for p in self.products if p.tipo == "MP"]
        self.intermediates = [p.index for p in self.products if p.tipo == "PI"]
        self.finished = [p.index for p in self.products if p.tipo == "PA"]
        self.mp_pickers = {
            key: _Popularity(
                [i for i in items if self.products[i].code != WIDELY_USED_COMPONENT], rng
            )
            for key, items in self.by_family.items()
            if FAMILY_BY_KEY[key].tipo == "MP"
        }

    @staticmethod
    def _fill_product(rng: random.Random, product: Product) -> None:
        tipo = product.tipo
        roll = rng.random()
        product.blocked = "1" if roll < 0.03 else ("2" if roll < 0.75 else " ")
        if tipo == "MP":
            product.custd = round(rng.uniform(0.02, 60.0), 4)
            product.peso = round(rng.uniform(0.001, 2.0), 4)
            if rng.random() < 0.15:
                product.segum = rng.choice(("CX", "KG", "RL", "PC"))
            return
        product.custd = round(rng.uniform(5.0, 300.0) * (8 if tipo == "PA" else 1), 2)
        product.peso = round(rng.uniform(0.05, 5.0) * (6 if tipo == "PA" else 1), 3)
        product.revatu = rng.choices(("001", "002", "003"), (50, 30, 20))[0]
        roll = rng.random()
        # B1_QB is the BOM's base quantity; 0 must be read as 1 by whoever explodes it.
        product.qb = 100.0 if roll < 0.05 else (0.0 if roll < 0.08 else 1.0)

    def _make_partners(self) -> None:
        rng = self.rng("SA1")
        self.customer_rows, self.customers = self._partners(
            rng, self.scale.customers, COMPANY_WORDS, with_city=True
        )
        rng = self.rng("SA2")
        self.supplier_rows, self.suppliers = self._partners(
            rng, self.scale.suppliers, SUPPLIER_WORDS, with_city=False
        )
        # SA5: who supplies each raw material, with the supplier's own part number.
        rng = self.rng("SA5")
        self.sa5_rows: list[tuple[tuple[object, ...], bool]] = []
        self.supplied: dict[tuple[str, str], list[int]] = {}
        lojas_of: dict[str, list[str]] = {}
        for code, loja in self.suppliers:
            lojas_of.setdefault(code, []).append(loja)
        for index in self.materials:
            if rng.random() > 0.85:
                continue
            product = self.products[index]
            links = {rng.choice(self.suppliers) for _ in range(rng.randint(1, 3))}
            for code, loja in sorted(links):
                partner_lojas = [(code, other) for other in lojas_of[code]]
                # The same part bought from two stores of one supplier: joins must use the loja.
                targets = (
                    partner_lojas
                    if len(partner_lojas) > 1 and rng.random() < 0.3
                    else [(code, loja)]
                )
                for key in targets:
                    part = f"{rng.choice(('TB', 'CF', 'X', 'PN', 'REF', 'AM'))}-{rng.randint(100, 99999)}"
                    row = (SHARED_FILIAL, key[0], key[1], product.code, part, product.desc[:30])
                    self.sa5_rows.append((row, False))
                    self.supplied.setdefault(key, []).append(index)
                    if rng.random() < 0.02:
                        old = (
                            SHARED_FILIAL,
                            key[0],
                            key[1],
                            product.code,
                            f"OLD-{rng.randint(1, 9999)}",
                            row[5],
                        )
                        self.sa5_rows.append((old, True))

    def _partners(
        self, rng: random.Random, count: int, words: tuple[str, ...], *, with_city: bool
    ) -> tuple[list[tuple[tuple[object, ...], bool]], list[tuple[str, str]]]:
        rows: list[tuple[tuple[object, ...], bool]] = []
        live: list[tuple[str, str]] = []
        # At least one partner removed entirely and one re-registered, at every scale.
        gone_codes = _sample(rng, list(range(2, count + 1)), 0.015, 1)
        stale_codes = _sample(rng, list(range(1, count + 1)), 0.02, 2)
        for number in range(1, count + 1):
            code = f"{number:06d}"
            root = rng.randint(10_000_000, 99_999_999)
            lojas = rng.choices((1, 2, 3), (75, 20, 5))[0]
            gone = number in gone_codes  # a partner removed entirely: only deleted rows
            base_name = (
                f"{rng.choice(words)} {rng.choice(NAME_WORDS)} {rng.choice(COMPANY_SUFFIXES)}"
            )
            for store in range(1, lojas + 1):
                uf, city = rng.choice(CITIES)
                if store == 1:
                    name = base_name
                elif rng.random() < 0.5:
                    name = f"{base_name} FILIAL {city}"
                else:
                    # Another store under the same code but a different trade name: a join
                    # on the code alone answers two names for one document.
                    name = (
                        f"{rng.choice(words)} {rng.choice(SURNAMES)} {rng.choice(COMPANY_SUFFIXES)}"
                    )
                short = name.split(" FILIAL ")[0][:20].strip()
                roll = rng.random()
                blocked = "1" if roll < 0.03 else ("2" if roll < 0.8 else " ")
                loja = f"{store:02d}"
                fields: tuple[object, ...] = (
                    SHARED_FILIAL,
                    code,
                    loja,
                    name[:60],
                    short,
                    _cnpj(root, store),
                    blocked,
                    uf,
                )
                if with_city:
                    fields = (*fields, city)
                rows.append((fields, gone))
                if gone:
                    continue
                live.append((code, loja))
                if store == 1 and number in stale_codes:
                    old = (*fields[:3], f"{name[:50]} ANTIGO", *fields[4:])
                    rows.append((old, True))
        return rows, live

    def _assign_branches(self) -> None:
        """Decide which branch(es) make each intermediate/finished product."""
        rng = self.rng("branches")
        special = {self.index_of[c] for c in (SHARED_SUBASSEMBLY, *DEEP_PRODUCTS)}
        special |= {self.index_of[c] for cycle in CYCLE_PRODUCTS for c in cycle}
        self.cycle_members = {self.index_of[c] for cycle in CYCLE_PRODUCTS for c in cycle}
        self.parents = [p.index for p in self.products if p.tipo in ("PI", "PA")]
        self.makes: dict[int, tuple[bool, bool]] = {}
        for index in self.parents:
            roll = rng.random()
            if index in special or roll < 0.70:
                self.makes[index] = (True, False)
            elif roll < 0.94:
                self.makes[index] = (True, True)
            else:
                self.makes[index] = (False, True)

    def _make_routings(self) -> None:
        rng = self.rng("SG2")
        self.routings: dict[tuple[int, int], dict[str, list[Operation]]] = {}
        self.deleted_operations: list[tuple[int, int, str, Operation]] = []
        two_routings = _sample(rng, self.parents, 0.04, 3)
        explicit_default = _sample(rng, self.parents, 0.03, 2)
        with_deleted = _sample(rng, self.parents, 0.03, 3)
        for index in self.parents:
            product = self.products[index]
            first = self._routing(rng, product)
            routes = {"01": first}
            if index in two_routings:
                routes["02"] = self._routing(rng, product)
                product.operpad = rng.choice(("01", "02"))
            elif index in explicit_default:
                product.operpad = "01"
            in01, in02 = self.makes[index]
            if in01:
                self.routings[(0, index)] = routes
            if in02:
                self.routings[(1, index)] = {
                    code: [self._relocated(rng, op) for op in ops] for code, ops in routes.items()
                }
            if index in with_deleted and in01:
                # An operation removed from the routing (or replaced on another machine).
                victim = rng.choice(first)
                machine = rng.choice(self.machines_by_kind[self.machine_kind[victim.machine]])
                operac = victim.operac if rng.random() < 0.5 else f"{int(victim.operac) + 5:02d}"
                gone = Operation(
                    operac, machine, victim.setup, victim.tempad, victim.lotepad, 1.0, "1"
                )
                self.deleted_operations.append((0, index, "01", gone))

    def _routing(self, rng: random.Random, product: Product) -> list[Operation]:
        assert product.family is not None
        process = product.family.process
        count = rng.randint(1, min(5, len(process)))
        kinds = [process[i] for i in sorted(rng.sample(range(len(process)), count))]
        operations = []
        for number, kind in enumerate(kinds, start=1):
            lot = rng.choice((1.0, 1.0, 10.0, 100.0, 0.0))
            per_unit = rng.uniform(0.004, 0.08)
            operations.append(
                Operation(
                    operac=f"{number * 10:02d}",
                    machine=rng.choice(self.machines_by_kind[kind]),
                    setup=rng.choice((0.0, 0.0, 0.25, 0.5, 1.0, 1.5)),
                    tempad=round(per_unit * (lot or 1.0), 4),
                    lotepad=lot,
                    maoobra=float(rng.choice((1, 1, 1, 2, 3))),
                    tpoper="1" if rng.random() < 0.85 else "2",
                )
            )
        return operations

    def _relocated(self, rng: random.Random, op: Operation) -> Operation:
        if rng.random() >= 0.4:
            return op
        machine = rng.choice(self.machines_by_kind[self.machine_kind[op.machine]])
        return Operation(op.operac, machine, op.setup, op.tempad, op.lotepad, op.maoobra, op.tpoper)

    # -- bill of materials -------------------------------------------------------

    def _make_bom(self) -> None:
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
        self._wide_parents = _sample(rng, candidates, 0.0, self.scale.widely_used)
        tall = [i for i in candidates if self.products[i].height >= 2]
        self._shared_parents = _sample(rng, tall, 0.0, self.scale.shared_used)
        in01 = [i for i in candidates if self.makes[i][0]]
        self._expired = _sample(rng, in01, 0.04, 3)
        self._not_yet = _sample(rng, in01, 0.03, 3)
        revised = [i for i in in01 if self.products[i].revatu != "001"]
        self._old_revision = _sample(rng, revised, 0.04, 3)
        self._next_revision = _sample(rng, in01, 0.02, 2)
        self._two_trt = _sample(rng, in01, 0.05, 3)
        self._deleted_lines = _sample(rng, in01, 0.03, 3)
        bad = sorted(_sample(rng, in01, 0.002, len(INVALID_LOSSES)))
        self._bad_loss = {
            index: INVALID_LOSSES[n % len(INVALID_LOSSES)] for n, index in enumerate(bad)
        }

        self.buckets: dict[int, list[int]] = {}
        for index in parents:
            if self.products[index].tipo == "PI":
                self.buckets.setdefault(self.products[index].height, []).append(index)
        self._pickers: dict[int, _Popularity] = {}

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

    def _picker(self, height: int) -> _Popularity:
        picker = self._pickers.get(height)
        if picker is None:
            # Built on first use: parents are processed by height, so every intermediate
            # of a lower height already has its final size when a picker needs it.
            picker = _Popularity(self.buckets.get(height, []), self.rng(f"SG1/pick/{height}"))
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

    # -- rendering ---------------------------------------------------------------

    def tables(self, company: str = "01") -> Iterator[tuple[str, Iterable[tuple[object, ...]]]]:
        """(alias, rows) in load order; rows are full tuples in `TABLES[alias]` order."""
        yield "SX2", self.sx2_rows(company)
        yield "SH1", self._sh1_rows()
        yield "SB1", self._sb1_rows()
        yield "SA1", numbered(self.customer_rows)
        yield "SA2", numbered(self.supplier_rows)
        yield "SA5", numbered(self.sa5_rows)
        yield "SG1", self._sg1_rows()
        yield "SG2", self._sg2_rows()
        yield "SB2", self._sb2_rows()
        yield "SD1", self._inbound_items()
        yield "SF1", self._headers("SF1")
        yield "SD2", self._outbound_items()
        yield "SF2", self._headers("SF2")
        yield "SC2", self._order_rows(0)
        yield "SH6", self._order_rows(1)
        yield "SD3", self._order_rows(2)
        yield "SH3", self._sh3_rows()

    def sx2_rows(self, company: str) -> Iterator[tuple[object, ...]]:
        """SX2 of a company: X2_ARQUIVO carries the physical name (alias + company + '0')."""
        rows = []
        for alias in ALIASES:
            if alias == "SX2":
                continue
            mode = "C" if alias in SHARED_ALIASES else "E"
            physical = table_name(alias, company).upper()
            rows.append(((alias, physical, TABLE_TITLES[alias], mode, mode, mode), False))
        return numbered(rows)

    def _sh1_rows(self) -> Iterator[tuple[object, ...]]:
        rows = [
            ((SHARED_FILIAL, code, title, centre, cost, "001", crew_of(code)), False)
            for code, title, centre, cost in self.machines
        ]
        # A decommissioned machine, and a machine whose first record was deleted and
        # re-entered: both only as deleted rows beside the live ones.
        code, title, centre, cost = self.machines[0]
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
        rows.append(
            ((SHARED_FILIAL, code, f"{title[:33]} ANTIGA", centre, cost, "001", crew), True)
        )
        return numbered(rows)

    def _sb1_rows(self) -> Iterator[tuple[object, ...]]:
        rng = self.rng("SB1/render")
        rows: list[tuple[tuple[object, ...], bool]] = [(p.sb1(), False) for p in self.products]
        rows += [(p.sb1(), True) for p in self.deleted_products]
        for product in rng.sample(self.products, max(2, len(self.products) // 100)):
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

    def _sg1_rows(self) -> Iterator[tuple[object, ...]]:
        rng = self.rng("SG1/render")
        products = self.products
        day = self.day
        for number in range(len(self.line_parent)):
            parent = products[self.line_parent[number]]
            kind = self.line_kind[number]
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
                BRANCHES[self.line_branch[number]],
                parent.code,
                products[self.line_comp[number]].code,
                TRT_CODES[self.line_trt[number]],
                self.line_qty[number],
                self.line_loss[number],
                start,
                end,
                "F" if self.line_fixed[number] else "V",
                revision_start,
                revision_end,
                f"{parent.height:02d}",
                f"{99 - parent.height:02d}",
            )
            yield with_control(business, kind == DELETED, number + 1)

    def _sg2_rows(self) -> Iterator[tuple[object, ...]]:
        def rows() -> Iterator[tuple[tuple[object, ...], bool]]:
            for (branch, index), routes in self.routings.items():
                code = self.products[index].code
                for routing, operations in routes.items():
                    for op in operations:
                        yield self._sg2(branch, code, routing, op), False
            for branch, index, routing, op in self.deleted_operations:
                yield self._sg2(branch, self.products[index].code, routing, op), True

        return numbered(rows())

    def _sg2(self, branch: int, code: str, routing: str, op: Operation) -> tuple[object, ...]:
        machine = self.machines[op.machine]
        return (
            BRANCHES[branch],
            code,
            routing,
            op.operac,
            machine[0],
            machine[2],
            OPERATION_TITLES[self.machine_kind[op.machine]],
            op.setup,
            op.tempad,
            op.lotepad,
            op.maoobra,
            op.tpoper,
        )

    def _sh3_rows(self) -> Iterator[tuple[object, ...]]:
        """Alternative (A) and secondary (S) resources of some operations: another machine of
        the same kind. Its own random stream, so no other table changes."""
        rng = self.rng("SH3")
        rows: list[tuple[tuple[object, ...], bool]] = []
        for (branch, index), routes in self.routings.items():
            code = self.products[index].code
            for routing, operations in routes.items():
                for op in operations:
                    draw = rng.random()
                    if draw >= 0.2:
                        continue
                    kind_of = self.machine_kind[op.machine]
                    others = [m for m in self.machines_by_kind[kind_of] if m != op.machine]
                    if not others:
                        continue
                    other = self.machines[rng.choice(others)][0]
                    kind = "A" if draw < 0.15 else "S"
                    # A few alternatives withdrawn: deleted rows a forgotten filter would use.
                    deleted = rng.random() < 0.1
                    rows.append(
                        ((BRANCHES[branch], code, routing, op.operac, other, kind), deleted)
                    )
        return numbered(rows)

    def _sb2_rows(self) -> Iterator[tuple[object, ...]]:
        rng = self.rng("SB2")

        def rows() -> Iterator[tuple[tuple[object, ...], bool]]:
            for product in self.products:
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
                        row = self._stock(rng, product, BRANCHES[branch], warehouse)
                        yield row, False
                        if rng.random() < 0.02:
                            # A stale balance row, deleted: summing without the filter doubles stock.
                            yield (*row[:3], row[3] * 2, *row[4:]), True

        return numbered(rows())

    @staticmethod
    def _stock(
        rng: random.Random, product: Product, branch: str, warehouse: str
    ) -> tuple[object, ...]:
        scale = {"M": 5000, "KG": 2000, "RL": 300}.get(
            product.um, 800 if product.tipo == "MP" else 300
        )
        on_hand = float(rng.randint(0, scale))

        def part(chance: float, fraction: float) -> float:
            return (
                float(int(on_hand * rng.uniform(0.05, fraction))) if rng.random() < chance else 0.0
            )

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

    # -- invoices ----------------------------------------------------------------

    def _pick_product(self, rng: random.Random, pool: list[int]) -> Product:
        return self.products[pool[int(rng.random() * len(pool))]]

    @staticmethod
    def _invoice_quantity(rng: random.Random, product: Product) -> float:
        if product.tipo != "MP":
            return float(rng.randint(1, 60))
        if product.um == "M":
            return float(rng.randint(10, 500) * 10)
        if product.um == "KG":
            return float(rng.randint(25, 2000))
        if product.um == "RL":
            return float(rng.randint(5, 200))
        return float(rng.randint(1, 200) * 50)

    def _inbound_items(self) -> Iterator[tuple[object, ...]]:
        rng = self.rng("SD1")
        headers: list[tuple[tuple[object, ...], bool]] = []
        self._inbound_headers = headers
        recno = 0
        numbers = [100_000, 20_000]
        # A few whole documents cancelled: header and items deleted together.
        cancelled = _sample(rng, list(range(self.scale.inbound_documents)), 0.005, 1)
        for document in range(self.scale.inbound_documents):
            branch = 0 if rng.random() < 0.8 else 1
            numbers[branch] += rng.randint(1, 3)
            roll = rng.random()
            if roll < 0.88:
                tipo, tes = "N", "101"
                partner = self.suppliers[int(rng.random() * len(self.suppliers))]
                pool = self.supplied.get(partner) if rng.random() < 0.75 else None
                pool = pool or self.materials
            else:
                # Returns ('D') and goods received for processing ('B') come from
                # customers: D1_FORNECE/D1_LOJA then name an SA1 row, not SA2.
                tipo, tes = ("D", "103") if roll < 0.94 else ("B", "104")
                partner = self.customers[int(rng.random() * len(self.customers))]
                pool = self.finished if tipo == "D" else self.materials
            cf = {"N": "1101", "D": "1201", "B": "1901"}[tipo]
            if rng.random() < 0.3:
                cf = "2" + cf[1:]  # interstate operation
            issued = -rng.randint(0, 364)
            entered = min(0, issued + rng.randint(0, 4))
            serie = "1" if rng.random() < 0.85 else "2"
            doc = f"{numbers[branch]:09d}"
            order = f"{rng.randint(1, 99999):06d}" if tipo == "N" and rng.random() < 0.8 else ""
            dropped = document in cancelled
            total = 0.0
            filial = BRANCHES[branch]
            issued_text, entered_text = self.day(issued), self.day(entered)
            for item in range(1, rng.randint(1, self.scale.max_items) + 1):
                product = self._pick_product(rng, pool)
                quantity = self._invoice_quantity(rng, product)
                unit = round(max(product.custd, 0.01) * rng.uniform(0.9, 1.25), 4)
                value = round(quantity * unit, 2)
                lot = f"{issued_text[2:]}{rng.randint(1, 99):02d}" if rng.random() < 0.3 else ""
                row = (
                    filial, doc, serie, partner[0], partner[1], f"{item:04d}", product.code,
                    product.um, quantity, unit, value, tes, cf, product.locpad, issued_text,
                    entered_text, tipo, order, lot,
                )  # fmt: skip
                recno += 1
                yield with_control(row, dropped, recno)
                total += value
                if not dropped and rng.random() < 0.012:
                    # The item as first typed, then deleted and re-entered.
                    recno += 1
                    yield with_control(
                        (*row[:8], quantity * 2, unit, round(value * 2, 2), *row[11:]), True, recno
                    )
            header = (filial, doc, serie, partner[0], partner[1], tipo, issued_text, entered_text)
            headers.append(((*header, round(total, 2)), dropped))
        # PROTHEUS.md section 4's trap: a customer's return (D) with the number, series and
        # partner code/store of a supplier's purchase (N); only F1_TIPO tells the headers apart.
        twin = self._twin_header(headers, self.customers)
        if twin is not None:
            filial, doc, serie, code, loja, _, issued_text, entered_text, _ = twin
            rng = self.rng("SD1/twin")
            product = self._pick_product(rng, self.finished)
            quantity = float(rng.randint(1, 20))
            unit = round(max(product.custd, 0.01), 4)
            value = round(quantity * unit, 2)
            row = (
                filial, doc, serie, code, loja, "0001", product.code, product.um, quantity,
                unit, value, "103", "1201", product.locpad, issued_text, entered_text, "D", "", "",
            )  # fmt: skip
            yield with_control(row, False, recno + 1)
            header = (filial, doc, serie, code, loja, "D", issued_text, entered_text, value)
            headers.append((header, False))

    def _outbound_items(self) -> Iterator[tuple[object, ...]]:
        rng = self.rng("SD2")
        headers: list[tuple[tuple[object, ...], bool]] = []
        self._outbound_headers = headers
        recno = 0
        numbers = [300_000, 40_000]
        saleable = self.finished + self.intermediates[: max(1, len(self.intermediates) // 5)]
        # A few whole documents cancelled: header and items deleted together.
        cancelled = _sample(rng, list(range(self.scale.outbound_documents)), 0.005, 1)
        for document in range(self.scale.outbound_documents):
            branch = 0 if rng.random() < 0.8 else 1
            numbers[branch] += 1
            roll = rng.random()
            if roll < 0.9:
                tipo, tes, cf = "N", "501", "5101"
                partner = self.customers[int(rng.random() * len(self.customers))]
                pool = saleable
            else:
                # Returns to a supplier ('D') and goods sent out for processing ('B'):
                # D2_CLIENTE/D2_LOJA then name an SA2 supplier.
                tipo, tes, cf = ("D", "503", "5201") if roll < 0.95 else ("B", "504", "5901")
                partner = self.suppliers[int(rng.random() * len(self.suppliers))]
                pool = self.materials
            if rng.random() < 0.3:
                cf = "6" + cf[1:]
            issued = -rng.randint(0, 364)
            serie = "1"
            doc = f"{numbers[branch]:09d}"
            order = f"{rng.randint(1, 99999):06d}" if tipo == "N" else ""
            dropped = document in cancelled
            total = 0.0
            filial = BRANCHES[branch]
            issued_text = self.day(issued)
            for item in range(1, rng.randint(1, self.scale.max_items) + 1):
                product = self._pick_product(rng, pool)
                quantity = self._invoice_quantity(rng, product)
                price = round(max(product.custd, 0.01) * rng.uniform(1.2, 1.8), 4)
                value = round(quantity * price, 2)
                lot = f"{issued_text[2:]}{rng.randint(1, 99):02d}" if rng.random() < 0.2 else ""
                row = (
                    filial, doc, serie, partner[0], partner[1], f"{item:02d}", product.code,
                    product.um, quantity, price, value, tes, cf, product.locpad, issued_text,
                    tipo, order, lot,
                )  # fmt: skip
                recno += 1
                yield with_control(row, dropped, recno)
                total += value
                if not dropped and rng.random() < 0.012:
                    recno += 1
                    yield with_control(
                        (*row[:8], quantity * 2, price, round(value * 2, 2), *row[11:]), True, recno
                    )
            header = (filial, doc, serie, partner[0], partner[1], tipo, issued_text)
            headers.append(((*header, round(total, 2)), dropped))
        # The same trap outbound: a return to a supplier (D) numbered like a sale (N) to the
        # customer with the same code and store.
        twin = self._twin_header(headers, self.suppliers)
        if twin is not None:
            filial, doc, serie, code, loja, _, issued_text, _ = twin
            rng = self.rng("SD2/twin")
            product = self._pick_product(rng, self.materials)
            quantity = float(rng.randint(1, 20))
            price = round(max(product.custd, 0.01), 4)
            value = round(quantity * price, 2)
            row = (
                filial, doc, serie, code, loja, "01", product.code, product.um, quantity, price,
                value, "503", "5201", product.locpad, issued_text, "D", "", "",
            )  # fmt: skip
            yield with_control(row, False, recno + 1)
            headers.append(((filial, doc, serie, code, loja, "D", issued_text, value), False))

    @staticmethod
    def _twin_header(
        headers: list[tuple[tuple[object, ...], bool]], others: list[tuple[str, str]]
    ) -> tuple[object, ...] | None:
        """The first live normal (N) header whose partner code and store also name a partner
        of the other kind: the document a D twin is given."""
        other = set(others)
        for header, dropped in headers:
            if not dropped and header[5] == "N" and (header[3], header[4]) in other:
                return header
        return None

    def _headers(self, alias: str) -> Iterator[tuple[object, ...]]:
        headers = self._inbound_headers if alias == "SF1" else self._outbound_headers
        if headers is None:
            raise RuntimeError(f"{alias} rows come from its items: consume them first")
        return numbered(headers)

    # -- production orders -------------------------------------------------------

    def _order_rows(self, part: int) -> Iterator[tuple[object, ...]]:
        if self._orders is None:
            self._orders = OrderBook(self).build()
        return numbered(self._orders[part])


def build_plant(*, seed: int = 20240101, scale: str = "default", today: date) -> DemoPlant:
    """The generated plant for (seed, scale, today); generation is fully deterministic."""
    return DemoPlant(seed=seed, scale=scale, today=today)


def column_names(alias: str) -> list[str]:
    """Physical (lower-case) column names of a table, in row-tuple order."""
    return [column.name.lower() for column in TABLES[alias]]

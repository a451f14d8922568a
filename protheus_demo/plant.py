"""The demo plant's model, built from (seed, scale, today): pure, no I/O, no wall clock."""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator
from datetime import date, timedelta

from protheus_demo.bom import BillOfMaterials
from protheus_demo.emit import plant_tables
from protheus_demo.model import SHARED_FILIAL, Operation, Product
from protheus_demo.shape import (
    ABBREVIATED_PRODUCT,
    CYCLE_PRODUCTS,
    DEEP_PRODUCTS,
    SCALES,
    SHARED_SUBASSEMBLY,
    WIDELY_USED_COMPONENT,
    Popularity,
    cnpj,
    sample,
)
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


class DemoPlant:
    """The generated plant's model: machines, products, partners, which branch makes what,
    routings and the bill of materials, all built up front; `tables()` streams its rows
    (protheus_demo/emit, one emitter per table).
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
        self.bom = BillOfMaterials(self)
        # What the orders need of the structure: per (branch, parent), its intermediates and
        # its first raw materials, with their quantities.
        self.pi_children = self.bom.pi_children
        self.first_materials = self.bom.first_materials

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
            key: Popularity(
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
        gone_codes = sample(rng, list(range(2, count + 1)), 0.015, 1)
        stale_codes = sample(rng, list(range(1, count + 1)), 0.02, 2)
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
                    cnpj(root, store),
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
        two_routings = sample(rng, self.parents, 0.04, 3)
        explicit_default = sample(rng, self.parents, 0.03, 2)
        with_deleted = sample(rng, self.parents, 0.03, 3)
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

    # -- rows ----------------------------------------------------------------------

    def tables(self, company: str = "01") -> Iterator[tuple[str, Iterable[tuple[object, ...]]]]:
        """(alias, rows) in load order; rows are full tuples in `TABLES[alias]` order.

        Consume each iterable before asking for the next (SF1's totals and SF2's come from
        the items generated just before them).
        """
        return plant_tables(self, company)

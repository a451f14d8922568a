"""Invoices: SD1 items with their SF1 headers (inbound), SD2 with SF2 (outbound); a header's
total comes from its items, so the headers are collected while the items are generated."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import TYPE_CHECKING

from protheus_demo.model import BRANCHES, Product, numbered, with_control
from protheus_demo.shape import sample

if TYPE_CHECKING:
    from protheus_demo.plant import DemoPlant


class Headers:
    """An invoice table's headers (SF1 or SF2), collected by its items' generator."""

    def __init__(self, alias: str) -> None:
        self.alias = alias
        self._collected: list[tuple[tuple[object, ...], bool]] | None = None

    def collect(self) -> list[tuple[tuple[object, ...], bool]]:
        self._collected = []
        return self._collected

    def rows(self) -> Iterator[tuple[object, ...]]:
        if self._collected is None:
            raise RuntimeError(f"{self.alias} rows come from its items: consume them first")
        return numbered(self._collected)


def _pick_product(plant: DemoPlant, rng: random.Random, pool: list[int]) -> Product:
    return plant.products[pool[int(rng.random() * len(pool))]]


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


def inbound_items(plant: DemoPlant, sf1: Headers) -> Iterator[tuple[object, ...]]:
    rng = plant.rng("SD1")
    headers = sf1.collect()
    recno = 0
    numbers = [100_000, 20_000]
    # A few whole documents cancelled: header and items deleted together.
    cancelled = sample(rng, list(range(plant.scale.inbound_documents)), 0.005, 1)
    for document in range(plant.scale.inbound_documents):
        branch = 0 if rng.random() < 0.8 else 1
        numbers[branch] += rng.randint(1, 3)
        roll = rng.random()
        if roll < 0.88:
            tipo, tes = "N", "101"
            partner = plant.suppliers[int(rng.random() * len(plant.suppliers))]
            pool = plant.supplied.get(partner) if rng.random() < 0.75 else None
            pool = pool or plant.materials
        else:
            # Returns ('D') and goods received for processing ('B') come from
            # customers: D1_FORNECE/D1_LOJA then name an SA1 row, not SA2.
            tipo, tes = ("D", "103") if roll < 0.94 else ("B", "104")
            partner = plant.customers[int(rng.random() * len(plant.customers))]
            pool = plant.finished if tipo == "D" else plant.materials
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
        issued_text, entered_text = plant.day(issued), plant.day(entered)
        for item in range(1, rng.randint(1, plant.scale.max_items) + 1):
            product = _pick_product(plant, rng, pool)
            quantity = _invoice_quantity(rng, product)
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
    twin = _twin_header(headers, plant.customers)
    if twin is not None:
        filial, doc, serie, code, loja, _, issued_text, entered_text, _ = twin
        rng = plant.rng("SD1/twin")
        product = _pick_product(plant, rng, plant.finished)
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


def outbound_items(plant: DemoPlant, sf2: Headers) -> Iterator[tuple[object, ...]]:
    rng = plant.rng("SD2")
    headers = sf2.collect()
    recno = 0
    numbers = [300_000, 40_000]
    saleable = plant.finished + plant.intermediates[: max(1, len(plant.intermediates) // 5)]
    # A few whole documents cancelled: header and items deleted together.
    cancelled = sample(rng, list(range(plant.scale.outbound_documents)), 0.005, 1)
    for document in range(plant.scale.outbound_documents):
        branch = 0 if rng.random() < 0.8 else 1
        numbers[branch] += 1
        roll = rng.random()
        if roll < 0.9:
            tipo, tes, cf = "N", "501", "5101"
            partner = plant.customers[int(rng.random() * len(plant.customers))]
            pool = saleable
        else:
            # Returns to a supplier ('D') and goods sent out for processing ('B'):
            # D2_CLIENTE/D2_LOJA then name an SA2 supplier.
            tipo, tes, cf = ("D", "503", "5201") if roll < 0.95 else ("B", "504", "5901")
            partner = plant.suppliers[int(rng.random() * len(plant.suppliers))]
            pool = plant.materials
        if rng.random() < 0.3:
            cf = "6" + cf[1:]
        issued = -rng.randint(0, 364)
        serie = "1"
        doc = f"{numbers[branch]:09d}"
        order = f"{rng.randint(1, 99999):06d}" if tipo == "N" else ""
        dropped = document in cancelled
        total = 0.0
        filial = BRANCHES[branch]
        issued_text = plant.day(issued)
        for item in range(1, rng.randint(1, plant.scale.max_items) + 1):
            product = _pick_product(plant, rng, pool)
            quantity = _invoice_quantity(rng, product)
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
    twin = _twin_header(headers, plant.suppliers)
    if twin is not None:
        filial, doc, serie, code, loja, _, issued_text, _ = twin
        rng = plant.rng("SD2/twin")
        product = _pick_product(plant, rng, plant.materials)
        quantity = float(rng.randint(1, 20))
        price = round(max(product.custd, 0.01), 4)
        value = round(quantity * price, 2)
        row = (
            filial, doc, serie, code, loja, "01", product.code, product.um, quantity, price,
            value, "503", "5201", product.locpad, issued_text, "D", "", "",
        )  # fmt: skip
        yield with_control(row, False, recno + 1)
        headers.append(((filial, doc, serie, code, loja, "D", issued_text, value), False))


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

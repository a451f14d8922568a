"""The demo plant's rows, one emitter per table (or per header/items pair), in load order."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from protheus_demo.emit import (
    invoices,
    machines,
    products,
    reasons,
    routings,
    stock,
    stops,
    structure,
    sx2,
)
from protheus_demo.model import numbered
from protheus_demo.orders import OrderBook

if TYPE_CHECKING:
    from protheus_demo.plant import DemoPlant

Rows = Iterable[tuple[object, ...]]


def plant_tables(plant: DemoPlant, company: str = "01") -> Iterator[tuple[str, Rows]]:
    """(alias, rows) in load order; rows are full tuples in `TABLES[alias]` order. Consume
    each iterable before asking for the next (SF1's totals and SF2's come from the items
    generated just before them)."""
    yield "SX2", sx2.rows(company)
    yield "SH1", machines.rows(plant)
    yield "SB1", products.rows(plant)
    yield "SA1", numbered(plant.customer_rows)
    yield "SA2", numbered(plant.supplier_rows)
    yield "SA5", numbered(plant.sa5_rows)
    yield "SG1", structure.rows(plant)
    yield "SG2", routings.operation_rows(plant)
    yield "SB2", stock.rows(plant)
    sf1, sf2 = invoices.Headers("SF1"), invoices.Headers("SF2")
    yield "SD1", invoices.inbound_items(plant, sf1)
    yield "SF1", sf1.rows()
    yield "SD2", invoices.outbound_items(plant, sf2)
    yield "SF2", sf2.rows()
    book = OrderBook(plant)
    orders, appointments, moves = book.build()
    yield "SC2", numbered(orders)
    # The machines' own stops (MATA682) follow the orders' appointments.
    yield "SH6", numbered([*appointments, *stops.rows(plant, book)])
    yield "SD3", numbered(moves)
    yield "SH3", routings.resource_rows(plant)
    yield "CYN", reasons.cyn_rows()
    yield "SX5", reasons.sx5_rows()

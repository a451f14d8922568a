"""Deterministic generation of a demo plant's Protheus rows: pure, no I/O, no wall clock.

The plant's model lives in protheus_demo/plant.py (with its bill of materials in bom.py and
its shape, the scales and fixed codes, in shape.py); each table's rows come from an emitter
in protheus_demo/emit. This module is the entry point: `build_plant`, then `plant.tables()`.
"""

from __future__ import annotations

from datetime import date

from protheus_demo.plant import DemoPlant
from protheus_demo.schema import TABLES
from protheus_demo.shape import (
    ABBREVIATED_PRODUCT,
    BOM_SIZE_CAP,
    COMMON_SEARCH_TERM,
    CYCLE_PRODUCTS,
    DEEP_CHAIN_SIZE,
    DEEP_PRODUCTS,
    MAX_DEPTH,
    SCALES,
    SELECTIVE_SEARCH_TERMS,
    SHARED_SUBASSEMBLY,
    UNION_SIZE_CAP,
    WIDELY_USED_COMPONENT,
    Scale,
)

__all__ = [
    "ABBREVIATED_PRODUCT",
    "BOM_SIZE_CAP",
    "COMMON_SEARCH_TERM",
    "CYCLE_PRODUCTS",
    "DEEP_CHAIN_SIZE",
    "DEEP_PRODUCTS",
    "MAX_DEPTH",
    "SCALES",
    "SELECTIVE_SEARCH_TERMS",
    "SHARED_SUBASSEMBLY",
    "UNION_SIZE_CAP",
    "WIDELY_USED_COMPONENT",
    "DemoPlant",
    "Scale",
    "build_plant",
    "column_names",
]


def build_plant(*, seed: int = 20240101, scale: str = "default", today: date) -> DemoPlant:
    """The generated plant for (seed, scale, today); generation is fully deterministic."""
    return DemoPlant(seed=seed, scale=scale, today=today)


def column_names(alias: str) -> list[str]:
    """Physical (lower-case) column names of a table, in row-tuple order."""
    return [column.name.lower() for column in TABLES[alias]]

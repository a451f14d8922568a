"""SX2, the data dictionary's table list: X2_ARQUIVO carries the physical name."""

from __future__ import annotations

from collections.abc import Iterator

from protheus_demo.model import numbered
from protheus_demo.schema import ALIASES, SHARED_ALIASES, TABLE_TITLES
from shared.protheus.naming import table_name


def rows(company: str) -> Iterator[tuple[object, ...]]:
    """SX2 of a company: X2_ARQUIVO carries the physical name (alias + company + '0')."""
    entries: list[tuple[tuple[object, ...], bool]] = []
    for alias in ALIASES:
        if alias == "SX2":
            continue
        mode = "C" if alias in SHARED_ALIASES else "E"
        physical = table_name(alias, company).upper()
        entries.append(((alias, physical, TABLE_TITLES[alias], mode, mode, mode), False))
    return numbered(entries)

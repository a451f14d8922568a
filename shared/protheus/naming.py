"""Protheus naming rules: company codes, table aliases, physical table names."""

from __future__ import annotations

import re
from dataclasses import dataclass

COMPANY_PATTERN = re.compile(r"^[0-9A-Z]{2}$")
ALIAS_PATTERN = re.compile(r"^[A-Z][A-Z0-9]{2}$")


def table_name(alias: str, company: str) -> str:
    """Physical table of a Protheus alias: alias + company + '0' (SB1, 01 -> sb1010).

    Only validated identifiers get here, because the result is formatted into SQL.
    """
    if not ALIAS_PATTERN.match(alias):
        raise ValueError(f"invalid Protheus alias {alias!r}")
    if not COMPANY_PATTERN.match(company):
        raise ValueError(f"invalid Protheus company {company!r}")
    return f"{alias}{company}0".lower()


@dataclass(frozen=True)
class Tables:
    """The physical tables of one company: `tables.sb1` or `tables["SB1"]` -> "sb1010".

    Hashable by value, so statement builders cached per (dialect, tables) stay cached.
    """

    company: str

    def __post_init__(self) -> None:
        if not COMPANY_PATTERN.match(self.company):
            raise ValueError(f"invalid Protheus company {self.company!r}")

    def __getitem__(self, alias: str) -> str:
        return table_name(alias.upper(), self.company)

    def __getattr__(self, name: str) -> str:
        if name.startswith("_"):
            raise AttributeError(name)
        return table_name(name.upper(), self.company)

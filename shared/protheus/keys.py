"""The production order key (C2_NUM + C2_ITEM + C2_SEQUEN + C2_ITEMGRD) and its SQL."""

from __future__ import annotations

import re
from dataclasses import dataclass

# The production order key (H6_OP, D3_OP, D4_OP): C2_NUM + C2_ITEM + C2_SEQUEN + C2_ITEMGRD,
# each blank-padded to its column's width. The widths are the dictionary's (SX3, the
# physical columns), never assumed: installations widen C2_NUM.
ORDER_KEY_COLUMNS = ("c2_num", "c2_item", "c2_sequen", "c2_itemgrd")


@dataclass(frozen=True)
class OrderKeyLayout:
    """Widths of the order key's parts, as read from the database at start."""

    num: int
    item: int
    sequen: int
    itemgrd: int

    @property
    def widths(self) -> tuple[int, int, int, int]:
        return (self.num, self.item, self.sequen, self.itemgrd)

    @property
    def base(self) -> int:
        """Length of a key without the grid part (11 with the usual 6/2/3)."""
        return self.num + self.item + self.sequen

    @property
    def total(self) -> int:
        """Length of the whole key (C14 with the usual widths)."""
        return self.base + self.itemgrd

    def lengths(self) -> tuple[int, ...]:
        """The lengths a key may have once its trailing blanks are trimmed."""
        return (self.base, self.total) if self.itemgrd else (self.base,)

    def split(self, key: str) -> tuple[str, str, str, str] | None:
        """NUM, ITEM, SEQUEN, ITEMGRD of a key (trailing blanks trimmed or not), each as wide as
        its column; None when the key has neither allowed length."""
        trimmed = key.rstrip()
        if len(trimmed) not in self.lengths():
            return None
        padded = trimmed.ljust(self.total)
        parts: list[str] = []
        start = 0
        for width in self.widths:
            parts.append(padded[start : start + width])
            start += width
        return (parts[0], parts[1], parts[2], parts[3])

    def describe(self) -> str:
        """The layout in words, for error messages (Portuguese)."""
        shape = f"C2_NUM ({self.num}) + C2_ITEM ({self.item}) + C2_SEQUEN ({self.sequen})"
        if self.itemgrd:
            return (
                f"{self.base} caracteres: {shape}, ou {self.total} com C2_ITEMGRD ({self.itemgrd})"
            )
        return f"{self.base} caracteres: {shape}"


def order_key_sql(alias: str, dialect_name: str) -> str:
    """SQL of an SC2 row's key with every part's padding kept.

    PostgreSQL's `||` on CHAR drops each part's trailing blanks ('AB    ' || '01' gives
    'AB01'); concat() formats each CHAR with its padding. SQL Server's `+` keeps it. Compare
    the result with CHAR columns (H6_OP) through a CHAR cast, whose comparison ignores
    trailing blanks.
    """
    parts = [f"{alias}.{column}" for column in ORDER_KEY_COLUMNS]
    if dialect_name == "tsql":
        return " + ".join(parts)
    return f"concat({', '.join(parts)})"


def op_key_sql(alias: str, dialect_name: str) -> str:
    """The order key as H6_OP / D3_OP hold it (NUM+ITEM+SEQUEN+ITEMGRD, each part padded to its
    column's width, whatever the widths are), to compare with those CHAR columns.

    Cast to CHAR (bpchar on PostgreSQL, whose comparison ignores trailing blanks), so a key
    without the grid part matches `H6_OP` = key + blanks and the (FILIAL, OP) index is used.
    SQL Server's comparisons ignore trailing blanks anyway.
    """
    key = order_key_sql(alias, dialect_name)
    if dialect_name == "tsql":
        return key
    return f"CAST({key} AS bpchar)"


# The widths every standard dictionary declares (C2_NUM 6, C2_ITEM 2, C2_SEQUEN 3, C2_ITEMGRD
# 3), for code that has not read the dictionary's layout yet.
USUAL_ORDER_KEY = OrderKeyLayout(6, 2, 3, 3)


def order_key_pattern(layout: OrderKeyLayout) -> re.Pattern[str]:
    """An alphanumeric order key of the layout: the base length, or the whole key with the grid part."""
    grid = f"(?:[0-9A-Za-z]{{{layout.itemgrd}}})?" if layout.itemgrd else ""
    return re.compile(f"^[0-9A-Za-z]{{{layout.base}}}{grid}$")


def order_number(layout: OrderKeyLayout, key: str) -> str:
    """The C2_NUM part of an order key."""
    return key[: layout.num]


def order_key_match_sql(c2: str, op: str, layout: OrderKeyLayout) -> str:
    """SC2 row `c2` is the order of the key column `op` (H6_OP, D3_OP): each part of the key
    compared with its column, cast back to CHAR so the index on (C2_FILIAL, C2_NUM, C2_ITEM,
    C2_SEQUEN, C2_ITEMGRD) is used."""
    conditions = []
    start = 1
    for column, width in zip(ORDER_KEY_COLUMNS, layout.widths, strict=True):
        if not width:  # no grid part in this dictionary
            continue
        conditions.append(
            f"{c2}.{column} = CAST(SUBSTRING({op}, {start}, {width}) AS CHAR({width}))"
        )
        start += width
    return " AND ".join(conditions)

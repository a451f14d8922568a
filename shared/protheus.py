"""Protheus naming rules and text normalisation shared by every reader of the ERP database."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

COMPANY_PATTERN = re.compile(r"^[0-9A-Z]{2}$")
ALIAS_PATTERN = re.compile(r"^[A-Z][A-Z0-9]{2}$")

# Accented letters Protheus descriptions may carry, and their plain forms. SQL's
# translate() with these two strings is immutable, so an index can be built on it,
# and unlike unaccent() it needs no extension (SQL Server 2017+ has TRANSLATE too).
ACCENTED = "ÁÀÂÃÄÉÈÊËÍÌÎÏÓÒÔÕÖÚÙÛÜÇÑáàâãäéèêëíìîïóòôõöúùûüçñ"
PLAIN = "AAAAAEEEEIIIIOOOOOUUUUCNaaaaaeeeeiiiiooooouuuucn"
# upper() maps the lower-case accents to these, so translating after it needs half the map.
ACCENTED_UPPER = ACCENTED[:24]
PLAIN_UPPER = PLAIN[:24]


def table_name(alias: str, company: str) -> str:
    """Physical table of a Protheus alias: alias + company + '0' (SB1, 01 -> sb1010).

    Only validated identifiers get here, because the result is formatted into SQL.
    """
    if not ALIAS_PATTERN.match(alias):
        raise ValueError(f"invalid Protheus alias {alias!r}")
    if not COMPANY_PATTERN.match(company):
        raise ValueError(f"invalid Protheus company {company!r}")
    return f"{alias}{company}0".lower()


def normalize_text(text: str) -> str:
    """Search normalisation: accents removed, upper case, blanks trimmed and collapsed."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(plain.upper().split())


def normalized_column_sql(
    column: str, dialect: str = "postgresql", *, translate: bool = True
) -> str:
    """SQL expression of a CHAR column normalised like `normalize_text` (minus collapsing).

    The demo database indexes exactly this expression (pg_trgm GIN), and the catalog's
    search filters on exactly this expression, so the two must stay one function.
    On PostgreSQL, translate() over a multibyte map costs microseconds a row and GIN
    rechecks evaluate it for every candidate: pure-ASCII text (most Protheus
    descriptions; octet length equals character length) skips it.
    SQL Server has TRANSLATE from 2017 (version 14) on; `translate=False` writes the same
    map as nested REPLACE calls, which every version has.
    """
    accents = f"translate(upper({column}), '{ACCENTED_UPPER}', '{PLAIN_UPPER}')"
    if dialect == "tsql":
        if translate:
            return accents
        replaced = f"UPPER({column})"
        for accented, plain in zip(ACCENTED_UPPER, PLAIN_UPPER, strict=True):
            replaced = f"REPLACE({replaced}, '{accented}', '{plain}')"
        return replaced
    return f"(CASE WHEN octet_length({column}::text) = length({column}) THEN upper({column}) ELSE {accents} END)"


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

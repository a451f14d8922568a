"""Text normalisation for search: the Python function and its SQL twin."""

from __future__ import annotations

import unicodedata

# Accented letters Protheus descriptions may carry, and their plain forms. SQL's
# translate() with these two strings is immutable, so an index can be built on it,
# and unlike unaccent() it needs no extension (SQL Server 2017+ has TRANSLATE too).
ACCENTED = "ÁÀÂÃÄÉÈÊËÍÌÎÏÓÒÔÕÖÚÙÛÜÇÑáàâãäéèêëíìîïóòôõöúùûüçñ"
PLAIN = "AAAAAEEEEIIIIOOOOOUUUUCNaaaaaeeeeiiiiooooouuuucn"
# upper() maps the lower-case accents to these, so translating after it needs half the map.
ACCENTED_UPPER = ACCENTED[:24]
PLAIN_UPPER = PLAIN[:24]


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

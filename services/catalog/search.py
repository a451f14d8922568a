"""Search text to SQL parameters: the normalised phrase, its terms, and literal-safe patterns."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from shared.db.dialect import Dialect
from shared.protheus.text import normalize_text

MAX_TERMS = 10


@dataclass(frozen=True)
class SearchText:
    """`q` (trimmed, blanks collapsed, upper case, no accents) and its distinct words."""

    q: str
    terms: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> SearchText:
        q = normalize_text(text)
        return cls(q=q, terms=tuple(dict.fromkeys(q.split())))


def like_contains(value: str, dialect: Dialect) -> str:
    """A LIKE pattern matching `value` anywhere, its wildcards escaped with a backslash."""
    special = r"[\\%_\[]" if dialect.is_tsql else r"[\\%_]"
    return "%" + re.sub(special, lambda m: "\\" + m.group(0), value) + "%"


def word_start_pattern(term: str, dialect: Dialect) -> str:
    """Pattern for 'a word starts with the term' against ' ' + description.

    PostgreSQL: a regular expression (the term escaped); SQL Server: LIKE with a class.
    """
    if dialect.is_tsql:
        return "%[^A-Z0-9]" + like_contains(term, dialect)[1:]
    return "[^[:alnum:]]" + re.sub(r"([^A-Za-z0-9 ])", r"\\\1", term)


def search_params(text: SearchText, dialect: Dialect) -> dict[str, Any]:
    """Bound parameters of the ranked searches: :q, :qlen, :tN, :lN (LIKE) and :wN (word start)."""
    params: dict[str, Any] = {"q": text.q, "qlen": len(text.q)}
    for index, term in enumerate(text.terms):
        params[f"t{index}"] = term
        params[f"l{index}"] = like_contains(term, dialect)
        params[f"w{index}"] = word_start_pattern(term, dialect)
    return params

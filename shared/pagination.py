"""Pagination shared by every list route: `page` >= 1, `page_size` 1..500, seed key names."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import asyncpg

from shared.validation import Integer, Schema, between

MAX_PAGE_SIZE = 500
MAX_PAGE = 10_000_000
DEFAULT_PAGE_SIZE = 50


class PageQuery(Schema):
    """`page` and `page_size`; out-of-range values are refused, never clamped."""

    page = Integer(
        load_default=1,
        # Any real page is far below this; the bound keeps the row offset a 64-bit number.
        validate=between(1, MAX_PAGE),
        metadata={"description": f"Página, a partir de 1 (até {MAX_PAGE})."},
    )
    page_size = Integer(
        load_default=DEFAULT_PAGE_SIZE,
        validate=between(1, MAX_PAGE_SIZE),
        metadata={
            "description": f"Registros por página (1 a {MAX_PAGE_SIZE}, padrão {DEFAULT_PAGE_SIZE})."
        },
    )


@dataclass(frozen=True)
class Page:
    """One requested page: number, size and the row offset it starts at."""

    number: int
    size: int

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> Page:
        return cls(number=params["page"], size=params["page_size"])

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.size

    def total_pages(self, total: int) -> int:
        return math.ceil(total / self.size) if total else 0

    def label(self, total: int) -> str:
        """'página 1/3', as the seed's messages say it."""
        return f"página {self.number}/{max(self.total_pages(total), 1)}"

    def envelope(
        self,
        total: int,
        items: Any,
        *,
        filters: dict[str, Any] | None = None,
        data_key: str = "data",
    ) -> dict[str, Any]:
        """The seed's paginated `data`: total, page, pageSize, totalPages, filters, rows."""
        body: dict[str, Any] = {
            "total": total,
            "page": self.number,
            "pageSize": self.size,
            "totalPages": self.total_pages(total),
        }
        if filters is not None:
            body["filters"] = filters
        body[data_key] = items
        return body


# Columns a statement paged once adds to its rows (see services/catalog/queries.py).
PAGING_COLUMNS = ("in_page", "row_number_")


class PagedRows(NamedTuple):
    """A paged statement's answer split: its header row (total, found...) and the page rows."""

    header: dict[str, Any]
    rows: list[dict[str, Any]]

    @property
    def total(self) -> int:
        return int(self.header["total"])


def split_page(
    rows: Sequence[Mapping[str, Any]] | Sequence[asyncpg.Record],
    key: str,
    *,
    defaults: Mapping[str, Any] | None = None,
    strip: Iterable[str] = PAGING_COLUMNS,
) -> PagedRows:
    """Split the rows of a statement that returns its header with its page in one round trip
    (`SELECT h.*, p.* FROM (header) h LEFT JOIN (page) p`).

    The header is the first row (all its columns; `defaults`, {"total": 0} unless given, fill
    it when there is no row at all and replace its NULLs). The page rows are those whose `key`
    column is not NULL (the header row rides alone, with NULL row columns, when the page is
    empty) and not flagged out of the page (`in_page` = 0: statements paged once return their
    first row even when the page starts later); the paging columns in `strip` are dropped.
    """
    fill = {"total": 0} if defaults is None else defaults
    records: Sequence[Mapping[str, Any]] = rows  # type: ignore[assignment]  # a Record reads as one
    header = dict(records[0]) if records else {}
    for name, value in fill.items():
        if header.get(name) is None:
            header[name] = value
    dropped = tuple(strip)
    page_rows = [
        {name: value for name, value in row.items() if name not in dropped}
        for row in records
        if row.get(key) is not None and row.get("in_page", 1)
    ]
    return PagedRows(header, page_rows)

"""Pagination shared by every list route: `page` >= 1, `page_size` 1..500, seed key names."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

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

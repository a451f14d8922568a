"""One JSON encoder for every service: orjson with defaults for Decimal and asyncpg records."""

from __future__ import annotations

import decimal
from collections.abc import Mapping
from typing import Any

import orjson


def _default(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, Mapping):  # asyncpg.Record and friends
        return dict(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def dumps_bytes(value: Any) -> bytes:
    """Serialise to UTF-8 JSON bytes (dates and datetimes as ISO-8601, UUIDs as strings)."""
    return orjson.dumps(value, default=_default, option=orjson.OPT_NON_STR_KEYS)


def dumps(value: Any) -> str:
    """Serialise to a JSON string, for aiohttp's `dumps=` parameters."""
    return dumps_bytes(value).decode()


def loads(raw: str | bytes) -> Any:
    """Parse JSON; raises orjson.JSONDecodeError (a ValueError) on bad input."""
    return orjson.loads(raw)

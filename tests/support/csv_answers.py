"""CSV answer checks: parse a CSV response with the csv module, and the cells a JSON row should
give (written here again, from the documented rules, not taken from shared.csv_export)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from typing import Any

from aiohttp import ClientResponse


async def csv_answer(
    resp: ClientResponse, *, dialect: str = "csv"
) -> tuple[list[str], list[list[str]]]:
    """The header and rows of a 200 CSV answer, after checking its headers and encoding."""
    raw = await resp.read()
    assert resp.status == 200, (resp.status, raw[:500])
    assert resp.content_type == "text/csv", resp.content_type
    assert resp.charset == "utf-8"
    assert resp.headers["Content-Disposition"].startswith('attachment; filename="')
    assert resp.headers["X-Request-ID"]
    if dialect == "excel":
        assert raw.startswith(b"\xef\xbb\xbf")  # the BOM Excel needs to read UTF-8
        text = raw[3:].decode("utf-8")
    else:
        assert not raw.startswith(b"\xef\xbb\xbf")
        text = raw.decode("utf-8")
    if text:
        assert text.endswith("\r\n")  # RFC 4180 line ends, the last line ended too
    parsed = list(
        csv.reader(io.StringIO(text, newline=""), delimiter=";" if dialect == "excel" else ",")
    )
    assert parsed, "no header row"
    return parsed[0], parsed[1:]


def file_name(resp: ClientResponse) -> str:
    return resp.headers["Content-Disposition"].split('filename="', 1)[1].rstrip('"')


def as_cell(value: Any) -> str:
    """A JSON value as the CSV writes it: null empty, true/false, numbers as JSON writes them,
    a list of plain values joined by ' | ', objects and lists of objects as compact JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return json.dumps(value)
    if isinstance(value, list) and all(not isinstance(item, (dict, list)) for item in value):
        return " | ".join(as_cell(item) for item in value)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def expected_rows(items: Sequence[Mapping[str, Any]], header: Sequence[str]) -> list[list[str]]:
    """The CSV rows of JSON items under `header` (a missing key is an empty cell)."""
    return [[as_cell(item.get(column)) for column in header] for item in items]

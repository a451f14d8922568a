"""CSV answers of the list routes analysts open in a spreadsheet: negotiation, columns, cells and
the streamed response.

A route opts in on its @endpoint with `csv=Csv(rows=..., name=...)` and a query schema that
includes FormatQuery. Then `?format=csv` (or `Accept: text/csv` without `format`) answers the
same filters as CSV instead of the JSON envelope:

- columns: the fields of the row schema (found in the response schema under `data.<rows>`, or
  declared), in declared order, named as the JSON names them; a nested object becomes one
  column per field, `parent_child`; a list of plain values is one cell joined with " | ", a
  list of objects one cell of JSON;
- cells: the values the JSON shows (they are dumped by the same response schema): timestamps
  ISO-8601 with offset, numbers as JSON writes them ('.' decimal), true/false, null empty;
- a paged route answers every row matching the filters, page after page of MAX_PAGE_SIZE
  rows, each written as it arrives (memory holds one page); `page` and `page_size` are
  ignored. Pages are separate queries, not one snapshot: a row inserted or changed while the
  export runs may show twice or be missed at a page boundary (the analytics schema and the
  lake are the consistent bulk extracts);
- errors found before the first row (400, 401, 403, 404, 503) stay JSON envelopes with their
  status; a failure after the header is sent cuts the connection, so the client sees an
  incomplete download rather than a short file that looks whole.

Two dialects, because one file cannot serve both audiences:
- `csv` (text/csv, RFC 4180): ',' separator, CRLF, UTF-8 without BOM, '.' decimal: what
  scripts, pandas, R, DuckDB and Power Query read without options;
- `excel`: what Excel in pt-BR opens right with a double click: a UTF-8 BOM (else accents
  break), ';' separator (the list separator of the pt-BR locale; ',' puts every field in
  column A) and ',' decimal in numbers (else 0.85 is read as text or a date); text cells that
  Excel would run as a formula (=, +, -, @ first) get a leading apostrophe.
"""

from __future__ import annotations

import csv
import io
import logging
import re
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import marshmallow as ma
from aiohttp import web
from marshmallow import fields

from shared.json import dumps_bytes
from shared.keys import REQUEST_ID
from shared.validation import Schema, String, one_of

log = logging.getLogger("mes.csv")

FORMATS = ("json", "csv", "excel")
CSV_MEDIA_TYPE = "text/csv"
# Rows buffered before a write: small enough to stream, big enough not to flood the socket.
ROWS_PER_WRITE = 500
JOINER = " | "


class FormatQuery(Schema):
    """`format`: the answer's format; a route declaring `csv=` on @endpoint includes it."""

    format = String(
        load_default=None,
        validate=one_of(FORMATS, optional=True),
        metadata={
            "description": (
                "json (padrão, o envelope), csv (RFC 4180: vírgula, UTF-8 sem BOM, ponto "
                "decimal; para scripts e ferramentas) ou excel (ponto e vírgula, UTF-8 com BOM, "
                "vírgula decimal: abre direto no Excel pt-BR). Ausente: `Accept: text/csv` "
                "pede csv. Em CSV uma rota paginada traz todas as linhas dos filtros "
                "(page e page_size são ignorados)."
            )
        },
    )


@dataclass(frozen=True)
class Dialect:
    """How a CSV answer is written."""

    name: str
    delimiter: str
    bom: bool
    decimal: str
    guard_formulas: bool


CSV = Dialect("csv", delimiter=",", bom=False, decimal=".", guard_formulas=False)
EXCEL = Dialect("excel", delimiter=";", bom=True, decimal=",", guard_formulas=True)
DIALECTS = {"csv": CSV, "excel": EXCEL}

RowsOf = Callable[[Mapping[str, Any]], Iterable[Mapping[str, Any]]]


@dataclass(frozen=True)
class Csv:
    """A route's CSV declaration.

    rows: the key of the row list in the dumped `data` (a paged route's "data", "rows",
        "points"), or a function of the dumped `data` giving the rows (a route whose answer is
        not a list, like the OEE);
    name: the file name without ".csv", or a function of the loaded path and query giving it;
    item: the row schema when it is not the response schema's `data.<rows>` item (needed
        when `rows` is a function); its fields are the columns;
    columns: a function of the dumped `data` giving the columns, when they depend on the
        request (the aggregates a series asked for);
    description: what a row is, for the OpenAPI document.
    """

    rows: str | RowsOf
    name: str | Callable[[Mapping[str, Any]], str]
    item: type[ma.Schema] | None = None
    columns: Callable[[Mapping[str, Any]], Sequence[str]] | None = None
    description: str = ""

    def rows_of(self, data: Mapping[str, Any]) -> Iterable[Mapping[str, Any]]:
        if isinstance(self.rows, str):
            found: Iterable[Mapping[str, Any]] = data.get(self.rows) or ()
            return found
        return self.rows(data)

    def file_name(self, params: Mapping[str, Any]) -> str:
        stem = self.name if isinstance(self.name, str) else self.name(params)
        return f"{safe_file_stem(stem)}.csv"


def safe_file_stem(stem: str) -> str:
    """ASCII letters, digits, '-', '_' and '.', the rest as '_': safe in a quoted filename on
    every system (a machine code or metric name may carry '/' or spaces)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._") or "export"


def accepts_csv(accept: str) -> bool:
    """True when the Accept header ranks text/csv at least as high as JSON (text/csv named
    with q > 0, and no higher q for application/json, application/* or */*)."""
    csv_q = 0.0
    json_q = 0.0
    for media_range in accept.split(","):
        media, _, params = media_range.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        media = media.strip().lower()
        if media == CSV_MEDIA_TYPE:
            csv_q = max(csv_q, quality)
        elif media in ("application/json", "application/*", "*/*"):
            json_q = max(json_q, quality)
    return csv_q > 0 and csv_q >= json_q


def chosen_dialect(request: web.Request, asked: str | None) -> Dialect | None:
    """The dialect a request wants, None for JSON: `format` when given, else the Accept header."""
    if asked is not None:
        return DIALECTS.get(asked)
    return CSV if accepts_csv(request.headers.get("Accept", "")) else None


def row_schema(response: ma.Schema, rows: str) -> ma.Schema | None:
    """The item schema of the list at `data.<rows>` of an envelope schema, None if none."""
    data = response.fields.get("data")
    if not isinstance(data, fields.Nested):
        return None
    listed = data.schema.fields.get(rows)
    if not isinstance(listed, fields.List) or not isinstance(listed.inner, fields.Nested):
        return None
    return listed.inner.schema


def header_of(schema: ma.Schema, prefix: str = "") -> list[str]:
    """The columns of a row schema: its dumped fields in declared order, by their JSON names;
    a nested object (not a list) flattened as `parent_child`."""
    columns: list[str] = []
    for name, field in schema.dump_fields.items():
        key = f"{prefix}{field.data_key or name}"
        if isinstance(field, fields.Nested) and not field.many:
            columns.extend(header_of(field.schema, prefix=f"{key}_"))
        else:
            columns.append(key)
    return columns


def flat(row: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """A dumped row with its nested objects spread as `parent_child` keys."""
    spread: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, Mapping):
            spread.update(flat(value, prefix=f"{prefix}{key}_"))
        else:
            spread[f"{prefix}{key}"] = value
    return spread


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def cell(value: Any, dialect: Dialect) -> str:
    """One value as the JSON shows it: null empty, true/false, numbers as JSON writes them
    (the dialect's decimal mark), text as is, a list of plain values joined, else JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        if dialect.guard_formulas and value.startswith(_FORMULA_START):
            return "'" + value
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        text = dumps_bytes(value).decode()
        return text.replace(".", dialect.decimal) if dialect.decimal != "." else text
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list) and all(
        item is None or isinstance(item, (str, int, float)) for item in value
    ):
        return JOINER.join(cell(item, dialect) for item in value)
    return dumps_bytes(value).decode()


class CsvWriter:
    """Rows to CSV text in the dialect, handed out in chunks to write."""

    def __init__(self, dialect: Dialect, columns: Sequence[str]) -> None:
        self.dialect = dialect
        self.columns = list(columns)
        self.buffer = io.StringIO()
        self.writer = csv.writer(
            self.buffer,
            delimiter=dialect.delimiter,
            lineterminator="\r\n",
            quoting=csv.QUOTE_MINIMAL,
        )
        if dialect.bom:
            self.buffer.write("\ufeff")
        self.writer.writerow(self.columns)

    def add(self, row: Mapping[str, Any]) -> None:
        values = flat(row)
        self.writer.writerow([cell(values.get(column), self.dialect) for column in self.columns])

    def take(self) -> bytes:
        text = self.buffer.getvalue()
        self.buffer.seek(0)
        self.buffer.truncate()
        return text.encode()


def disposition(file_name: str) -> str:
    return f'attachment; filename="{file_name}"'


async def stream_csv(
    request: web.Request,
    *,
    dialect: Dialect,
    columns: Sequence[str],
    file_name: str,
    first: Iterable[Mapping[str, Any]],
    more: AsyncIterator[Iterable[Mapping[str, Any]]] | None = None,
) -> web.StreamResponse:
    """Send the header and the rows of `first`, then those of each batch `more` yields,
    chunked, each batch written as it comes. A failure after the headers are sent is logged
    and the connection cut (the status is gone; a truncated chunked body tells the client)."""
    response = web.StreamResponse(
        headers={
            "Content-Type": f"{CSV_MEDIA_TYPE}; charset=utf-8; header=present",
            "Content-Disposition": disposition(file_name),
        }
    )
    request_id = request.get(REQUEST_ID)
    if request_id:
        response.headers["X-Request-ID"] = request_id  # set before the headers leave
    response.enable_chunked_encoding()
    writer = CsvWriter(dialect, columns)
    await response.prepare(request)
    try:
        await _write_rows(response, writer, first)
        if more is not None:
            async for batch in more:
                await _write_rows(response, writer, batch)
        await response.write(writer.take())
    except Exception:
        log.exception("CSV export cut after its first rows", extra={"error_id": request_id})
        if request.transport is not None:
            request.transport.abort()
        return response
    await response.write_eof()
    return response


async def _write_rows(
    response: web.StreamResponse, writer: CsvWriter, rows: Iterable[Mapping[str, Any]]
) -> None:
    for count, row in enumerate(rows, start=1):
        writer.add(row)
        if count % ROWS_PER_WRITE == 0:
            await response.write(writer.take())

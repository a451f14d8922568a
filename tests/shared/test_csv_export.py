"""shared.csv_export and @endpoint's csv=: the Accept negotiation, columns from a row schema
(nested objects flattened), cells, file names, every page of a paged route, and a failure after
the first rows that cuts the download instead of ending it like a whole file."""

from __future__ import annotations

import csv
import io
from typing import Any

import aiohttp
import marshmallow as ma
import pytest
from aiohttp import web
from marshmallow import fields

from shared.csv_export import (
    CSV,
    EXCEL,
    Csv,
    FormatQuery,
    accepts_csv,
    cell,
    header_of,
    safe_file_stem,
)
from shared.endpoint import endpoint
from shared.envelope import Reply, paged_envelope
from shared.middleware import errors
from shared.pagination import Page, PageQuery


@pytest.mark.parametrize(
    ("accept", "wanted"),
    [
        ("text/csv", True),
        ("text/csv; charset=utf-8", True),
        ("application/json;q=0.9, text/csv", True),
        ("text/csv, */*", True),
        ("application/json, text/csv", True),  # a tie goes to the range named
        ("text/csv;q=0.5, application/json", False),
        ("text/csv;q=0", False),
        ("*/*", False),
        ("", False),
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", False),
        ("text/csv;q=oops", False),
    ],
)
def test_accept_asks_for_csv_only_when_text_csv_ranks_first(accept, wanted):
    assert accepts_csv(accept) is wanted


def test_cells_are_what_the_json_shows():
    assert cell(None, CSV) == ""
    assert cell(True, CSV) == "true"
    assert cell(0, CSV) == "0"
    assert cell(0.1, CSV) == "0.1"
    assert cell(1e-7, CSV) == "1e-7"
    assert cell(28800.0, CSV) == "28800.0"
    assert cell("2026-03-02T06:00:00-03:00", CSV) == "2026-03-02T06:00:00-03:00"
    assert cell(["M1", "M2"], CSV) == "M1 | M2"
    assert cell([{"state": "idle", "seconds": 1.5}], CSV) == '[{"state":"idle","seconds":1.5}]'
    assert cell({"a": 1}, CSV) == '{"a":1}'


def test_excel_cells_use_a_decimal_comma_and_never_start_a_formula():
    assert cell(0.85, EXCEL) == "0,85"
    assert cell(12, EXCEL) == "12"
    assert cell("=HYPERLINK(1)", EXCEL) == "'=HYPERLINK(1)"
    assert cell("-E1", EXCEL) == "'-E1"
    assert cell("@x", EXCEL) == "'@x"
    assert cell("-E1", CSV) == "-E1"  # csv is for programs: the value as is
    assert cell("motor 3", EXCEL) == "motor 3"


class Where(ma.Schema):
    site = fields.String()
    line = fields.String(data_key="lineCode")


class Row(ma.Schema):
    id = fields.Integer()
    where = fields.Nested(Where)
    tags = fields.List(fields.String())
    secret = fields.String(load_only=True)
    name = fields.String(attribute="full_name", data_key="fullName")


def test_columns_follow_the_schema_with_nested_objects_flattened():
    assert header_of(Row()) == ["id", "where_site", "where_lineCode", "tags", "fullName"]


def test_file_names_keep_to_safe_ascii():
    assert safe_file_stem("telemetria_M 1/temp") == "telemetria_M_1_temp"
    assert safe_file_stem("oee_linha-1.a") == "oee_linha-1.a"
    assert safe_file_stem("..") == "export"


ROWS = 1234


class Query(PageQuery, FormatQuery):
    pass


RowList = paged_envelope(Row, name="RowList", page_name="RowPage")
COMMON: dict[str, Any] = {"service": "test", "scope": "test:read", "summary": "s"}


def page_of(page: Page, *, fail_on: int | None = None) -> Reply:
    if page.number == fail_on:
        raise RuntimeError("the database went away")
    numbers = range(page.offset, min(page.offset + page.size, ROWS))
    items = [
        {"id": n, "where": {"site": "porto", "line": f"L{n % 3}"}, "tags": ["a", "b"],
         "full_name": f"Máquina {n}", "secret": "x"}
        for n in numbers
    ]  # fmt: skip
    return Reply(page.envelope(ROWS, items, filters={}), "ok")


@endpoint(**COMMON, query=Query, response=RowList, csv=Csv(rows="data", name="linhas"))
async def rows(request: web.Request, *, page: Page) -> Reply:
    return page_of(page)


@endpoint(**COMMON, query=Query, response=RowList, csv=Csv(rows="data", name="linhas"))
async def failing(request: web.Request, *, page: Page) -> Reply:
    return page_of(page, fail_on=2)


def make_app() -> web.Application:
    app = web.Application(middlewares=[errors])
    app.router.add_get("/rows", rows)
    app.router.add_get("/failing", failing)
    return app


async def test_a_paged_route_gives_every_page_with_flattened_columns(aiohttp_client):
    client = await aiohttp_client(make_app())
    resp = await client.get("/rows", params={"format": "csv", "page": "3", "page_size": "2"})
    assert resp.status == 200
    parsed = list(csv.reader(io.StringIO((await resp.read()).decode(), newline="")))
    assert parsed[0] == ["id", "where_site", "where_lineCode", "tags", "fullName"]
    assert len(parsed) == 1 + ROWS
    assert parsed[1] == ["0", "porto", "L0", "a | b", "Máquina 0"]
    assert [int(row[0]) for row in parsed[1:]] == list(range(ROWS))


async def test_a_failure_after_the_first_rows_cuts_the_download(aiohttp_client):
    client = await aiohttp_client(make_app())
    resp = await client.get("/failing", params={"format": "csv"})
    assert resp.status == 200  # already sent with the first page
    with pytest.raises(aiohttp.ClientPayloadError):
        await resp.read()


async def test_a_failure_before_the_first_row_is_a_json_error(aiohttp_client):
    @endpoint(**COMMON, query=Query, response=RowList, csv=Csv(rows="data", name="x"))
    async def broken(request: web.Request, *, page: Page) -> Reply:
        return page_of(page, fail_on=1)

    app = make_app()
    app.router.add_get("/broken", broken)
    client = await aiohttp_client(app)
    resp = await client.get("/broken", headers={"Accept": "text/csv"})
    assert resp.status == 500
    assert resp.content_type == "application/json"
    assert (await resp.json())["success"] is False


def test_csv_needs_a_format_parameter_and_known_rows():
    with pytest.raises(TypeError, match="FormatQuery"):

        @endpoint(**COMMON, query=PageQuery, response=RowList, csv=Csv(rows="data", name="x"))
        async def no_format(request: web.Request, *, page: Page) -> Reply:
            return page_of(page)

    with pytest.raises(TypeError, match="item="):

        @endpoint(**COMMON, query=Query, response=RowList, csv=Csv(rows="nope", name="x"))
        async def no_rows(request: web.Request, *, page: Page) -> Reply:
            return page_of(page)

"""split_page: the header row and the page rows of a statement that returns both at once."""

from __future__ import annotations

from shared.pagination import split_page


def test_no_row_at_all_is_an_empty_page_with_the_defaults() -> None:
    assert split_page([], "code") == ({"total": 0}, [])
    header, rows = split_page([], "code", defaults={"found": 0, "total": 0})
    assert header == {"found": 0, "total": 0}
    assert rows == []


def test_the_header_row_rides_alone_when_the_page_is_empty() -> None:
    found = split_page([{"total": 7, "code": None, "name": None}], "code")
    assert found.total == 7
    assert found.rows == []
    assert found.header == {"total": 7, "code": None, "name": None}


def test_every_row_with_its_key_is_in_the_page_and_keeps_its_header_columns() -> None:
    rows = [{"total": 2, "code": "A"}, {"total": 2, "code": "B"}]
    found = split_page(rows, "code")
    assert found.total == 2
    assert found.rows == rows
    assert found.rows[0] is not rows[0]  # copies: the caller's rows are left as they were


def test_a_statement_paged_once_drops_its_first_row_out_of_the_page_and_its_columns() -> None:
    rows = [
        {"found": 1, "total": None, "code": "A", "row_number_": 1, "in_page": 0},
        {"found": 1, "total": None, "code": "K", "row_number_": 11, "in_page": 1},
    ]
    header, page = split_page(rows, "code", defaults={"found": 0, "total": 0})
    assert header["total"] == 0
    assert header["found"] == 1
    assert page == [{"found": 1, "total": None, "code": "K"}]


def test_a_header_column_other_than_total_is_kept() -> None:
    rows = [{"found": 1, "total": 3, "root_description": "Mesa", "b1_cod": None}]
    header, page = split_page(rows, "b1_cod", defaults={"found": 0, "total": 0})
    assert header["root_description"] == "Mesa"
    assert page == []

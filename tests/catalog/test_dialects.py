"""The same catalog through ODBC (psqlODBC, PostgreSQL dialect) end to end, and the T-SQL text."""

from __future__ import annotations

import re

import pytest

from services.catalog import queries
from services.catalog.search import SearchText, like_contains, search_params, word_start_pattern
from shared.db.dialect import POSTGRESQL, TSQL, render
from shared.protheus.naming import Tables
from tests.helpers import assert_envelope
from tests.support.catalog import HEADERS
from tests.support.databases import odbc_url
from tests.support.urls import url

# (route name, URL parts, query)
ROUTES = [
    ("product_structure", {"code": "A"}, {"date": "2024-06-01", "page_size": "4", "page": "2"}),
    ("product_parents", {"code": "M"}, {"date": "2024-06-01"}),
    ("product_guide", {"code": "A"}, {"include_components": "true"}),
    ("product", {"code": "A"}, {}),
    ("products_list", {}, {"limit": "5"}),
    ("products_search_description", {}, {"description": "item conjunto"}),
    ("products_search", {}, {"description": "item", "code": "A"}),
    ("product_stock", {"code": "A"}, {"branch": "01"}),
    ("product_inbound_invoice_items", {"code": "A"}, {"issue_date_start": "2024-01-01"}),
    ("product_structure", {"code": "NOPE"}, {}),
]


async def test_odbc_path_answers_exactly_like_asyncpg(tree, catalog_client):
    native = await catalog_client(tree.dsn)
    odbc = await catalog_client(odbc_url(tree.dsn))
    for name, parts, query in ROUTES:
        path = url(native, name, **parts)
        a = await native.get(path, params=query, headers=HEADERS)
        b = await odbc.get(path, params=query, headers=HEADERS)
        body_a, body_b = await a.json(), await b.json()
        assert a.status == b.status, path
        for body in (body_a, body_b):
            body.get("error", {}).pop("requestId", None)
        assert body_a == body_b, path
    ready = await assert_envelope(await odbc.get("/readyz"), 200)
    assert ready["checks"]["protheus_db"]["status"] == "up"
    # /readyz names the SQL variant the service writes for this server.
    assert ready["checks"]["protheus_db"]["dialect"] == "postgresql"
    assert ready["checks"]["protheus_db"]["normalization"] == "translate"


def rendered(sql: str, params: dict) -> str:
    text, _ = render(sql, params, style="qmark", dialect=TSQL)
    return text


def tree_params() -> dict:
    return {
        "code": "A",
        "sb1_filial": " ",
        "sg1_filial": "01",
        "ref_date": "20240601",
        "max_depth": 10,
        "cap": 9,
        "limit": 5,
        "offset": 0,
        "page_end": 5,
    }


@pytest.mark.parametrize("build", [queries.structure, queries.parents])
def test_tsql_tree_uses_plain_cte_apply_fetch_and_varchar_parameters(build):
    text = rendered(build(TSQL, Tables("01")), tree_params())
    assert "RECURSIVE" not in text
    assert re.search(r"\bLIMIT\b", text) is None
    assert "ROW_NUMBER() OVER (ORDER BY sort_key COLLATE Latin1_General_BIN)" in text
    assert "SELECT TOP (?) *" in text
    assert "CAST(? AS VARCHAR(1))" in text  # code "A": never an NVARCHAR against CHAR
    assert "CHARINDEX(" in text
    assert "COLLATE Latin1_General_BIN" in text
    assert "sg1010" in text
    assert "sb1010" in text
    assert "::" not in text
    assert "||" not in text
    # The recursive member may hold no outer join or subquery on SQL Server.
    recursive_member = text.split("UNION ALL", 1)[1].split("), capped AS", 1)[0]
    assert "LEFT JOIN" not in recursive_member
    assert "SELECT" not in recursive_member.split("FROM", 1)[1]


def test_postgresql_tree_uses_recursive_limit_and_dollar_parameters():
    text, args = render(
        queries.structure(POSTGRESQL, Tables("01")),
        tree_params(),
        style="dollar",
        dialect=POSTGRESQL,
    )
    assert text.startswith("WITH RECURSIVE root AS")
    assert "LIMIT $" in text
    assert 'COLLATE "C"' in text
    assert "?" not in text
    # Each named parameter bound once, however often used (all but :limit: the page ends
    # at :page_end).
    assert len(args) == len(tree_params()) - 1


def test_tsql_search_uses_like_classes_and_charindex():
    text = SearchText.parse("term. 50%")
    params = {"sb1_filial": " ", "limit": 5, "offset": 0, **search_params(text, TSQL)}
    sql = rendered(queries.search_description(TSQL, Tables("01"), len(text.terms), False), params)
    assert "LIKE CAST(? AS VARCHAR" in sql
    assert "CHARINDEX(" in sql
    assert "LEFT(nd, LEN(" in sql
    assert "~" not in sql
    assert params["w0"] == "%[^A-Z0-9]TERM.%"
    assert params["l1"] == "%50\\%%"


def test_like_and_word_patterns_escape_user_text():
    assert like_contains("50%_x\\", POSTGRESQL) == "%50\\%\\_x\\\\%"
    assert like_contains("[A]", TSQL) == "%\\[A]%"
    assert word_start_pattern("TERM.", POSTGRESQL) == "[^[:alnum:]]TERM\\."
    assert word_start_pattern("A(B", POSTGRESQL) == "[^[:alnum:]]A\\(B"


def test_search_terms_are_distinct_words_of_the_normalised_text():
    text = SearchText.parse("  Terminal  terminal BANDEIRA ")
    assert text.q == "TERMINAL TERMINAL BANDEIRA"
    assert text.terms == ("TERMINAL", "BANDEIRA")

"""The ranking rules of both searches, each proven on crafted products with hand-computed scores."""

from __future__ import annotations

import pytest

from tests.helpers import assert_envelope
from tests.support.catalog import HEADERS
from tests.support.urls import url


async def scores(client, path: str, **query) -> dict[str, int]:
    resp = await client.get(path, params=query, headers=HEADERS)
    data = await assert_envelope(resp, 200)
    rows = data.get("results", data.get("data"))
    return {row["B1_COD"]: row["relevance_score"] for row in rows}


async def test_one_term_scores_start_word_start_anywhere_phrase_and_similarity(
    crafted, catalog_client
):
    await crafted.product("P1", "TERMINAL BANDEIRA 6,30X0,80MM2")  # len 30
    await crafted.product("P2", "CABO TERMINAL")  # a word starts with it, len 13
    await crafted.product("P3", "ANTERMINAL X")  # inside a word only, len 12
    await crafted.product("P4", "PARAFUSO M8")  # no match
    await crafted.product("P5", "TERMINAL")  # the whole description
    client = await catalog_client(crafted.dsn)
    got = await scores(
        client, url(client, "products_search_description"), description="  terminal "
    )
    # q = TERMINAL (8): +50 phrase; +30 start / +20 word start / +10 anywhere;
    # similarity floor(10 * (m - |len - 8|) / m), m = max(len, 8).
    assert got == {"P5": 50 + 30 + 10, "P1": 50 + 30 + 2, "P2": 50 + 20 + 6, "P3": 50 + 10 + 6}
    assert list(got) == ["P5", "P1", "P2", "P3"]


async def test_several_terms_score_each_term_by_its_best_rule(crafted, catalog_client):
    await crafted.product("P1", "TERMINAL BANDEIRA 6,30X0,80MM2")  # 30
    await crafted.product("P6", "TERM. BANDEIRA 6,3X0,8")  # 22
    await crafted.product("P7", "FITA TERM BANDEIRA")  # 18, contains the phrase
    await crafted.product("P8", "XBANDEIRA")  # 9
    await crafted.product("P9", "CABO FLEXIVEL")  # no term
    client = await catalog_client(crafted.dsn)
    got = await scores(
        client, url(client, "products_search_description"), description="TERM BANDEIRA"
    )
    # q = "TERM BANDEIRA" (13); per term +25 start / +15 word start / +5 anywhere.
    assert got == {
        "P7": 50 + 15 + 15 + 7,  # floor(10 * (18 - 5) / 18) = 7
        "P6": 25 + 15 + 5,  # "TERM." starts the description; floor(130 / 22) = 5
        "P1": 25 + 15 + 4,  # floor(130 / 30) = 4
        "P8": 5 + 6,  # BANDEIRA inside a word; m = 13, floor(90 / 13) = 6
    }


async def test_ties_order_by_code_and_pagination_counts_all_matches(crafted, catalog_client):
    for code in ("C3", "C1", "C2"):
        await crafted.product(code, "ARRUELA LISA")
    client = await catalog_client(crafted.dsn)
    resp = await client.get(
        url(client, "products_search_description"),
        params={"description": "arruela", "page": 2, "page_size": 2},
        headers=HEADERS,
    )
    data = await assert_envelope(resp, 200)
    assert data["total"] == 3
    assert data["totalPages"] == 2
    assert data["page"] == 2
    assert data["pageSize"] == 2
    assert data["description"] == "arruela"
    assert [r["B1_COD"] for r in data["results"]] == ["C3"]


async def test_accents_case_and_blanks_are_normalised(crafted, catalog_client):
    await crafted.product("A1", "CONEXÃO ELÉTRICA")
    await crafted.product("A2", "CONEXAO   ELETRICA")
    client = await catalog_client(crafted.dsn)
    got = await scores(
        client, url(client, "products_search_description"), description="conexão elétrica"
    )
    # Both read "CONEXAO ELETRICA" (16) = q: phrase 50 + start 25 + word start 15 + similarity 10.
    assert got == {"A1": 100, "A2": 100}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("50%", {"W1"}),
        ("A_B", {"W3"}),
        ("D'AGUA", {"W5"}),
        ("X\\Y", {"W6"}),
    ],
)
async def test_user_text_is_data_not_pattern(crafted, catalog_client, text, expected):
    await crafted.product("W1", "DESCONTO 50% OFF")
    await crafted.product("W2", "PECA 500 UN")
    await crafted.product("W3", "PECA A_B")
    await crafted.product("W4", "PECA AXB")
    await crafted.product("W5", "CAIXA D'AGUA")
    await crafted.product("W6", "BARRA X\\Y")
    client = await catalog_client(crafted.dsn)
    got = await scores(client, url(client, "products_search_description"), description=text)
    assert set(got) == expected


async def test_blocked_and_deleted_products_are_left_out_unless_asked(crafted, catalog_client):
    await crafted.product("B1", "MOTOR ELETRICO")
    await crafted.product("B2", "MOTOR ELETRICO", B1_MSBLQL="1")
    await crafted.product("B3", "MOTOR ELETRICO", D_E_L_E_T_="*")
    client = await catalog_client(crafted.dsn)
    assert set(
        await scores(client, url(client, "products_search_description"), description="motor")
    ) == {"B1"}
    with_blocked = await scores(
        client,
        url(client, "products_search_description"),
        description="motor",
        include_blocked="true",
    )
    assert set(with_blocked) == {"B1", "B2"}
    assert set(await scores(client, url(client, "products_search"), description="motor")) == {"B1"}


async def test_product_search_scores_phrase_and_ten_per_term(crafted, catalog_client):
    await crafted.product("10080522", "TERMINAL BANDEIRA 6,30X0,80MM2", B1_GRUPO="1008")  # 30
    await crafted.product("10080523", "BANDEIRA TERMINAL", B1_GRUPO="1008")  # 17
    await crafted.product("20010001", "TERMINAL BANDEIRA", B1_GRUPO="2001")  # 17
    await crafted.product("10080999", "PARAFUSO", B1_GRUPO="1008")
    client = await catalog_client(crafted.dsn)
    got = await scores(client, url(client, "products_search"), description="terminal bandeira")
    # q = "TERMINAL BANDEIRA" (17): +50 phrase, +10 per term, similarity.
    assert got == {
        "20010001": 50 + 10 + 10 + 10,
        "10080523": 10 + 10 + 10,
        "10080522": 50 + 10 + 10 + 5,  # floor(10 * 17 / 30) = 5
    }
    assert list(got) == ["20010001", "10080522", "10080523"]


async def test_product_search_filters_combine_with_and(crafted, catalog_client):
    await crafted.product("10080522", "TERMINAL BANDEIRA", B1_GRUPO="1008")
    await crafted.product("10080523", "TERMINAL OLHAL", B1_GRUPO="1008")
    await crafted.product("20080522", "TERMINAL BANDEIRA", B1_GRUPO="2008")
    await crafted.product("10081234", "CABO", B1_GRUPO="1008")
    client = await catalog_client(crafted.dsn)
    resp = await client.get(
        url(client, "products_search"),
        params={"code": "0805", "group": "1008", "description": "bandeira"},
        headers=HEADERS,
    )
    data = await assert_envelope(resp, 200)
    assert [r["B1_COD"] for r in data["data"]] == ["10080522"]
    assert data["filters"] == {"code": "0805", "description": "bandeira", "group": "1008"}
    only_code = await scores(client, url(client, "products_search"), code="0805")
    assert only_code == {"10080522": 0, "10080523": 0, "20080522": 0}
    only_group = await scores(client, url(client, "products_search"), group="2008")
    assert set(only_group) == {"20080522"}


async def test_search_requires_a_description_with_words(crafted, catalog_client):
    client = await catalog_client(crafted.dsn)
    for query in ({}, {"description": "   "}):
        resp = await client.get(
            url(client, "products_search_description"), params=query, headers=HEADERS
        )
        body = await assert_envelope(resp, 400)
        assert body["error"]["details"][0]["field"] == "description"

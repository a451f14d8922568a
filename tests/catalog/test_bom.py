"""BOM explosion and where-used on a crafted tree holding every trap of SG1."""

from __future__ import annotations

import pytest

from tests.helpers import assert_envelope
from tests.support.catalog import HEADERS
from tests.support.urls import url


def flatten(nodes, out=None):
    out = [] if out is None else out
    for node in nodes:
        out.append(node)
        flatten(node["components"], out)
    return out


def summary(nodes):
    return [
        (n["code"], n["level"], n["trt"], n["cumulativeQuantity"], n["cycle"])
        for n in flatten(nodes)
    ]


async def get(client, path, status=200, **query):
    return await assert_envelope(await client.get(path, params=query, headers=HEADERS), status)


async def test_structure_explodes_valid_lines_depth_first(tree, catalog_client):
    client = await catalog_client(tree.dsn)
    data = await get(client, url(client, "product_structure", code="A"), date="2024-06-01")
    root = data["data"]
    assert (root["code"], root["description"], root["level"]) == ("A", "CONJUNTO A", 0)
    assert data["total"] == 11
    assert summary(root["components"]) == [
        ("B", 1, "001", 2.0, False),
        ("A", 2, "", 0.02, True),  # cycle: cut, flagged, no children
        ("M", 2, "", 1.0, False),  # 2 * 50 / QB 100
        ("B", 1, "002", 1.0, False),
        ("A", 2, "", 0.01, True),
        ("M", 2, "", 0.5, False),
        ("G", 1, "", 10.0, False),  # 9 / (1 - 10%)
        ("H", 1, "", 5.0, False),
        ("N", 2, "", 10.0, False),
        ("K", 1, "", 1.0, False),
        ("L", 1, "", 3.0, False),  # invalid loss counts as 0
    ]
    nodes = {(n["code"], n["trt"], n["level"]): n for n in flatten(root["components"])}
    assert nodes[("A", "", 2)]["components"] == []
    assert nodes[("L", "", 1)]["invalidLoss"] is True
    assert nodes[("G", "", 1)]["invalidLoss"] is False
    assert nodes[("G", "", 1)]["loss"] == 10.0
    assert nodes[("H", "", 1)]["fixed"] is True
    assert nodes[("B", "001", 1)]["quantity"] == 2.0
    assert nodes[("M", "", 2)]["description"] == "ITEM M"


async def test_structure_reference_date_brings_back_lines_valid_then(tree, catalog_client):
    client = await catalog_client(tree.dsn)
    data = await get(
        client, url(client, "product_structure", code="A"), date="2019-06-01", max_depth=1
    )
    codes = [n["code"] for n in data["data"]["components"]]
    assert codes == ["B", "B", "C", "G", "H", "K", "L"]


async def test_structure_default_date_is_today(tree, catalog_client):
    client = await catalog_client(tree.dsn)
    data = await get(client, url(client, "product_structure", code="A"), max_depth=1)
    assert "C" not in [n["code"] for n in data["data"]["components"]]
    assert data["filters"]["date"] >= "2024-01-01"


async def test_structure_max_depth_limits_levels(tree, catalog_client):
    client = await catalog_client(tree.dsn)
    data = await get(
        client, url(client, "product_structure", code="A"), max_depth=1, date="2024-06-01"
    )
    assert data["total"] == 6
    assert all(n["components"] == [] for n in data["data"]["components"])


async def test_structure_pages_nest_and_orphans_name_their_parent(tree, catalog_client):
    client = await catalog_client(tree.dsn)
    structure = url(client, "product_structure", code="A")
    data = await get(client, structure, page=2, page_size=2, date="2024-06-01")
    assert (data["total"], data["page"], data["pageSize"], data["totalPages"]) == (11, 2, 2, 6)
    top = data["data"]["components"]
    assert [(n["code"], n["level"], n.get("parentCode")) for n in top] == [
        ("M", 2, "B"),
        ("B", 1, None),
    ]
    data = await get(client, structure, page=3, page_size=3, date="2024-06-01")
    top = data["data"]["components"]
    assert [(n["code"], [c["code"] for c in n["components"]]) for n in top] == [
        ("G", []),
        ("H", ["N"]),
    ]
    data = await get(client, structure, page=9, page_size=3, date="2024-06-01")
    assert data["data"]["components"] == []
    assert data["total"] == 11


async def test_structure_flat_format(tree, catalog_client):
    client = await catalog_client(tree.dsn)
    data = await get(
        client,
        url(client, "product_structure", code="A"),
        format="flat",
        page_size=3,
        date="2024-06-01",
    )
    rows = data["data"]["components"]
    assert [(r["code"], r["parentCode"]) for r in rows] == [("B", "A"), ("A", "B"), ("M", "B")]
    assert all("components" not in r for r in rows)


async def test_structure_uses_the_configured_branch(tree, catalog_client):
    client = await catalog_client(tree.dsn, protheus_branch="02")
    data = await get(client, url(client, "product_structure", code="A"), date="2024-06-01")
    assert [n["code"] for n in data["data"]["components"]] == ["X"]


async def test_explosion_over_the_row_limit_is_refused(tree, catalog_client):
    client = await catalog_client(tree.dsn, catalog_max_bom_rows=5)
    body = await get(
        client, url(client, "product_structure", code="A"), status=400, date="2024-06-01"
    )
    assert body["error"]["details"][0]["rule"] == "too_many_rows"


async def test_parents_walk_up_with_cumulative_usage(tree, catalog_client):
    client = await catalog_client(tree.dsn)
    data = await get(client, url(client, "product_parents", code="M"), date="2024-06-01")
    assert data["data"]["code"] == "M"
    assert data["total"] == 5
    assert summary(data["data"]["components"]) == [
        ("B", 1, "", 0.5, False),  # one B (QB 100) uses 50/100 of M
        ("A", 2, "001", 1.0, False),  # one A uses 2 B
        ("B", 3, "", 0.01, True),  # B -> A -> B: cycle
        ("A", 2, "002", 0.5, False),
        ("B", 3, "", 0.005, True),
    ]


async def test_parents_stop_above_a_fixed_line(tree, catalog_client):
    client = await catalog_client(tree.dsn)
    data = await get(client, url(client, "product_parents", code="N"), date="2024-06-01")
    # H -> N is variable (2 per H); A -> H is fixed (5 whatever A's quantity): A uses 10 N,
    # and so does anything above A (B -> A), up to where the cycle is cut.
    assert summary(data["data"]["components"]) == [
        ("H", 1, "", 2.0, False),
        ("A", 2, "", 10.0, False),
        ("B", 3, "", 10.0, False),
        ("A", 4, "001", 10.0, True),  # A uses B under two TRTs: two lines, both cut
        ("A", 4, "002", 10.0, True),
    ]


async def test_parents_skip_invalid_lines(tree, catalog_client):
    client = await catalog_client(tree.dsn)
    for code in "CDEFX":
        data = await get(client, url(client, "product_parents", code=code), date="2024-06-01")
        assert data["total"] == 0, code
        assert data["data"]["components"] == []


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"max_depth": "0"}, "max_depth"),
        ({"max_depth": "51"}, "max_depth"),
        ({"max_depth": "deep"}, "max_depth"),
        ({"date": "2024-13-01"}, "date"),
        ({"date": "01/02/2024"}, "date"),
        ({"format": "xml"}, "format"),
        ({"page": "0"}, "page"),
    ],
)
async def test_bad_tree_parameters_are_400(tree, catalog_client, query, field):
    client = await catalog_client(tree.dsn)
    for route in ("product_structure", "product_parents"):
        body = await get(client, url(client, route, code="A"), status=400, **query)
        assert body["error"]["details"][0]["field"] == field


async def test_unknown_product_is_404_on_trees(tree, catalog_client):
    client = await catalog_client(tree.dsn)
    for route in ("product_structure", "product_parents"):
        body = await get(client, url(client, route, code="NOPE"), status=404)
        assert body["error"]["code"] == "not_found"

"""Stock: blocked balances are not available; the product is looked up in the branch asked for."""

from __future__ import annotations

from tests.helpers import assert_envelope
from tests.support.catalog import HEADERS
from tests.support.urls import url


async def get(client, path, status=200, **query):
    return await assert_envelope(await client.get(path, headers=HEADERS, params=query), status)


async def test_a_blocked_balance_has_nothing_available(crafted, catalog_client):
    await crafted.product("P1", "PARAFUSO")
    balance = {"B2_COD": "P1", "B2_QATU": 100, "B2_RESERVA": 10, "B2_QEMP": 20, "B2_QACLASS": 5}
    await crafted.add("SB2", B2_FILIAL="01", B2_LOCAL="01", **balance)
    await crafted.add("SB2", B2_FILIAL="01", B2_LOCAL="02", B2_STATUS="2", **balance)
    await crafted.add("SB2", B2_FILIAL="01", B2_LOCAL="03", B2_STATUS="1", **balance)
    client = await catalog_client(crafted.dsn)
    data = await get(client, url(client, "product_stock", code="P1"))
    available = {row["B2_LOCAL"]: row["available"] for row in data["data"]}
    assert available == {"01": 65, "02": 0, "03": 65}
    assert [row["B2_QATU"] for row in data["data"]] == [100, 100, 100]  # balances stay as stored


async def test_the_product_is_looked_up_in_the_branch_asked_for(crafted, catalog_client):
    """SB1 exclusive (SX2 X2_MODO E): a product registered only in branch 02."""
    await crafted.conn.execute("UPDATE sx2010 SET x2_modo = 'E' WHERE x2_chave = 'SB1'")
    await crafted.add("SB1", B1_FILIAL="02", B1_COD="P2", B1_DESC="ARRUELA", B1_SEGUM="CX")
    await crafted.add("SB2", B2_FILIAL="02", B2_COD="P2", B2_LOCAL="01", B2_QATU=8)
    client = await catalog_client(crafted.dsn)  # PROTHEUS_BRANCH 01
    data = await get(client, url(client, "product_stock", code="P2"), branch="02")
    assert [(r["B2_FILIAL"], r["B2_QATU"], r["B2_SEGUM"]) for r in data["data"]] == [
        ("02", 8, "CX")
    ]
    await get(client, url(client, "product_stock", code="P2"), 404)  # not a product of branch 01
    await get(client, url(client, "product_stock", code="P2"), 404, branch="01")

"""The Sparkplug API on rows written straight into the host's tables: edge nodes with their
devices and targets (mapped or by convention), filters and pages, the mapping read and replaced
whole (admin), its validation, auth, and answers that match their documented schemas."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import asyncpg
import marshmallow as ma
import pytest

from services.telemetry.sparkplug import schemas
from shared.openapi import build_spec
from shared.settings import SparkplugSettings, parse_api_keys
from tests.helpers import assert_envelope, auth
from tests.support.telemetry_query import (
    KEYS,
    OTHER_KEY,
    PROTHEUS_DOWN,
    READ,
    TelemetryRows,
    documented_answer,
    query_app,
    shown,
    utc,
)
from tests.support.urls import url

ADMIN_KEY = "sparkplug-admin-key-0123456789"
ADMIN = auth(ADMIN_KEY)
AREA = "celulas"  # SPARKPLUG_AREA of these tests: the convention's area


@pytest.fixture
async def client(aiohttp_client, mes_rows) -> Any:
    """The telemetry app (its API only; these routes never read Protheus)."""
    app = query_app(
        PROTHEUS_DOWN,
        mes_rows.dsn,
        api_keys=parse_api_keys(f"{KEYS};boss:{ADMIN_KEY}:admin"),
        sparkplug=SparkplugSettings(area=AREA),
    )
    return await aiohttp_client(app)


async def node(
    conn: asyncpg.Connection,
    group: str,
    edge_node: str,
    *,
    online: bool = True,
    bd_seq: int | None = 3,
    gap_since: dt.datetime | None = None,
    rebirths: int = 0,
    birth_at: dt.datetime | None = None,
    death_at: dt.datetime | None = None,
    last_seen: dt.datetime | None = None,
) -> None:
    await conn.execute(
        """INSERT INTO sparkplug_nodes (group_id, edge_node, online, bd_seq, gap_since, rebirths,
                                        birth_at, death_at, last_seen)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)""",
        group, edge_node, online, bd_seq, gap_since, rebirths, birth_at, death_at, last_seen,
    )  # fmt: skip


async def device(
    conn: asyncpg.Connection,
    group: str,
    edge_node: str,
    name: str,
    *,
    online: bool = True,
    birth_at: dt.datetime | None = None,
    death_at: dt.datetime | None = None,
    last_seen: dt.datetime | None = None,
) -> None:
    await conn.execute(
        """INSERT INTO sparkplug_devices (group_id, edge_node, device, online, birth_at,
                                          death_at, last_seen)
           VALUES ($1, $2, $3, $4, $5, $6, $7)""",
        group, edge_node, name, online, birth_at, death_at, last_seen,
    )  # fmt: skip


async def mapped(conn: asyncpg.Connection, *rows: tuple[str, str, str, str, str, str, str]) -> None:
    await conn.executemany(
        "INSERT INTO sparkplug_mapping (group_id, edge_node, device, site, area, line, machine)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7)",
        rows,
    )


T = "2026-03-02T"


@pytest.fixture
async def plant(mes_rows: TelemetryRows) -> asyncpg.Connection:
    """Group Porto: edge node Linha1 (online, devices CNC1 mapped to M1 and CNC2 by convention,
    its own metrics mapped) and Linha2 (offline after a death, a seq gap, no devices); group
    Recife: edge node Prensas (online, device P1)."""
    conn = mes_rows.conn
    await node(
        conn, "Porto", "Linha1", bd_seq=7, rebirths=2,
        birth_at=utc(T + "08:00:00"), last_seen=utc(T + "12:00:00"),
    )  # fmt: skip
    await device(conn, "Porto", "Linha1", "CNC2", birth_at=utc(T + "08:00:01"))
    await device(
        conn, "Porto", "Linha1", "CNC1", online=False,
        birth_at=utc(T + "08:00:01"), death_at=utc(T + "11:00:00"), last_seen=utc(T + "11:00:00"),
    )  # fmt: skip
    await node(
        conn, "Porto", "Linha2", online=False, bd_seq=1, gap_since=utc(T + "09:00:00"),
        death_at=utc(T + "10:00:00"),
    )  # fmt: skip
    await node(conn, "Recife", "Prensas", bd_seq=None)
    await device(conn, "Recife", "Prensas", "P1")
    await mapped(
        conn,
        ("Porto", "Linha1", "CNC1", "porto", "usinagem", "linha1", "M1"),
        ("Porto", "Linha1", "", "porto", "usinagem", "linha1", "GW1"),
    )
    return conn


async def nodes(client: Any, expect: int = 200, **query: Any) -> Any:
    resp = await client.get(url(client, "sparkplug_nodes", query), headers=READ)
    return await assert_envelope(resp, expect)


async def put_mapping(client: Any, body: Any, expect: int, headers: dict[str, str] = ADMIN) -> Any:
    resp = await client.put(url(client, "sparkplug_mapping_replace"), json=body, headers=headers)
    return await assert_envelope(resp, expect)


def entry(
    group: str, edge_node: str, device: str | None, machine: str, **more: Any
) -> dict[str, Any]:
    body = {"group": group, "edgeNode": edge_node, "site": "porto", "area": "usinagem",
            "line": "linha1", "machine": machine, **more}  # fmt: skip
    if device is not None:
        body["device"] = device
    return body


async def test_nodes_list_every_device_with_its_machine_mapped_or_by_convention(plant, client):
    data = await documented_answer(client, url(client, "sparkplug_nodes"), schemas.NodeListResponse)
    assert (data["total"], data["page"], data["pageSize"], data["totalPages"]) == (3, 1, 50, 1)
    assert data["filters"] == {"group": None, "online": None}
    assert [(n["group"], n["edgeNode"]) for n in data["data"]] == [
        ("Porto", "Linha1"), ("Porto", "Linha2"), ("Recife", "Prensas"),
    ]  # fmt: skip
    linha1, linha2, prensas = data["data"]
    assert linha1 == {
        "group": "Porto",
        "edgeNode": "Linha1",
        "online": True,
        "bdSeq": 7,
        "birthAt": shown(utc(T + "08:00:00")),
        "deathAt": None,
        "lastSeen": shown(utc(T + "12:00:00")),
        "rebirthRequests": 2,
        "seqGap": False,
        "devices": [
            {
                "device": "CNC1",
                "online": False,
                "birthAt": shown(utc(T + "08:00:01")),
                "deathAt": shown(utc(T + "11:00:00")),
                "lastSeen": shown(utc(T + "11:00:00")),
                "site": "porto",
                "area": "usinagem",
                "line": "linha1",
                "machine": "M1",
                "mapped": True,
            },
            {
                "device": "CNC2",
                "online": True,
                "birthAt": shown(utc(T + "08:00:01")),
                "deathAt": None,
                "lastSeen": None,
                "site": "Porto",
                "area": AREA,
                "line": "Linha1",
                "machine": "CNC2",
                "mapped": False,
            },
        ],
        "site": "porto",
        "area": "usinagem",
        "line": "linha1",
        "machine": "GW1",
        "mapped": True,
    }
    # No mapping row for the node: its own metrics go to a machine named after it.
    assert (linha2["online"], linha2["seqGap"], linha2["deathAt"], linha2["devices"]) == (
        False, True, shown(utc(T + "10:00:00")), [],
    )  # fmt: skip
    assert {k: linha2[k] for k in ("site", "area", "line", "machine", "mapped")} == {
        "site": "Porto", "area": AREA, "line": "Linha2", "machine": "Linha2", "mapped": False,
    }  # fmt: skip
    assert prensas["bdSeq"] is None
    assert [(d["device"], d["site"], d["line"], d["machine"]) for d in prensas["devices"]] == [
        ("P1", "Recife", "Prensas", "P1")
    ]


async def test_nodes_filter_by_group_and_online_and_page(plant, client):
    data = await nodes(client, group="Porto")
    assert [n["edgeNode"] for n in data["data"]] == ["Linha1", "Linha2"]
    assert data["filters"] == {"group": "Porto", "online": None}
    data = await nodes(client, online="false")
    assert [n["edgeNode"] for n in data["data"]] == ["Linha2"]
    data = await nodes(client, group="Porto", online="true")
    assert [n["edgeNode"] for n in data["data"]] == ["Linha1"]
    assert data["filters"] == {"group": "Porto", "online": True}
    data = await nodes(client, group="Lisboa")
    assert (data["total"], data["totalPages"], data["data"]) == (0, 0, [])

    data = await nodes(client, page_size=2, page=2)
    assert (data["total"], data["totalPages"]) == (3, 2)
    assert [(n["edgeNode"], [d["device"] for d in n["devices"]]) for n in data["data"]] == [
        ("Prensas", ["P1"])
    ]
    # A page past the end: the total, no rows.
    data = await nodes(client, page_size=2, page=3)
    assert (data["total"], data["data"]) == (3, [])


async def test_nodes_refuse_bad_parameters(client):
    for query, field in (({"online": "talvez"}, "online"), ({"page_size": 501}, "page_size"),
                         ({"group": "g" * 65}, "group"), ({"page": 0}, "page")):  # fmt: skip
        body = await nodes(client, 400, **query)
        assert body["error"]["code"] == "invalid_parameter"
        assert body["error"]["details"][0]["field"] == field


async def test_the_mapping_is_replaced_whole_and_read_back_in_key_order(plant, client):
    mapping_url = url(client, "sparkplug_mapping")
    before = await documented_answer(client, mapping_url, schemas.MappingResponse)
    assert before == {
        "mappings": [
            {"group": "Porto", "edgeNode": "Linha1", "device": "", "site": "porto",
             "area": "usinagem", "line": "linha1", "machine": "GW1"},
            {"group": "Porto", "edgeNode": "Linha1", "device": "CNC1", "site": "porto",
             "area": "usinagem", "line": "linha1", "machine": "M1"},
        ]
    }  # fmt: skip

    body = {
        "mappings": [
            entry("Recife", "Prensas", "P1", "PR1", site="recife", line="prensas"),
            entry("Porto", "Linha1", "CNC2", "M2"),
            entry("Porto", "Linha2", "", "L2"),  # '' and absent both mean the node
            entry(" Porto ", "Linha1", None, "GW1"),  # blanks around are dropped
        ]
    }
    data = await put_mapping(client, body, 200)
    assert [(m["group"], m["edgeNode"], m["device"], m["machine"]) for m in data["mappings"]] == [
        ("Porto", "Linha1", "", "GW1"),
        ("Porto", "Linha1", "CNC2", "M2"),
        ("Porto", "Linha2", "", "L2"),
        ("Recife", "Prensas", "P1", "PR1"),
    ]
    assert data["mappings"][3] == {
        "group": "Recife", "edgeNode": "Prensas", "device": "P1", "site": "recife",
        "area": "usinagem", "line": "prensas", "machine": "PR1",
    }  # fmt: skip
    # The table is what the PUT said: CNC1's row is gone.
    assert await documented_answer(client, mapping_url, schemas.MappingResponse) == data
    assert await plant.fetchval("SELECT count(*) FROM sparkplug_mapping WHERE device = 'CNC1'") == 0

    # The listing follows: CNC1 back to the convention, CNC2 and Linha2 mapped.
    listed = {(n["edgeNode"]): n for n in (await nodes(client, group="Porto"))["data"]}
    devices = {d["device"]: d for d in listed["Linha1"]["devices"]}
    assert (devices["CNC1"]["machine"], devices["CNC1"]["mapped"]) == ("CNC1", False)
    assert (devices["CNC2"]["machine"], devices["CNC2"]["mapped"]) == ("M2", True)
    assert (listed["Linha2"]["machine"], listed["Linha2"]["mapped"]) == ("L2", True)

    # GET's answer is a body the PUT takes (same table back); an empty list clears the table.
    assert await put_mapping(client, data, 200) == data
    assert await put_mapping(client, {"mappings": []}, 200) == {"mappings": []}
    assert await plant.fetchval("SELECT count(*) FROM sparkplug_mapping") == 0


async def test_a_refused_mapping_names_each_bad_field_and_leaves_the_table(plant, client):
    body = {
        "mappings": [
            entry("Porto", "Linha/1", "CNC1", "M1"),
            entry("Porto", "Linha1", "CNC#", "M1", site="p+rto"),
            entry("Porto", "Linha1", "CNC1", "M" * 65, line="   "),
            {"group": "Porto", "edgeNode": "Linha1", "machine": "M1", "cor": "azul"},
            entry("Porto", "Linha1", "CN\x01C", "M1"),
        ]
    }
    refused = await put_mapping(client, body, 400)
    assert refused["error"]["code"] == "invalid_body"
    details = {(d["field"], d["rule"]) for d in refused["error"]["details"]}
    assert details == {
        ("mappings.0.edgeNode", "format"),
        ("mappings.1.device", "format"),
        ("mappings.1.site", "format"),
        ("mappings.2.machine", "format"),
        ("mappings.2.line", "required"),
        ("mappings.3.site", "required"),
        ("mappings.3.area", "required"),
        ("mappings.3.line", "required"),
        ("mappings.3.cor", "unknown"),
        ("mappings.4.device", "characters"),
    }

    # The same (group, edge node, device) twice: '' and absent are the same node key.
    duplicated = {
        "mappings": [
            entry("Porto", "Linha1", "CNC1", "M1"),
            entry("Porto", "Linha1", "", "GW1"),
            entry("Porto", "Linha1", "CNC1", "M9"),
            entry("Porto", "Linha1", None, "GW2"),
        ]
    }
    refused = await put_mapping(client, duplicated, 400)
    assert [(d["field"], d["rule"]) for d in refused["error"]["details"]] == [
        ("mappings", "duplicate"),
        ("mappings", "duplicate"),
    ]
    assert "Porto/Linha1/CNC1" in refused["error"]["details"][1]["message"]

    too_many = {
        "mappings": [entry("G", f"N{n}", None, "M") for n in range(schemas.MAX_MAPPINGS + 1)]
    }
    refused = await put_mapping(client, too_many, 400)
    assert [(d["field"], d["rule"]) for d in refused["error"]["details"]] == [
        ("mappings", "length")
    ]

    for bad in ({}, {"mappings": {"a": 1}}, {"mappings": None}, {"mappings": [1]}):
        refused = await put_mapping(client, bad, 400)
        assert refused["error"]["code"] == "invalid_body"
        assert refused["error"]["details"][0]["field"].startswith("mappings")
    # Nothing was replaced.
    assert await plant.fetchval("SELECT count(*) FROM sparkplug_mapping") == 2


async def test_reading_needs_telemetry_read_and_replacing_needs_admin(plant, client):
    for name in ("sparkplug_nodes", "sparkplug_mapping"):
        body = await assert_envelope(await client.get(url(client, name)), 401)
        assert body["error"]["code"] == "unauthorized"
        body = await assert_envelope(
            await client.get(url(client, name), headers=auth(OTHER_KEY)), 403
        )
        assert body["error"]["code"] == "forbidden"
        await assert_envelope(await client.get(url(client, name), headers=ADMIN), 200)

    body = {"mappings": [entry("Porto", "Linha1", "CNC1", "M7")]}
    resp = await client.put(url(client, "sparkplug_mapping_replace"), json=body)
    assert (await assert_envelope(resp, 401))["error"]["code"] == "unauthorized"
    assert (await put_mapping(client, body, 403, READ))["error"]["code"] == "forbidden"
    assert (
        await plant.fetchval("SELECT machine FROM sparkplug_mapping WHERE device = 'CNC1'") == "M1"
    )
    await put_mapping(client, body, 200)
    assert (
        await plant.fetchval("SELECT machine FROM sparkplug_mapping WHERE device = 'CNC1'") == "M7"
    )


def test_the_documented_identifier_pattern_accepts_exactly_what_the_entry_loads():
    field = schemas.SparkplugMappingEntry().fields["group"]
    pattern = re.compile(field.openapi_properties()["pattern"])
    samples = ["", " ", "a", " a ", "a b", "a/b", "a+", "#", "a\tb", "\ta", "x" * 64,
               " " + "x" * 64 + " ", "x" * 65, "Linha-1.CNC_2", "ção", "a\u3000"]  # fmt: skip
    for value in samples:
        try:
            schemas.SparkplugMappingEntry(only=("group",)).load({"group": value})
            loads = True
        except ma.ValidationError:
            loads = False
        assert bool(pattern.search(value)) == loads, repr(value)


async def test_the_openapi_document_has_the_sparkplug_routes(client):
    doc = build_spec(client.app, "telemetry", "Telemetry API", "")
    nodes_op = doc["paths"]["/api/v1/sparkplug/nodes"]["get"]
    assert nodes_op["x-required-scope"] == "telemetry:read"
    assert {p["name"] for p in nodes_op["parameters"]} >= {"group", "online", "page", "page_size"}
    mapping = doc["paths"]["/api/v1/sparkplug/mapping"]
    assert (mapping["get"]["x-required-scope"], mapping["put"]["x-required-scope"]) == (
        "telemetry:read", "admin",
    )  # fmt: skip
    assert mapping["put"]["x-refusals"] == [
        {
            "field": "mappings",
            "rule": "duplicate",
            "description": mapping["put"]["x-refusals"][0]["description"],
        }
    ]
    body = doc["components"]["schemas"]["SparkplugMappingBody"]["properties"]["mappings"]
    assert body["maxItems"] == schemas.MAX_MAPPINGS

"""GET /api/v1/plant: machines by line with state, current order and product, and the current
shift's OEE equal to /api/v1/oee's for the same machine and window (real PostgreSQL)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from services.telemetry.query import schemas
from services.telemetry.query.shifts import ShiftCalendar
from tests.helpers import assert_envelope, auth
from tests.support.telemetry_query import (
    OTHER_KEY,
    PLANT,
    PROTHEUS_DOWN,
    READ,
    documented_answer,
    local,
)
from tests.support.urls import url

RATIOS = ("availability", "performance", "quality", "oee")


@pytest.fixture
async def plant(mes_rows, erp):
    """M1 and M2 on two lines of `porto`, M1 counting order 000001 (product PA, with a standard
    time); M3 only in SH1. Times relative to now: the current shift is today."""
    now = dt.datetime.now(dt.UTC)
    today, _ = ShiftCalendar.from_setting(None, PLANT).current(now)

    def recent(minutes: int) -> dt.datetime:
        """`minutes` ago, but inside today (a run just after midnight)."""
        return max(now - dt.timedelta(minutes=minutes), today + dt.timedelta(seconds=60 - minutes))

    await mes_rows.machine("M1", line="linha1", last_seen=now)
    await mes_rows.machine("M2", line="linha2", last_seen=now)
    await mes_rows.states(
        "M1",
        (now - dt.timedelta(days=1), "running", None),
        (now - dt.timedelta(minutes=20), "fault", "E42"),
    )
    await mes_rows.states("M2", (now - dt.timedelta(minutes=5), "idle", None))
    await mes_rows.counters(
        "M1",
        (recent(40), 90, 10, "00000101001"),
        (recent(30), 50, 0, "00000101001"),
    )
    await erp.resource("M1", "TORNO CNC 1")
    await erp.resource("M3", "PRENSA 3")
    await erp.product("PA")
    await erp.operation("PA", "01", "10", "M1", tempad=0.5, lotepad=60)
    await erp.order("000001", "PA")
    return mes_rows, erp


async def get_plant(client: Any) -> dict[str, Any]:
    return await documented_answer(client, url(client, "plant"), schemas.PlantResponse)


def machines_of(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["machine"]: m for line in data["lines"] for m in line["machines"]}


async def test_plant_groups_machines_by_line_with_state_order_and_product(plant, client_for):
    _, erp = plant
    client = await client_for(erp.dsn)
    data = await get_plant(client)
    lines = [(g["site"], g["area"], g["line"], [m["machine"] for m in g["machines"]])
             for g in data["lines"]]  # fmt: skip
    assert lines == [
        ("porto", "usinagem", "linha1", ["M1"]),
        ("porto", "usinagem", "linha2", ["M2"]),
        (None, None, None, ["M3"]),
    ]
    m1, m2, m3 = (machines_of(data)[code] for code in ("M1", "M2", "M3"))
    assert m1["description"] == "TORNO CNC 1"
    assert m1["state"] == "fault"
    assert m1["stateSince"].endswith("-03:00")
    assert m1["lastSeen"] is not None
    assert m1["order"] == "00000101001"
    assert m1["product"] == "PA"
    assert m2["description"] is None  # not in SH1
    assert m2["state"] == "idle"
    assert m2["order"] is None
    assert m2["product"] is None
    assert m3 == {
        "machine": "M3", "description": "PRENSA 3", "state": None, "stateSince": None,
        "lastSeen": None, "order": None, "product": None, "oee": m3["oee"],
    }  # fmt: skip
    assert set(m1["oee"]) == set(RATIOS)
    assert m1["oee"]["quality"] == pytest.approx(140 / 150)
    assert m1["oee"]["performance"] is not None
    # Without SHIFT_CALENDAR the shift is the plant-local day.
    start = dt.datetime.fromisoformat(data["shift"]["start"])
    end = dt.datetime.fromisoformat(data["shift"]["end"])
    assert start.astimezone(PLANT).time() == dt.time(0, 0)
    assert end.astimezone(PLANT).time() == dt.time(0, 0)
    assert start <= dt.datetime.now(dt.UTC) < end


async def test_plant_oee_equals_the_oee_route_for_each_machine(plant, client_for):
    _, erp = plant
    client = await client_for(erp.dsn)
    data = await get_plant(client)
    window = {"from": data["shift"]["start"], "to": data["shift"]["end"]}
    for code, item in machines_of(data).items():
        resp = await client.get(
            url(client, "oee"), params={**window, "machine": code}, headers=READ
        )
        oee = await assert_envelope(resp, 200)
        for name in RATIOS:
            # The window ends at "now" in both answers, a moment apart: running time grows.
            if oee[name] is None:
                assert item["oee"][name] is None, (code, name)
            else:
                assert item["oee"][name] == pytest.approx(oee[name], abs=1e-3), (code, name)


async def test_plant_follows_the_shift_calendar(plant, client_for):
    _, erp = plant
    client = await client_for(erp.dsn, shift_calendar="00:00-08:00 08:00-16:00 16:00-24:00")
    data = await get_plant(client)
    start = dt.datetime.fromisoformat(data["shift"]["start"])
    end = dt.datetime.fromisoformat(data["shift"]["end"])
    assert end - start == dt.timedelta(hours=8)  # back-to-back shifts are not merged
    assert start <= dt.datetime.now(dt.UTC) < end


async def test_plant_with_protheus_down_still_answers_from_the_mes(plant, client_for):
    client = await client_for(PROTHEUS_DOWN)
    resp = await client.get(url(client, "plant"), headers=READ)
    data = await assert_envelope(resp, 200)
    assert "Protheus indisponível" in (await resp.json())["message"]
    found = machines_of(data)
    assert sorted(found) == ["M1", "M2"]
    assert found["M1"]["description"] is None
    assert found["M1"]["product"] is None
    assert found["M1"]["order"] == "00000101001"
    assert found["M1"]["oee"]["performance"] is None


async def test_plant_needs_telemetry_read(plant, client_for):
    _, erp = plant
    client = await client_for(erp.dsn)
    await assert_envelope(await client.get(url(client, "plant")), 401)
    await assert_envelope(await client.get(url(client, "plant"), headers=auth(OTHER_KEY)), 403)
    doc = await (await client.get("/api/v1/telemetry/openapi.json")).json()
    assert doc["paths"]["/api/v1/plant"]["get"]["x-required-scope"] == "telemetry:read"


def test_current_shift_is_the_running_one_else_the_last_ended_else_the_day():
    calendar = ShiftCalendar.from_setting("mon-fri 06:00-14:00 14:00-22:00", PLANT)
    monday = local("2026-03-02T10:00")  # a Monday
    assert calendar.current(monday) == (local("2026-03-02T06:00"), local("2026-03-02T14:00"))
    assert calendar.current(local("2026-03-02T14:00")) == (
        local("2026-03-02T14:00"), local("2026-03-02T22:00"),
    )  # fmt: skip
    # Between shifts: the last one ended (Friday evening's, on a Sunday).
    assert calendar.current(local("2026-03-01T12:00")) == (
        local("2026-02-27T14:00"), local("2026-02-27T22:00"),
    )  # fmt: skip
    always = ShiftCalendar.from_setting(None, PLANT)
    assert always.current(monday) == (local("2026-03-02T00:00"), local("2026-03-03T00:00"))


async def statements_of_one_plant_call(client: Any, monkeypatch: pytest.MonkeyPatch) -> int:
    """The SQL statements GET /api/v1/plant sends (to either database), counted by wrapping
    asyncpg's connection methods while the request runs (after a first call: the pools'
    connections, and their set-up statements, are there already)."""
    import asyncpg

    await get_plant(client)
    count = 0
    with monkeypatch.context() as patch:
        for name in (
            "fetch",
            "fetchrow",
            "fetchval",
            "execute",
            "executemany",
            "cursor",
            "prepare",
        ):
            original = getattr(asyncpg.Connection, name)

            def counted(self: Any, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
                nonlocal count
                count += 1
                return _original(self, *args, **kwargs)

            patch.setattr(asyncpg.Connection, name, counted)
        await get_plant(client)
    return count


async def test_plant_statements_do_not_grow_with_the_machines(plant, client_for, monkeypatch):
    """One set of queries per database, not one per machine: the same statement count for
    2 machines as for 50."""
    mes_rows, erp = plant
    few = await statements_of_one_plant_call(await client_for(erp.dsn), monkeypatch)
    now = dt.datetime.now(dt.UTC)
    for n in range(4, 52):
        code = f"M{n}"
        await mes_rows.machine(code, line=f"linha{n % 5}", last_seen=now)
        await mes_rows.states(code, (now - dt.timedelta(minutes=n), "running", None))
        await mes_rows.counters(code, (now - dt.timedelta(minutes=1), 10, 1, "00000101001"))
        await erp.resource(code, f"MAQUINA {n}")
    client = await client_for(erp.dsn)
    data = await get_plant(client)
    assert len(machines_of(data)) >= 50
    many = await statements_of_one_plant_call(await client_for(erp.dsn), monkeypatch)
    assert few > 0
    assert many == few

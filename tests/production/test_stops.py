"""The stop API: listing and its filters, one stop with its attempts, a person's classification
and split (status rules, 409s, 422), the reason mapping (admin) and the downtime Pareto, whose
numbers are computed by hand in the comments."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from services.production.stops import service
from shared.settings import parse_api_keys
from tests.helpers import assert_envelope, auth
from tests.support.production import KEYS, READ, WRITE
from tests.support.stops import insert_stop, outbox, queue_stop
from tests.support.urls import url

ADMIN_KEY = "stops-admin-key-0123456789abcdef"
ADMIN = auth(ADMIN_KEY)
BRT = dt.timezone(dt.timedelta(hours=-3))


def at(hhmm: str, day: int = 2) -> dt.datetime:
    """An instant of March 2026, plant time (UTC-3)."""
    hours, minutes = map(int, hhmm.split(":"))
    return dt.datetime(2026, 3, day, hours, minutes, tzinfo=BRT)


def iso(value: dt.datetime) -> str:
    return value.isoformat()


def same_instant(text: str, value: dt.datetime) -> bool:
    return dt.datetime.fromisoformat(text) == value


@pytest.fixture
async def client(aiohttp_client, production_app, protheus_dsn, mes_dsn):
    app = production_app(
        protheus_dsn=protheus_dsn,
        mes_dsn=mes_dsn,
        api_keys=parse_api_keys(f"{KEYS};boss:{ADMIN_KEY}:admin"),
    )
    return await aiohttp_client(app)


@pytest.fixture
async def mes(mes_dsn) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(mes_dsn)
    for machine, line in (("M1", "linha1"), ("M2", "linha1"), ("M3", "linha2")):
        await conn.execute(
            "INSERT INTO machines (machine, site, area, line, last_seen) "
            "VALUES ($1, 'porto', 'usinagem', $2, now())",
            machine,
            line,
        )
    yield conn
    await conn.close()


async def listed(client: Any, **query: Any) -> dict[str, Any]:
    return await assert_envelope(
        await client.get(url(client, "stops_list", query), headers=READ), 200
    )


async def patch(client: Any, stop_id: uuid.UUID, body: dict[str, Any], status: int = 200) -> Any:
    resp = await client.patch(url(client, "stop_change", id=str(stop_id)), json=body, headers=WRITE)
    return await assert_envelope(resp, status)


async def stop_row(conn: asyncpg.Connection, stop_id: uuid.UUID) -> asyncpg.Record:
    return await conn.fetchrow("SELECT * FROM stops WHERE id = $1", stop_id)


# --- listing ----------------------------------------------------------------------------------


async def test_listing_filters_by_machine_line_window_and_status_and_pages(client, mes):
    a = await insert_stop(mes, machine="M1", start_at=at("08:00"), end_at=at("08:10"))
    b = await insert_stop(mes, machine="M1", start_at=at("09:00"), end_at=at("09:10"),
                          reason_code="01", classified_by="mapping", status="sending")  # fmt: skip
    c = await insert_stop(mes, machine="M2", start_at=at("10:00"), end_at=at("10:30"),
                          reason_code="02", status="retrying")  # fmt: skip
    d = await insert_stop(mes, machine="M3", start_at=at("11:00"))  # open
    e = await insert_stop(mes, machine="M2", start_at=at("07:00"), end_at=at("07:30"),
                          reason_code="01", status="delivered", id_appointment="000123")  # fmt: skip

    everything = await listed(client)
    assert [s["id"] for s in everything["data"]] == [str(x) for x in (d, c, b, a, e)]
    assert everything["total"] == 5
    first = everything["data"][-1]
    assert (first["machine"], first["reason"], first["reasonDescription"]) == (
        "M2", "01", "FALTA DE MATERIAL",
    )  # fmt: skip
    assert (first["status"], first["idAppointment"], first["durationSeconds"]) == (
        "delivered", "000123", 1800.0,
    )  # fmt: skip
    assert everything["data"][0]["end"] is None  # open
    assert everything["data"][0]["durationSeconds"] > 0  # so far

    assert [s["id"] for s in (await listed(client, machine="M1"))["data"]] == [str(b), str(a)]
    line = await listed(client, line="porto/usinagem/linha1")
    assert {s["machine"] for s in line["data"]} == {"M1", "M2"}
    assert line["total"] == 4
    assert (await listed(client, line="porto/usinagem/nenhuma"))["total"] == 0
    # Overlap: 09:05-10:15 touches b (09:00-09:10) and c (10:00-10:30); the open d starts later.
    window = await listed(client, **{"from": iso(at("09:05")), "to": iso(at("10:15"))})
    assert [s["id"] for s in window["data"]] == [str(c), str(b)]
    # An open stop overlaps every window after its start.
    late = await listed(client, **{"from": iso(at("23:00"))})
    assert [s["id"] for s in late["data"]] == [str(d)]
    # pending = pending, sending, retrying
    pending = await listed(client, status="pending")
    assert [s["id"] for s in pending["data"]] == [str(c), str(b)]
    assert [s["status"] for s in pending["data"]] == ["retrying", "sending"]
    assert [s["id"] for s in (await listed(client, status="open"))["data"]] == [str(d)]
    assert [s["id"] for s in (await listed(client, status="unclassified"))["data"]] == [str(a)]
    assert [s["id"] for s in (await listed(client, status="delivered"))["data"]] == [str(e)]

    page = await listed(client, page=2, page_size=2)
    assert (page["total"], page["page"], page["pageSize"], page["totalPages"]) == (5, 2, 2, 3)
    assert [s["id"] for s in page["data"]] == [str(b), str(a)]
    assert page["filters"] == {
        "machine": None, "line": None, "from": None, "to": None, "status": None,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"machine": "M1", "line": "porto/usinagem/linha1"}, "machine"),
        ({"line": "porto/usinagem"}, "line"),
        ({"status": "sending"}, "status"),
        ({"from": "2026-03-02T10:00:00-03:00", "to": "2026-03-02T09:00:00-03:00"}, "to"),
        ({"from": "2026-03-02T10:00:00"}, "from"),
    ],
)
async def test_bad_list_parameters_are_400_naming_them(client, mes, query, field):
    body = await assert_envelope(
        await client.get(url(client, "stops_list", query), headers=READ), 400
    )
    assert body["error"]["code"] == "invalid_parameter"
    assert body["error"]["details"][0]["field"] == field


# --- detail -----------------------------------------------------------------------------------


async def test_a_stop_comes_with_its_history_of_attempts(client, mes):
    stop_id = await insert_stop(
        mes, start_at=at("08:00"), end_at=at("08:30"), plc_reason="E7", reason_code="02",
        classified_by="mapping", status="retrying", attempts=2,
        next_attempt_at=at("09:00"), pushed_start=at("08:00"), pushed_end=at("08:30"),
    )  # fmt: skip
    await mes.execute(
        """INSERT INTO stop_attempts (stop_id, attempt, finished_at, outcome, http_status, message)
           VALUES ($1, 1, now(), 'not_sent', 503, 'HTTP 503'), ($1, 2, NULL, 'started', NULL, NULL)""",
        stop_id,
    )
    data = await assert_envelope(
        await client.get(url(client, "stop", id=str(stop_id)), headers=READ), 200
    )
    assert data["id"] == str(stop_id)
    assert (data["plcReason"], data["reason"], data["reasonDescription"]) == (
        "E7", "02", "MANUTENCAO CORRETIVA",
    )  # fmt: skip
    assert (data["status"], data["attempts"], data["classifiedBy"]) == ("retrying", 2, "mapping")
    assert same_instant(data["nextAttemptAt"], at("09:00"))
    assert same_instant(data["pushedStart"], at("08:00"))
    assert [(h["attempt"], h["outcome"], h["httpStatus"]) for h in data["history"]] == [
        (1, "not_sent", 503),
        (2, "started", None),
    ]
    assert data["history"][1]["finishedAt"] is None
    assert "splitInto" not in data
    missing = await assert_envelope(
        await client.get(url(client, "stop", id=str(uuid.uuid4())), headers=READ), 404
    )
    assert missing["error"]["code"] == "not_found"
    bad = await assert_envelope(await client.get(url(client, "stop", id="x"), headers=READ), 400)
    assert bad["error"]["details"][0] == {
        "field": "id", "rule": "format", "message": "deve ser um UUID.",
    }  # fmt: skip


# --- classification -----------------------------------------------------------------------------


async def test_classifying_an_unclassified_stop_makes_it_pending_and_queues_it(client, mes):
    stop_id = await insert_stop(mes, start_at=at("08:00"), end_at=at("08:30"), plc_reason="X")
    assert await outbox(mes) == set()
    data = await patch(client, stop_id, {"reason": "03", "operator": "OP01", "note": "troca"})
    assert (data["status"], data["reason"], data["reasonDescription"]) == (
        "pending", "03", "SETUP/TROCA DE FERRAMENTA",
    )  # fmt: skip
    assert (data["classifiedBy"], data["operator"], data["note"], data["manual"]) == (
        "person", "OP01", "troca", True,
    )  # fmt: skip
    assert await outbox(mes) == {stop_id}
    row = await stop_row(mes, stop_id)
    assert (row["status"], row["reason_code"], row["manual"]) == ("pending", "03", True)


async def test_an_offline_stop_may_be_classified_by_a_person(client, mes):
    stop_id = await insert_stop(mes, state="offline", start_at=at("08:00"), end_at=at("09:00"))
    data = await patch(client, stop_id, {"reason": "08"})
    assert (data["status"], data["state"]) == ("pending", "offline")
    assert await outbox(mes) == {stop_id}


async def test_reclassifying_a_pending_stop_keeps_one_outbox_row_and_what_was_not_sent(client, mes):
    stop_id = await insert_stop(mes, start_at=at("08:00"), end_at=at("08:30"), reason_code="01",
                                classified_by="mapping", operator="OP01", note="antes")  # fmt: skip
    await queue_stop(mes, stop_id)
    data = await patch(client, stop_id, {"reason": "04", "note": None})
    assert (data["status"], data["reason"], data["classifiedBy"]) == ("pending", "04", "person")
    assert (data["operator"], data["note"]) == ("OP01", None)  # absent kept, null cleared
    assert await mes.fetchval("SELECT count(*) FROM stop_outbox") == 1


async def test_a_retrying_stop_without_an_unknown_outcome_may_be_reclassified(client, mes):
    stop_id = await insert_stop(mes, start_at=at("08:00"), end_at=at("08:30"), reason_code="01",
                                status="retrying", attempts=1)  # fmt: skip
    await queue_stop(mes, stop_id)
    data = await patch(client, stop_id, {"reason": "02"})
    assert (data["status"], data["reason"]) == ("retrying", "02")


async def test_a_corrected_rejected_stop_goes_back_to_pending_and_is_queued(client, mes):
    stop_id = await insert_stop(mes, start_at=at("08:00"), end_at=at("08:30"), reason_code="01",
                                status="rejected", attempts=1,
                                error="Erro durante Inclusão do Apontamento de Parada!")  # fmt: skip
    data = await patch(client, stop_id, {"reason": "05", "operator": "OP02"})
    assert (data["status"], data["error"], data["reason"], data["attempts"]) == (
        "pending", None, "05", 1,
    )  # fmt: skip
    assert await outbox(mes) == {stop_id}


@pytest.mark.parametrize(
    ("status", "outbox_row"),
    [
        ("open", None),
        ("sending", None),
        ("delivered", None),
        ("reversed", None),
        ("pending", "leased"),
        ("retrying", "unknown"),
    ],
)
async def test_stops_that_must_not_change_are_409(client, mes, status, outbox_row):
    end = None if status == "open" else at("08:30")
    stop_id = await insert_stop(
        mes, start_at=at("08:00"), end_at=end, reason_code=None if status == "open" else "01",
        status=status,
    )  # fmt: skip
    now = dt.datetime.now(dt.UTC)
    if outbox_row == "leased":
        await queue_stop(mes, stop_id, leased_until=now + dt.timedelta(minutes=1))
    elif outbox_row == "unknown":
        await queue_stop(mes, stop_id, unknown_since=now)
    before = await stop_row(mes, stop_id)
    for body in ({"reason": "02"}, {"splitAt": iso(at("08:10"))}):
        error = await patch(client, stop_id, body, 409)
        assert error["error"]["code"] == "conflict"
    assert await stop_row(mes, stop_id) == before


async def test_an_unknown_or_retired_reason_is_422_and_changes_nothing(client, mes):
    stop_id = await insert_stop(mes, start_at=at("08:00"), end_at=at("08:30"))
    for reason in ("ZZ", "13"):  # 13 is a deleted CYN row of the demo
        error = await patch(client, stop_id, {"reason": reason}, 422)
        assert error["error"]["code"] == "unprocessable"
        assert error["error"]["details"][0]["field"] == "reason"
        assert error["error"]["details"][0]["rule"] == "unknown"
    assert (await stop_row(mes, stop_id))["status"] == "unclassified"
    assert await outbox(mes) == set()
    await patch(client, uuid.uuid4(), {"reason": "01"}, 404)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "reason"),
        ({"operator": "OP01"}, "reason"),
        ({"reason": "01", "splitAt": "2026-03-02T08:10:00-03:00"}, "splitAt"),
        ({"splitAt": "2026-03-02T08:10:00"}, "splitAt"),
        ({"reason": "01", "extra": 1}, "extra"),
    ],
)
async def test_bad_patch_bodies_are_400(client, mes, body, field):
    stop_id = await insert_stop(mes, start_at=at("08:00"), end_at=at("08:30"))
    error = await patch(client, stop_id, body, 400)
    assert error["error"]["code"] == "invalid_body"
    assert error["error"]["details"][0]["field"] == field


async def test_patch_needs_the_write_scope(client, mes):
    stop_id = await insert_stop(mes, start_at=at("08:00"), end_at=at("08:30"))
    resp = await client.patch(url(client, "stop_change", id=str(stop_id)), json={"reason": "01"},
                              headers=READ)  # fmt: skip
    assert (await assert_envelope(resp, 403))["error"]["code"] == "forbidden"


# --- split ------------------------------------------------------------------------------------


async def test_a_split_keeps_the_id_for_the_first_part_and_makes_a_new_second_one(client, mes):
    stop_id = await insert_stop(mes, state="fault", plc_reason="E1", start_at=at("08:00"),
                                end_at=at("09:00"))  # fmt: skip
    data = await patch(client, stop_id, {"splitAt": "2026-03-02T08:20:00-03:00"})
    first, second = (uuid.UUID(x) for x in data["splitInto"])
    assert first == stop_id
    assert second != stop_id
    assert data["id"] == str(stop_id)
    assert same_instant(data["end"], at("08:20"))
    assert data["durationSeconds"] == 1200.0
    rows = {r["id"]: r for r in await mes.fetch("SELECT * FROM stops")}
    assert len(rows) == 2
    assert (rows[first]["start_at"], rows[first]["end_at"]) == (at("08:00"), at("08:20"))
    assert (rows[second]["start_at"], rows[second]["end_at"]) == (at("08:20"), at("09:00"))
    for part in rows.values():
        assert (part["manual"], part["status"], part["state"], part["plc_reason"]) == (
            True, "unclassified", "fault", "E1",
        )  # fmt: skip
    assert await outbox(mes) == set()  # no reason yet: nothing to send
    # Each part is classified on its own afterwards.
    await patch(client, second, {"reason": "02"})
    assert await outbox(mes) == {second}


async def test_splitting_a_classified_stop_queues_both_parts(client, mes):
    stop_id = await insert_stop(mes, start_at=at("08:00"), end_at=at("09:00"), reason_code="01",
                                classified_by="mapping", status="rejected", error="recusado")  # fmt: skip
    data = await patch(client, stop_id, {"splitAt": iso(at("08:45"))})
    _, second = (uuid.UUID(x) for x in data["splitInto"])
    assert (data["status"], data["error"], data["reason"]) == ("pending", None, "01")
    new = await stop_row(mes, second)
    assert (new["status"], new["reason_code"], new["classified_by"]) == ("pending", "01", "mapping")
    assert await outbox(mes) == {stop_id, second}


@pytest.mark.parametrize("split_at", ["07:59", "08:00", "09:00", "09:30"])
async def test_a_split_outside_the_stop_is_400(client, mes, split_at):
    stop_id = await insert_stop(mes, start_at=at("08:00"), end_at=at("09:00"))
    error = await patch(client, stop_id, {"splitAt": iso(at(split_at))}, 400)
    assert error["error"]["details"][0]["field"] == "splitAt"
    assert error["error"]["details"][0]["rule"] == "range"
    assert await mes.fetchval("SELECT count(*) FROM stops") == 1


# --- reasons and mapping ---------------------------------------------------------------------


async def put_mapping(client: Any, mapping: Any, headers: dict[str, str], status: int) -> Any:
    resp = await client.put(
        url(client, "stop_reason_mapping"), json={"mapping": mapping}, headers=headers
    )
    return await assert_envelope(resp, status)


async def test_the_mapping_is_admin_only_checked_against_protheus_and_classifies_waiting_stops(
    client, mes
):
    waiting = await insert_stop(mes, start_at=at("08:00"), end_at=at("08:30"), plc_reason="E42")
    manual = await insert_stop(mes, start_at=at("09:00"), end_at=at("09:30"), plc_reason="E42",
                               manual=True)  # fmt: skip
    offline = await insert_stop(mes, state="offline", start_at=at("10:00"), end_at=at("10:30"),
                                plc_reason="E42")  # fmt: skip
    other = await insert_stop(mes, start_at=at("11:00"), end_at=at("11:30"), plc_reason="E9")

    forbidden = await put_mapping(client, {"E42": "02"}, WRITE, 403)
    assert forbidden["error"]["code"] == "forbidden"
    refused = await put_mapping(client, {"E42": "02", "E9": "ZZ", "E1": "13"}, ADMIN, 422)
    assert refused["error"]["code"] == "unprocessable"
    assert [(d["field"], d["rule"]) for d in refused["error"]["details"]] == [
        ("mapping.E1", "unknown"),
        ("mapping.E9", "unknown"),
    ]
    keys = await put_mapping(client, {" ": "01", "E\x01": "01", "x" * 101: "01"}, ADMIN, 422)
    assert [d["rule"] for d in keys["error"]["details"]] == ["plc_reason"] * 3
    assert await mes.fetchval("SELECT count(*) FROM stop_reason_mapping") == 0

    data = await put_mapping(client, {"E42": " 02 ", "fim": "01", "troca": "03"}, ADMIN, 200)
    assert data == {"mapping": {"E42": "02", "fim": "01", "troca": "03"}, "reclassified": 1}
    row = await stop_row(mes, waiting)
    assert (row["status"], row["reason_code"], row["classified_by"]) == ("pending", "02", "mapping")
    assert await outbox(mes) == {waiting}
    for untouched in (manual, offline, other):
        assert (await stop_row(mes, untouched))["status"] == "unclassified"

    # A replacement replaces: E42 is gone, E9 is new.
    data = await put_mapping(client, {"E9": "99"}, ADMIN, 200)
    assert data == {"mapping": {"E9": "99"}, "reclassified": 1}
    assert (await stop_row(mes, other))["reason_code"] == "99"

    reasons = await assert_envelope(
        await client.get(url(client, "stop_reasons"), headers=READ), 200
    )
    by_code = {r["code"]: r for r in reasons}
    assert [r["code"] for r in reasons] == sorted(by_code)
    assert by_code["99"] == {"code": "99", "description": "OUTROS", "plcReasons": ["E9"]}
    assert by_code["01"] == {"code": "01", "description": "FALTA DE MATERIAL", "plcReasons": []}
    assert "13" not in by_code  # a deleted CYN row

    bad = await put_mapping(client, ["E9"], ADMIN, 400)
    assert bad["error"]["code"] == "invalid_body"


# --- Pareto -----------------------------------------------------------------------------------
#
# Window 08:00-12:00 (plant time). Stops (M1, M2 on porto/usinagem/linha1; M3 on linha2):
#   a M1 07:30-08:30 stopped reason 01 -> clipped 08:00-08:30  1800 s
#   b M1 09:00-09:20 fault   reason 02                          1200 s
#   c M2 10:00-11:00 stopped reason 01                          3600 s
#   d M2 11:30-12:30 setup   no reason -> clipped 11:30-12:00   1800 s
#   e M3 08:00-08:10 fault   reason 02                           600 s
#   h M3 11:50-      offline no reason, open -> min(to, now)=12:00  600 s
#   f M1 12:00-12:10 reason 01: starts at `to`, outside; g M1 07:00-08:00 reason 99: ends at
#   `from`, outside.
# By reason, all machines: total 9600 s
#   01  a+c 5400 (2)  5400/9600 = 0.5625  cumulative 0.5625
#   --  d+h 2400 (2)  2400/9600 = 0.25    cumulative 0.8125
#   02  b+e 1800 (2)  1800/9600 = 0.1875  cumulative 1.0
# By machine: M2 5400 (0.5625, 0.5625), M1 3000 (0.3125, 0.875), M3 1200 (0.125, 1.0)
# By state, line linha1 (M1, M2): total 8400 s
#   stopped a+c 5400 (2) 0.642857 (5400/8400 = 0.6428571) cumulative 0.642857
#   setup   d   1800 (1) 0.214286 (0.2142857)             cumulative 0.857143 (7200/8400)
#   fault   b   1200 (1) 0.142857 (0.1428571)             cumulative 1.0
# By reason, machine M1: 01 1800 (0.6), 02 1200 (0.4, cumulative 1.0).

PARETO_WINDOW = {"from": "2026-03-02T08:00:00-03:00", "to": "2026-03-02T12:00:00-03:00"}


@pytest.fixture
async def downtime(mes) -> None:
    await insert_stop(mes, machine="M1", start_at=at("07:30"), end_at=at("08:30"), reason_code="01")
    await insert_stop(mes, machine="M1", state="fault", start_at=at("09:00"), end_at=at("09:20"),
                      reason_code="02")  # fmt: skip
    await insert_stop(mes, machine="M2", start_at=at("10:00"), end_at=at("11:00"), reason_code="01")
    await insert_stop(mes, machine="M2", state="setup", start_at=at("11:30"), end_at=at("12:30"))
    await insert_stop(mes, machine="M3", state="fault", start_at=at("08:00"), end_at=at("08:10"),
                      reason_code="02")  # fmt: skip
    await insert_stop(mes, machine="M3", state="offline", start_at=at("11:50"))
    await insert_stop(mes, machine="M1", start_at=at("12:00"), end_at=at("12:10"), reason_code="01")
    await insert_stop(mes, machine="M1", start_at=at("07:00"), end_at=at("08:00"), reason_code="99")


async def pareto(client: Any, **query: Any) -> dict[str, Any]:
    resp = await client.get(
        url(client, "downtime_pareto", {**PARETO_WINDOW, **query}), headers=READ
    )
    return await assert_envelope(resp, 200)


def rows(data: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [
        (r["key"], r["seconds"], r["count"], r["share"], r["cumulativeShare"]) for r in data["rows"]
    ]


async def test_pareto_by_reason_equals_the_hand_computation(client, downtime):
    data = await pareto(client)
    assert data["by"] == "reason"
    assert (data["totalSeconds"], data["totalCount"]) == (9600.0, 6)
    assert rows(data) == [
        ("01", 5400.0, 2, 0.5625, 0.5625),
        (None, 2400.0, 2, 0.25, 0.8125),
        ("02", 1800.0, 2, 0.1875, 1.0),
    ]
    assert [r["description"] for r in data["rows"]] == [
        "FALTA DE MATERIAL", None, "MANUTENCAO CORRETIVA",
    ]  # fmt: skip


async def test_pareto_by_machine_and_by_state_of_a_line(client, downtime):
    assert rows(await pareto(client, by="machine")) == [
        ("M2", 5400.0, 2, 0.5625, 0.5625),
        ("M1", 3000.0, 2, 0.3125, 0.875),
        ("M3", 1200.0, 2, 0.125, 1.0),
    ]
    data = await pareto(client, by="state", line="porto/usinagem/linha1")
    assert (data["line"], data["totalSeconds"]) == ("porto/usinagem/linha1", 8400.0)
    assert rows(data) == [
        ("stopped", 5400.0, 2, 0.642857, 0.642857),
        ("setup", 1800.0, 1, 0.214286, 0.857143),
        ("fault", 1200.0, 1, 0.142857, 1.0),
    ]
    assert [r["description"] for r in data["rows"]] == ["Parada", "Setup", "Falha"]
    assert rows(await pareto(client, machine="M1")) == [
        ("01", 1800.0, 1, 0.6, 0.6),
        ("02", 1200.0, 1, 0.4, 1.0),
    ]
    empty = await pareto(client, machine="M9")
    assert (empty["rows"], empty["totalSeconds"]) == ([], 0.0)


async def test_an_open_stop_counts_up_to_now_in_a_window_reaching_the_future(client, mes):
    now = dt.datetime.now(dt.UTC)
    await insert_stop(mes, start_at=now - dt.timedelta(minutes=10))
    data = await pareto(client, **{"from": iso(now - dt.timedelta(hours=1)),
                                   "to": iso(now + dt.timedelta(hours=1))})  # fmt: skip
    (row,) = data["rows"]
    assert 600.0 <= row["seconds"] < 660.0
    assert (row["share"], row["cumulativeShare"]) == (1.0, 1.0)


@pytest.mark.parametrize(
    "query",
    [
        {"from": None},
        {"by": "operator"},
        {"to": "2026-03-02T07:00:00-03:00"},
        {"from": "2025-01-01T00:00:00-03:00"},
    ],
)
async def test_bad_pareto_parameters_are_400(client, mes, query):
    params = {k: v for k, v in {**PARETO_WINDOW, **query}.items() if v is not None}
    resp = await client.get(url(client, "downtime_pareto", params), headers=READ)
    assert (await assert_envelope(resp, 400))["error"]["code"] == "invalid_parameter"


# --- the pure rules ---------------------------------------------------------------------------


def test_pareto_rows_sort_by_seconds_then_key_with_no_key_last():
    got = service.pareto_rows(
        [
            {"key": None, "seconds": 100.0, "count": 1},
            {"key": "B", "seconds": 100.0, "count": 2},
            {"key": "A", "seconds": 100.0, "count": 1},
            {"key": "C", "seconds": 300.0, "count": 3},
        ],
        {"A": "Alfa"},
    )
    assert [(r["key"], r["description"], r["share"], r["cumulative_share"]) for r in got] == [
        ("C", None, 0.5, 0.5),
        ("A", "Alfa", 0.166667, 0.666667),
        ("B", None, 0.166667, 0.833333),
        (None, None, 0.166667, 1.0),
    ]
    assert service.pareto_rows([], {}) == []


def test_mapping_refusals_name_each_bad_entry():
    details = service.mapping_refusals({"ok": "01", "E1": "77", "": "01", "x\ty": "01"}, {"01"})
    assert [(d.field, d.rule) for d in details] == [
        ("mapping.", "plc_reason"),
        ("mapping.E1", "unknown"),
        ("mapping.x\ty", "plc_reason"),
    ]


async def test_a_patch_waits_for_a_claim_in_progress_and_then_sees_the_lease(client, mes, mes_dsn):
    # The pusher claims an outbox row FOR UPDATE SKIP LOCKED and leases it in one transaction:
    # a PATCH arriving meanwhile waits for that transaction, then finds the stop leased.
    stop_id = await insert_stop(mes, start_at=at("08:00"), end_at=at("08:30"), reason_code="01")
    await queue_stop(mes, stop_id)
    pusher = await asyncpg.connect(mes_dsn)
    try:
        claim = pusher.transaction()
        await claim.start()
        await pusher.execute(
            "SELECT stop_id FROM stop_outbox WHERE stop_id = $1 FOR UPDATE SKIP LOCKED", stop_id
        )
        await pusher.execute(
            "UPDATE stop_outbox SET leased_until = now() + interval '1 minute', leased_by = 'p1' "
            "WHERE stop_id = $1",
            stop_id,
        )
        change = asyncio.ensure_future(patch(client, stop_id, {"reason": "02"}, 409))
        await asyncio.sleep(0.3)
        assert not change.done()  # waiting on the outbox row's lock
        await claim.commit()
        error = await asyncio.wait_for(change, 10)
        assert error["error"]["code"] == "conflict"
    finally:
        await pusher.close()
    assert (await stop_row(mes, stop_id))["reason_code"] == "01"

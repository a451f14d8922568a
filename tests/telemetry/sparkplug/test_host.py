"""The Sparkplug host through the ingestor's drain path (real PostgreSQL, no broker): births,
aliases, a restart, DATA without BIRTH, deaths, channels, the mapping, seq gaps."""

from __future__ import annotations

import datetime as dt
import time

import asyncpg
import pytest

from services.telemetry.sparkplug.host import Host
from services.telemetry.sparkplug.queries import claim_rebirths
from tests.support.sparkplug import (
    BASE_MS,
    DOUBLE,
    GROUP,
    INT32,
    NODE,
    STRING,
    UINT64,
    nbirth,
    ndeath,
    payload,
    topic,
)
from tests.support.sparkplug import feeders as make_feeders
from tests.support.sparkplug import metric as m
from tests.support.telemetry import rows


def at(ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC)


@pytest.fixture
async def feeders(mes_dsn, tmp_path):
    async for make in make_feeders(mes_dsn, str(tmp_path / "spool")):
        yield make


def dbirth(seq: int, ts: int = BASE_MS, **values: object) -> bytes:
    """Press1's DBIRTH: temp (alias 10), State (11), Reason (12), Count/Good (13),
    Count/Scrap (14), with the values given (state 'running' and zeros by default)."""
    return payload(
        m("temp", values.get("temp", 20.5), alias=10, datatype=DOUBLE),
        m("State", values.get("State", "running"), alias=11, datatype=STRING),
        m("Reason", values.get("Reason", ""), alias=12, datatype=STRING),
        m("Count/Good", values.get("good", 0), alias=13, datatype=UINT64),
        m("Count/Scrap", values.get("scrap", 0), alias=14, datatype=UINT64),
        seq=seq,
        ts=ts,
    )


async def born(feeder, *, bd_seq: int = 0) -> None:
    await feeder.feed(
        (topic("NBIRTH"), nbirth(m("Node/volts", 220.0, alias=1, datatype=DOUBLE), bd_seq=bd_seq)),
        (topic("DBIRTH", "Press1"), dbirth(1)),
    )


async def node_row(dsn: str) -> asyncpg.Record:
    return (await rows(dsn, "SELECT * FROM sparkplug_nodes WHERE edge_node = $1", NODE))[0]


async def samples(dsn: str, machine: str) -> list[tuple[str, float, dt.datetime]]:
    found = await rows(
        dsn, "SELECT metric, value, ts FROM telemetry_samples WHERE machine = $1 ORDER BY ts, metric",
        machine,
    )  # fmt: skip
    return [(r["metric"], r["value"], r["ts"]) for r in found]


async def states(dsn: str, machine: str) -> list[tuple[dt.datetime, str, str | None]]:
    found = await rows(
        dsn, "SELECT ts, state, reason FROM machine_states WHERE machine = $1 ORDER BY ts", machine
    )
    return [(r["ts"], r["state"], r["reason"]) for r in found]


async def dead(dsn: str) -> list[tuple[str, str]]:
    found = await rows(dsn, "SELECT topic, reason FROM telemetry_dead_letters ORDER BY id")
    return [(r["topic"], r["reason"]) for r in found]


async def test_births_then_alias_only_data_are_stored_under_the_machines_and_metric_names(
    mes_dsn, feeders
):
    feeder = await feeders()
    await born(feeder)
    await feeder.feed(
        (topic("DDATA", "Press1"), payload(m(alias=10, value=21.25, datatype=None, ts=BASE_MS + 1000), seq=2)),
        (topic("NDATA"), payload(m(alias=1, value=221.5, ts=BASE_MS + 2000), seq=3)),
    )  # fmt: skip
    assert await samples(mes_dsn, "Press1") == [
        ("Count/Good", 0.0, at(BASE_MS)),
        ("Count/Scrap", 0.0, at(BASE_MS)),
        ("temp", 20.5, at(BASE_MS)),
        ("temp", 21.25, at(BASE_MS + 1000)),
    ]
    # The node's own metrics: machine = edge node; bdSeq and Node Control are no samples.
    assert await samples(mes_dsn, NODE) == [
        ("Node/volts", 220.0, at(BASE_MS)),
        ("Node/volts", 221.5, at(BASE_MS + 2000)),
    ]
    machines = await rows(mes_dsn, "SELECT machine, site, area, line FROM machines ORDER BY 1")
    assert [tuple(r) for r in machines] == [
        ("GW1", GROUP, "sparkplug", NODE),
        ("Press1", GROUP, "sparkplug", NODE),
    ]
    assert await states(mes_dsn, "Press1") == [(at(BASE_MS), "running", None)]
    node = await node_row(mes_dsn)
    assert (node["online"], node["bd_seq"], node["birth_version"], node["last_seq"]) == (
        True, 0, 2, 3,
    )  # fmt: skip
    assert node["gap_since"] is None
    assert not node["rebirth_wanted"]
    aliases = await rows(mes_dsn, "SELECT device, name, alias, datatype FROM sparkplug_metrics")
    assert {tuple(r) for r in aliases if r["device"] == ""} == {
        ("", "bdSeq", None, UINT64), ("", "Node Control/Rebirth", None, 11), ("", "Node/volts", 1, DOUBLE),
    }  # fmt: skip
    assert ("Press1", "temp", 10, DOUBLE) in [tuple(r) for r in aliases]
    assert await dead(mes_dsn) == []


async def test_alias_only_data_after_a_restart_is_decoded_from_the_persisted_births(
    mes_dsn, feeders
):
    await born(await feeders())
    restarted = await feeders()  # a new Ingestor: nothing cached
    await restarted.feed(
        (topic("DDATA", "Press1"), payload(m(alias=10, value=30.0, ts=BASE_MS + 5000), seq=2))
    )
    assert ("temp", 30.0, at(BASE_MS + 5000)) in await samples(mes_dsn, "Press1")
    assert await dead(mes_dsn) == []


async def test_a_birth_seen_by_another_ingestor_is_read_again(mes_dsn, feeders):
    first, second = await feeders(), await feeders()
    await born(first)
    await first.feed(
        (topic("DDATA", "Press1"), payload(m(alias=10, value=1.0, ts=BASE_MS + 1), seq=2))
    )
    # The second ingestor births the device again with another alias table.
    await second.feed(
        (topic("DBIRTH", "Press1"), payload(m("speed", 5.0, alias=10, datatype=DOUBLE, ts=BASE_MS + 2), seq=3))
    )  # fmt: skip
    await first.feed(
        (topic("DDATA", "Press1"), payload(m(alias=10, value=6.0, ts=BASE_MS + 3), seq=4))
    )
    assert ("speed", 6.0, at(BASE_MS + 3)) in await samples(mes_dsn, "Press1")


async def test_data_before_any_birth_is_a_dead_letter_and_asks_a_rebirth(mes_dsn, feeders):
    feeder = await feeders()
    await feeder.feed((topic("DDATA", "Press9"), payload(m(alias=3, value=1.0, ts=BASE_MS), seq=7)))
    assert await dead(mes_dsn) == [
        (topic("DDATA", "Press9"), "DATA sem DBIRTH do dispositivo 'Press9'")
    ]
    node = await node_row(mes_dsn)
    assert node["rebirth_wanted"]
    assert node["last_seq"] == 7
    assert await rows(mes_dsn, "SELECT device, online FROM sparkplug_devices") == [
        ("Press9", False)
    ]
    await feeder.feed((topic("NDATA"), payload(m(alias=1, value=1.0, ts=BASE_MS), seq=8)))
    assert (await dead(mes_dsn))[-1][1] == "DATA sem NBIRTH do edge node"
    # The answering NBIRTH clears the request.
    await born(feeder)
    node = await node_row(mes_dsn)
    assert not node["rebirth_wanted"]
    assert node["online"]


async def test_an_alias_the_birth_did_not_declare_dead_letters_the_whole_message(mes_dsn, feeders):
    feeder = await feeders()
    await born(feeder)
    await feeder.feed(
        (topic("DDATA", "Press1"), payload(m(alias=10, value=50.0, ts=BASE_MS + 9), m(alias=99, value=1.0, ts=BASE_MS + 9), seq=2))
    )  # fmt: skip
    assert await dead(mes_dsn) == [(topic("DDATA", "Press1"), "alias 99 não declarado no BIRTH")]
    assert ("temp", 50.0, at(BASE_MS + 9)) not in await samples(mes_dsn, "Press1")
    assert (await node_row(mes_dsn))["rebirth_wanted"]


async def test_an_nbirth_drops_the_devices_tables_until_they_are_born_again(mes_dsn, feeders):
    feeder = await feeders()
    await born(feeder)
    await feeder.feed((topic("NBIRTH"), nbirth(bd_seq=1, ts=BASE_MS + 1000)))  # a later birth
    await feeder.feed(
        (topic("DDATA", "Press1"), payload(m(alias=10, value=1.0, ts=BASE_MS + 1), seq=1))
    )
    assert (await dead(mes_dsn))[-1][1] == "DATA sem DBIRTH do dispositivo 'Press1'"
    device = await rows(mes_dsn, "SELECT online FROM sparkplug_devices WHERE device = 'Press1'")
    assert device[0]["online"] is False
    assert await rows(
        mes_dsn, "SELECT count(*) FROM sparkplug_metrics WHERE device = 'Press1'"
    ) == [(0,)]


async def test_births_drained_out_of_order_keep_the_newest_tables(mes_dsn, feeders):
    """Two ingestors on a shared subscription: the node reconnects (NBIRTH bdSeq 1 at +10 s,
    DBIRTH at +11 s, the device's aliases changed) and the DBIRTH is drained first; then the
    old session's NBIRTH (bdSeq 0) comes last. The newest tables stand."""
    first, second = await feeders(), await feeders()
    await born(first, bd_seq=0)
    renamed = payload(m("speed", 5.0, alias=10, datatype=DOUBLE), seq=1, ts=BASE_MS + 11_000)
    await second.feed((topic("DBIRTH", "Press1"), renamed))
    await first.feed((topic("NBIRTH"), nbirth(bd_seq=1, ts=BASE_MS + 10_000)))
    await second.feed(
        (topic("DDATA", "Press1"), payload(m(alias=10, value=6.0, ts=BASE_MS + 12_000), seq=2))
    )
    assert ("speed", 6.0, at(BASE_MS + 12_000)) in await samples(mes_dsn, "Press1")
    device = await rows(mes_dsn, "SELECT online, birth_ts FROM sparkplug_devices")
    assert tuple(device[0]) == (True, at(BASE_MS + 11_000))
    # The old session's NBIRTH, drained last: stale, its table not taken, its values data.
    old = nbirth(m("Node/volts", 219.0, alias=1, datatype=DOUBLE), bd_seq=0, ts=BASE_MS + 5)
    await first.feed((topic("NBIRTH"), old))
    node = await node_row(mes_dsn)
    assert (node["bd_seq"], node["birth_ts"], node["online"]) == (1, at(BASE_MS + 10_000), True)
    assert ("Node/volts", 219.0, at(BASE_MS + 5)) in await samples(mes_dsn, NODE)
    await second.feed(
        (topic("DDATA", "Press1"), payload(m(alias=10, value=7.0, ts=BASE_MS + 13_000), seq=3))
    )
    assert ("speed", 7.0, at(BASE_MS + 13_000)) in await samples(mes_dsn, "Press1")
    assert first.ingestor.metrics.sparkplug_messages.labels("NBIRTH", "stale")._value.get() == 1
    assert await dead(mes_dsn) == []
    # A DBIRTH of the old session drained late: stale too.
    await second.feed((topic("DBIRTH", "Press1"), dbirth(1, ts=BASE_MS + 1)))
    await second.feed(
        (topic("DDATA", "Press1"), payload(m(alias=10, value=8.0, ts=BASE_MS + 14_000), seq=4))
    )
    assert ("speed", 8.0, at(BASE_MS + 14_000)) in await samples(mes_dsn, "Press1")
    assert await dead(mes_dsn) == []


async def test_a_birth_older_than_the_current_one_but_arriving_much_later_is_taken(
    mes_dsn, feeders
):
    """The node's clock went back: a birth that comes well after the current one is new."""
    feeder = await feeders()
    await feeder.feed((topic("NBIRTH"), nbirth(bd_seq=0, ts=BASE_MS + 60_000)))
    later = int(time.time() * 1000) + 120_000
    await feeder.feed((topic("NBIRTH"), nbirth(bd_seq=1, ts=BASE_MS)), received_ms=later)
    assert (await node_row(mes_dsn))["bd_seq"] == 1


async def test_an_ndeath_drained_before_its_nbirth_leaves_the_node_dead(mes_dsn, feeders):
    """The node reconnects (bdSeq 1) and dies at once; another ingestor drains its NDEATH
    before the NBIRTH and the DBIRTH: these are born dead, with `offline` at the death."""
    first, second = await feeders(), await feeders()
    await born(first, bd_seq=0)
    died = int(time.time() * 1000)
    await second.feed((topic("NDEATH"), ndeath(1)), received_ms=died)  # not bdSeq 0's
    assert (await node_row(mes_dsn))["online"]
    volts = m("Node/volts", 230.0, alias=1, datatype=DOUBLE)
    await first.feed((topic("NBIRTH"), nbirth(volts, bd_seq=1, ts=BASE_MS + 10_000)))
    node = await node_row(mes_dsn)
    assert (node["online"], node["bd_seq"], node["death_at"]) == (False, 1, at(died))
    assert node["pending_death_at"] is None
    assert (await states(mes_dsn, NODE))[-1] == (at(died), "offline", None)
    assert ("Node/volts", 230.0, at(BASE_MS + 10_000)) in await samples(mes_dsn, NODE)
    await first.feed((topic("DBIRTH", "Press1"), dbirth(1, ts=BASE_MS + 11_000)))
    assert await states(mes_dsn, "Press1") == [
        (at(BASE_MS), "running", None),
        (at(BASE_MS + 11_000), "running", None),
        (at(died), "offline", None),
    ]
    devices = await rows(mes_dsn, "SELECT online, death_at FROM sparkplug_devices")
    assert [tuple(r) for r in devices] == [(False, at(died))]
    assert await dead(mes_dsn) == []


async def test_a_pending_death_does_not_kill_a_birth_newer_than_it(mes_dsn, feeders):
    feeder = await feeders()
    await born(feeder, bd_seq=0)
    old_will = int(time.time() * 1000) - 1_800_000  # bdSeq 1's will, half an hour ago
    await feeder.feed((topic("NDEATH"), ndeath(1)), received_ms=old_will)
    # bdSeq 1 again (the counter wrapped), born after that death.
    await feeder.feed((topic("NBIRTH"), nbirth(bd_seq=1, ts=old_will + 60_000)))
    node = await node_row(mes_dsn)
    assert (node["online"], node["bd_seq"]) == (True, 1)


async def test_ndeath_with_the_current_bdseq_takes_the_node_and_its_devices_offline(
    mes_dsn, feeders
):
    feeder = await feeders()
    await born(feeder, bd_seq=4)
    await feeder.feed((topic("DBIRTH", "Press2"), dbirth(2)))
    received = BASE_MS + 60_000
    await feeder.feed((topic("NDEATH"), ndeath(3)), received_ms=received)  # stale: ignored
    assert (await node_row(mes_dsn))["online"]
    assert feeder.ingestor.metrics.sparkplug_stale_deaths._value.get() == 1
    await feeder.feed((topic("NDEATH"), ndeath(4)), received_ms=received)
    node = await node_row(mes_dsn)
    assert not node["online"]
    assert node["death_at"] == at(received)
    for machine in ("Press1", "Press2", NODE):  # the node has metrics of its own: a machine too
        assert (await states(mes_dsn, machine))[-1] == (at(received), "offline", None)
    devices = await rows(mes_dsn, "SELECT online FROM sparkplug_devices")
    assert {r["online"] for r in devices} == {False}
    # A repeated will changes nothing more.
    await feeder.feed((topic("NDEATH"), ndeath(4)), received_ms=received + 1000)
    assert len(await states(mes_dsn, "Press1")) == 2


async def test_a_stale_ndeath_after_a_reconnect_leaves_the_new_session_online(mes_dsn, feeders):
    feeder = await feeders()
    await born(feeder, bd_seq=0)
    await born(feeder, bd_seq=1)  # reconnected before the old will came
    await feeder.feed((topic("NDEATH"), ndeath(0)))
    node = await node_row(mes_dsn)
    assert node["online"]
    assert node["bd_seq"] == 1
    assert [s for _, s, _ in await states(mes_dsn, "Press1")] == ["running"]  # no offline


async def test_ddeath_marks_the_device_offline_at_its_timestamp(mes_dsn, feeders):
    feeder = await feeders()
    await born(feeder)
    await feeder.feed((topic("DDEATH", "Press1"), payload(seq=2, ts=BASE_MS + 7000)))
    assert (await states(mes_dsn, "Press1"))[-1] == (at(BASE_MS + 7000), "offline", None)
    device = await rows(mes_dsn, "SELECT online, death_at FROM sparkplug_devices")
    assert tuple(device[0]) == (False, at(BASE_MS + 7000))
    assert (await node_row(mes_dsn))["online"]


async def test_counters_count_the_increase_of_running_totals_and_a_reset_whole(mes_dsn, feeders):
    feeder = await feeders()
    await born(feeder)  # Good 0, Scrap 0: the first totals, only remembered

    def totals(seq: int, ts: int, good: int, scrap: int | None = None) -> tuple[str, bytes]:
        metrics = [m(alias=13, value=good, ts=ts)]
        if scrap is not None:
            metrics.append(m(alias=14, value=scrap, ts=ts))
        return topic("DDATA", "Press1"), payload(*metrics, seq=seq)

    await feeder.feed(
        totals(2, BASE_MS + 1000, 10, 1),
        totals(3, BASE_MS + 2000, 25),
        totals(4, BASE_MS + 3000, 4, 1),  # Good reset (the PLC restarted): counts 4 whole
        totals(5, BASE_MS + 2500, 24),  # older than the last total: nothing more to count
    )
    counters = await rows(
        mes_dsn, "SELECT ts, good, scrap FROM machine_counters WHERE machine = 'Press1' ORDER BY ts"
    )
    assert [tuple(r) for r in counters] == [
        (at(BASE_MS + 1000), 10, 1),
        (at(BASE_MS + 2000), 15, 0),
        (at(BASE_MS + 3000), 4, 0),
    ]
    # Every total is a sample too.
    good = [v for name, v, _ in await samples(mes_dsn, "Press1") if name == "Count/Good"]
    assert good == [0.0, 10.0, 25.0, 24.0, 4.0]


async def test_a_reason_alone_restates_the_last_state_and_a_state_takes_its_message_reason(
    mes_dsn, feeders
):
    feeder = await feeders()
    await born(feeder)
    await feeder.feed(
        (topic("DDATA", "Press1"), payload(m(alias=11, value="STOPPED", ts=BASE_MS + 1000), seq=2)),
        (topic("DDATA", "Press1"), payload(m(alias=12, value="R07", ts=BASE_MS + 1500), seq=3)),
        (topic("DDATA", "Press1"), payload(m(alias=11, value="fault", ts=BASE_MS + 2000), m(alias=12, value="E1", ts=BASE_MS + 2000), seq=4)),
    )  # fmt: skip
    assert await states(mes_dsn, "Press1") == [
        (at(BASE_MS), "running", None),
        (at(BASE_MS + 1000), "stopped", None),
        (at(BASE_MS + 1500), "stopped", "R07"),
        (at(BASE_MS + 2000), "fault", "E1"),
    ]
    # States and reasons are text: no samples of them.
    assert {name for name, _, _ in await samples(mes_dsn, "Press1")} == {
        "temp", "Count/Good", "Count/Scrap",
    }  # fmt: skip


async def test_a_reason_with_no_state_ever_is_only_remembered(mes_dsn, feeders):
    feeder = await feeders()
    await feeder.feed(
        (topic("NBIRTH"), nbirth()),
        (topic("DBIRTH", "P7"), payload(m("Reason", "R1", alias=1, datatype=STRING), seq=1, ts=BASE_MS)),
    )  # fmt: skip
    assert await states(mes_dsn, "P7") == []
    last = await rows(mes_dsn, "SELECT metric, text FROM sparkplug_last_values")
    assert [tuple(r) for r in last] == [("Reason", "R1")]


async def test_integer_states_go_through_state_codes_and_unknown_ones_are_dead_letters(
    mes_dsn, feeders
):
    feeder = await feeders(state_codes={0: "stopped", 1: "running"})
    await feeder.feed(
        (topic("NBIRTH"), nbirth()),
        (topic("DBIRTH", "P3"), payload(m("Line/State", 1, alias=1, datatype=INT32), m("t", 1.5, alias=2, datatype=DOUBLE), seq=1, ts=BASE_MS)),
        (topic("DDATA", "P3"), payload(m(alias=1, value=0, ts=BASE_MS + 1000), seq=2)),
        (topic("DDATA", "P3"), payload(m(alias=1, value=7, ts=BASE_MS + 2000), m(alias=2, value=2.5, ts=BASE_MS + 2000), seq=3)),
    )  # fmt: skip
    assert [s for _, s, _ in await states(mes_dsn, "P3")] == ["running", "stopped"]
    [(_, reason)] = await dead(mes_dsn)
    assert reason.startswith("métrica 'Line/State': estado '7' desconhecido")
    # The message's good metric is stored all the same; the integer states are samples.
    assert ("t", 2.5, at(BASE_MS + 2000)) in await samples(mes_dsn, "P3")
    assert ("Line/State", 0.0, at(BASE_MS + 1000)) in await samples(mes_dsn, "P3")


async def test_a_mapping_row_routes_a_device_and_the_default_convention_the_rest(mes_dsn, feeders):
    conn = await asyncpg.connect(mes_dsn)
    try:
        await conn.execute(
            "INSERT INTO sparkplug_mapping (group_id, edge_node, device, site, area, line, machine)"
            " VALUES ($1, $2, 'Press1', 'porto', 'estamparia', 'linha1', 'PRENS01')",
            GROUP, NODE,
        )  # fmt: skip
    finally:
        await conn.close()
    feeder = await feeders(area="chao")
    await born(feeder)
    await feeder.feed((topic("DBIRTH", "Lathe"), dbirth(2)))
    machines = await rows(mes_dsn, "SELECT machine, site, area, line FROM machines ORDER BY 1")
    assert [tuple(r) for r in machines] == [
        ("GW1", GROUP, "chao", NODE),
        ("Lathe", GROUP, "chao", NODE),
        ("PRENS01", "porto", "estamparia", "linha1"),
    ]
    assert await samples(mes_dsn, "Press1") == []
    assert ("temp", 20.5, at(BASE_MS)) in await samples(mes_dsn, "PRENS01")


async def test_bad_metrics_are_dead_lettered_once_and_the_good_ones_stored(mes_dsn, feeders):
    feeder = await feeders()
    long_name = "x" * 201
    await feeder.feed(
        (topic("NBIRTH"), nbirth()),
        (
            topic("DBIRTH", "P5"),
            payload(
                m("ok", 1.0, alias=1, datatype=DOUBLE, ts=BASE_MS),
                m("no time", 2.0, alias=2, datatype=DOUBLE),
                m("future", 3.0, alias=3, datatype=DOUBLE, ts=BASE_MS + 3 * 86_400_000),
                m(long_name, 4.0, alias=4, datatype=DOUBLE, ts=BASE_MS),
                m("label", "text", alias=5, datatype=STRING, ts=BASE_MS),
                m("blob", alias=6, datatype=17, ts=BASE_MS),
                seq=1,
            ),
        ),
    )
    assert await samples(mes_dsn, "P5") == [("ok", 1.0, at(BASE_MS))]
    [(_, reason)] = await dead(mes_dsn)
    assert "métrica 'no time': sem timestamp" in reason
    assert "métrica 'future': timestamp mais de um dia no futuro" in reason
    assert "com mais de 200 caracteres" in reason
    assert "métrica 'blob': tipo Bytes não é armazenado" in reason
    assert "label" not in reason  # a string that is no State/Reason is just not stored
    assert feeder.ingestor.metrics.sparkplug_ignored_metrics._value.get() == 1


async def test_a_device_name_unfit_for_a_machine_without_mapping_is_a_dead_letter(mes_dsn, feeders):
    feeder = await feeders()
    device = "D" * 65
    await feeder.feed((topic("NBIRTH"), nbirth()), (topic("DBIRTH", device), dbirth(1)))
    [(_, reason)] = await dead(mes_dsn)
    assert reason.startswith("máquina 'DDD")
    assert "sem mapeamento" in reason


async def test_a_seq_gap_is_recorded_and_healed_by_the_late_message(mes_dsn, feeders):
    feeder = await feeders()
    await born(feeder)

    def data(seq: int) -> tuple[str, bytes]:
        return topic("DDATA", "Press1"), payload(
            m(alias=10, value=float(seq), ts=BASE_MS + seq), seq=seq
        )

    await feeder.feed(data(2), data(5))
    node = await node_row(mes_dsn)
    assert sorted(node["missing"]) == [3, 4]
    assert node["gap_since"] is not None
    await feeder.feed(data(4), data(3))
    node = await node_row(mes_dsn)
    assert node["missing"] == []
    assert node["gap_since"] is None
    assert node["last_seq"] == 5
    assert len(await samples(mes_dsn, "Press1")) == 3 + 4


async def test_a_rejected_nbirth_leaves_the_seq_state_alone(mes_dsn, feeders):
    feeder = await feeders()
    await born(feeder)
    await feeder.feed(
        (topic("DDATA", "Press1"), payload(m(alias=10, value=1.0, ts=BASE_MS + 1), seq=2))
    )
    twice = nbirth(m("a", 1.0, alias=1, datatype=DOUBLE), m("a", 2.0, alias=2, datatype=DOUBLE))
    await feeder.feed((topic("NBIRTH"), twice))  # refused: a name declared twice
    assert (await dead(mes_dsn))[-1][1].startswith("métrica 'a' ou alias")
    await feeder.feed(
        (topic("DDATA", "Press1"), payload(m(alias=10, value=2.0, ts=BASE_MS + 2), seq=3))
    )
    node = await node_row(mes_dsn)
    assert (node["last_seq"], node["missing"], node["gap_since"]) == (3, [], None)


async def test_a_gap_dates_from_its_drain_not_from_the_messages_arrival(mes_dsn, feeders):
    """A drain lagging behind (the spool an hour deep) finds a gap now: the sweep waits
    reorder_s from there before asking a rebirth."""
    feeder = await feeders()
    await born(feeder)
    an_hour_ago = int(time.time() * 1000) - 3_600_000
    await feeder.feed(
        (topic("DDATA", "Press1"), payload(m(alias=10, value=1.0, ts=BASE_MS + 5), seq=5)),
        received_ms=an_hour_ago,
    )
    assert (await node_row(mes_dsn))["missing"] == [2, 3, 4]
    conn = await asyncpg.connect(mes_dsn)
    try:
        assert await claim_rebirths(conn, reorder_s=60) == []
    finally:
        await conn.close()


async def test_commands_state_and_garbage_are_told_apart(mes_dsn, feeders):
    feeder = await feeders()
    await feeder.feed(
        (topic("NCMD"), payload(m("Node Control/Rebirth", True, ts=BASE_MS))),
        ("spBv1.0/STATE/other", b'{"online": true, "timestamp": 1}'),
        (topic("NDATA"), b"\xff\xff not protobuf"),
        ("spBv1.0/Plant1/BOGUS/GW1", payload()),
    )
    assert [r for _, r in await dead(mes_dsn)] == [
        "payload Sparkplug B inválido (protobuf)",
        "tipo de mensagem Sparkplug 'BOGUS' desconhecido",
    ]
    counted = feeder.ingestor.metrics.sparkplug_messages
    assert counted.labels("NCMD", "ignored")._value.get() == 1
    assert counted.labels("STATE", "ignored")._value.get() == 1


async def test_a_mixed_batch_keeps_json_and_sparkplug_rows_in_one_transaction(mes_dsn, feeders):
    feeder = await feeders()
    iso = at(BASE_MS).isoformat()
    await feeder.feed(
        ("mes/v1/porto/a/l1/M1/telemetry", f'{{"ts": "{iso}", "metrics": {{"v": 1}}}}'.encode()),
        (topic("NBIRTH"), nbirth(m("Node/v", 2.0, datatype=DOUBLE))),
        ("mes/v1/porto/a/l1/M1/bad", b"{}"),
    )
    assert await samples(mes_dsn, "M1") == [("v", 1.0, at(BASE_MS))]
    assert await samples(mes_dsn, NODE) == [("Node/v", 2.0, at(BASE_MS))]
    assert len(await dead(mes_dsn)) == 1
    position = await rows(mes_dsn, "SELECT position FROM telemetry_spool_positions")
    assert position[0]["position"] == feeder.position


async def test_a_json_only_batch_does_not_reach_the_host(mes_dsn, feeders):
    feeder = await feeders()
    calls = []

    class Watching(Host):
        async def drain(self, conn, records):  # type: ignore[no-untyped-def]
            calls.append(len(records))
            return await super().drain(conn, records)

    feeder.ingestor.host = Watching(feeder.ingestor.settings.sparkplug, retention_days=90)
    iso = at(BASE_MS).isoformat()
    await feeder.feed(
        ("mes/v1/porto/a/l1/M1/telemetry", f'{{"ts": "{iso}", "metrics": {{"v": 1}}}}'.encode())
    )
    await feeder.feed((topic("NBIRTH"), nbirth()))
    assert calls == [1]


async def test_a_batch_retried_after_a_database_failure_starts_again_from_the_database(
    mes_dsn, feeders
):
    feeder = await feeders()
    failures = []
    write = feeder.ingestor.store.write

    async def failing_once(conn, batch, position=None):  # type: ignore[no-untyped-def]
        if not failures:
            failures.append(1)
            raise ConnectionResetError("the database went away")
        return await write(conn, batch, position)

    feeder.ingestor.store.write = failing_once  # type: ignore[method-assign]
    await born(feeder)  # the host applied the births, then the write failed: all rolled back
    assert failures == [1]
    assert feeder.ingestor.metrics.db_retries._value.get() == 1
    node = await node_row(mes_dsn)
    assert node["birth_version"] == 2  # NBIRTH and DBIRTH once, not twice
    assert await rows(
        mes_dsn, "SELECT count(*) FROM sparkplug_metrics WHERE device = 'Press1'"
    ) == [(5,)]
    await feeder.feed(
        (topic("DDATA", "Press1"), payload(m(alias=10, value=3.0, ts=BASE_MS + 1), seq=2))
    )
    assert ("temp", 3.0, at(BASE_MS + 1)) in await samples(mes_dsn, "Press1")


async def test_a_message_whose_host_state_the_database_refuses_is_dead_lettered_alone(
    mes_dsn, feeders
):
    feeder = await feeders()

    class Refusing(Host):
        async def drain(self, conn, records):  # type: ignore[no-untyped-def]
            if any("POISON" in r.topic for r in records):
                raise asyncpg.DataError("refused")
            return await super().drain(conn, records)

    feeder.ingestor.host = Refusing(feeder.ingestor.settings.sparkplug, retention_days=90)
    await feeder.feed(
        (topic("NBIRTH"), nbirth(m("Node/a", 1.0, datatype=DOUBLE))),
        (topic("DBIRTH", "POISON"), dbirth(1)),
        (topic("DBIRTH", "Press1"), dbirth(2)),
    )
    assert await dead(mes_dsn) == [(topic("DBIRTH", "POISON"), "recusado pelo banco: DataError")]
    assert ("temp", 20.5, at(BASE_MS)) in await samples(mes_dsn, "Press1")
    assert await samples(mes_dsn, NODE) == [("Node/a", 1.0, at(BASE_MS))]
    position = await rows(mes_dsn, "SELECT position FROM telemetry_spool_positions")
    assert position[0]["position"] == feeder.position


async def test_data_by_name_without_aliases_takes_the_births_datatypes(mes_dsn, feeders):
    feeder = await feeders()
    await feeder.feed(
        (topic("NBIRTH"), nbirth()),
        (topic("DBIRTH", "P8"), payload(m("rpm", -7, datatype=INT32), seq=1, ts=BASE_MS)),
        # No alias, no datatype: the name finds the birth's Int32 (two's complement).
        (topic("DDATA", "P8"), payload(m("rpm", -9, datatype=None, ts=BASE_MS + 1), seq=2)),
    )
    assert await samples(mes_dsn, "P8") == [
        ("rpm", -7.0, at(BASE_MS)),
        ("rpm", -9.0, at(BASE_MS + 1)),
    ]


async def test_template_and_dataset_metrics_are_flattened_into_named_samples(mes_dsn, feeders):
    feeder = await feeders()
    motor = m("Motor", datatype=19, ts=BASE_MS)
    motor.template_value.template_ref = "MotorType"
    member = motor.template_value.metrics.add()
    member.name, member.datatype, member.double_value = "Amps", DOUBLE, 4.5
    status = motor.template_value.metrics.add()
    status.name, status.datatype, status.string_value = "State", STRING, "fault"
    table = m("Table", datatype=16, ts=BASE_MS)
    table.dataset_value.num_of_columns = 2
    table.dataset_value.columns.extend(["a", "b"])
    table.dataset_value.types.extend([INT32, DOUBLE])
    row = table.dataset_value.rows.add()
    row.elements.add().int_value = 3
    row.elements.add().double_value = 0.25
    await feeder.feed(
        (topic("NBIRTH"), nbirth()),
        (topic("DBIRTH", "P9"), payload(motor, table, seq=1, ts=BASE_MS)),
    )
    assert await samples(mes_dsn, "P9") == [
        ("Motor/Amps", 4.5, at(BASE_MS)),
        ("Table/a", 3.0, at(BASE_MS)),
        ("Table/b", 0.25, at(BASE_MS)),
    ]
    # A Template member named State feeds the timeline ("<name>/State").
    assert await states(mes_dsn, "P9") == [(at(BASE_MS), "fault", None)]


async def test_the_rebirth_sweep_claims_a_node_once_per_reorder_window(mes_dsn):
    conn = await asyncpg.connect(mes_dsn)
    try:
        await conn.execute(
            "INSERT INTO sparkplug_nodes (group_id, edge_node, rebirth_wanted, gap_since) VALUES"
            " ('G', 'wanted', true, NULL), ('G', 'old-gap', false, now() - interval '10 s'),"
            " ('G', 'new-gap', false, now()), ('G', 'fine', false, NULL)"
        )
        assert sorted(await claim_rebirths(conn, reorder_s=5)) == [
            ("G", "old-gap"),
            ("G", "wanted"),
        ]
        assert await claim_rebirths(conn, reorder_s=5) == []  # asked within reorder_s
        await conn.execute("UPDATE sparkplug_nodes SET rebirth_at = now() - interval '6 s'")
        assert sorted(await claim_rebirths(conn, reorder_s=5)) == [
            ("G", "old-gap"),
            ("G", "wanted"),
        ]
        counts = await conn.fetch("SELECT edge_node, rebirths FROM sparkplug_nodes ORDER BY 1")
        assert [tuple(r) for r in counts] == [
            ("fine", 0),
            ("new-gap", 0),
            ("old-gap", 2),
            ("wanted", 2),
        ]
    finally:
        await conn.close()

"""The ingestor as a Sparkplug host through a real broker, with the edge-node simulator:
births and data, a restart, a seq gap answered by a rebirth, deaths by will, STATE, and a
SIGKILL of the ingestor mid-stream."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import signal
import sys
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiomqtt
import asyncpg
import orjson

from protheus_demo.edge import EdgeNode
from protheus_demo.edge.payload import SentMetric, encode
from services.telemetry.ingest.acks import ManualAckClient
from services.telemetry.ingest.ingestor import Ingestor
from services.telemetry.sparkplug.control import sweep_forever
from services.telemetry.sparkplug.proto import sparkplug_b_pb2 as pb
from shared.settings import SparkplugSettings
from tests.support.sparkplug import DOUBLE, expected_rows, metric, nbirth, stored_rows
from tests.support.telemetry import ROOT, publish, rows, wait_for_rows
from tests.telemetry.sparkplug.test_interop import encode_with_pysparkplug

GROUP = "Plant1"
START = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(hours=1)
SAMPLES = "SELECT count(*) FROM telemetry_samples"


async def settled(dsn: str, expected: int, sql: str = SAMPLES) -> None:
    """Wait for `expected` rows, then a little more: a wrong extra row would show too."""
    assert await wait_for_rows(dsn, sql, expected) == expected
    await asyncio.sleep(0.3)
    assert (await rows(dsn, sql))[0][0] == expected


async def test_an_edge_nodes_births_and_alias_only_data_become_rows(broker, mes_dsn, ingestors):
    await ingestors()
    async with EdgeNode(broker.url, GROUP, "GW1", ["Press1", "Press2"], 4, node_metrics=2) as node:
        for _ in range(12):
            await node.publish_data()
        await node.publish_node_data()
        samples, states, counters = expected_rows(node.published, "GW1")
        await settled(mes_dsn, len(samples))
        assert await stored_rows(mes_dsn) == (samples, states, counters)
    assert len(counters) > 0  # the seed makes the devices count
    machines = await rows(mes_dsn, "SELECT machine, site, area, line FROM machines ORDER BY 1")
    assert [tuple(r) for r in machines] == [
        ("GW1", GROUP, "sparkplug", "GW1"),
        ("Press1", GROUP, "sparkplug", "GW1"),
        ("Press2", GROUP, "sparkplug", "GW1"),
    ]
    # The clean NDEATH at the end: the node and its devices offline.
    offline = "SELECT count(*) FROM machine_states WHERE state = 'offline'"
    assert await wait_for_rows(mes_dsn, offline, 3) == 3


async def test_alias_only_data_after_an_ingestor_restart_is_decoded(broker, mes_dsn, ingestors):
    first = await ingestors()
    async with EdgeNode(broker.url, GROUP, "GW2", ["Lathe"], 3) as node:
        await settled(mes_dsn, 5)  # the DBIRTH's m0..m2, Count/Good, Count/Scrap
        await first.stop()
        await node.publish_data(values={"m0": 1.5})  # kept by the broker for the session
        await ingestors()  # same client id and spool: a restart
        await node.publish_data(values={"m0": 2.5})
        await settled(mes_dsn, 7)
    values = await rows(
        mes_dsn, "SELECT value FROM telemetry_samples WHERE metric = 'm0' ORDER BY ts"
    )
    assert [r["value"] for r in values][1:] == [1.5, 2.5]
    assert await rows(mes_dsn, "SELECT count(*) FROM telemetry_dead_letters") == [(0,)]


async def test_a_seq_gap_asks_a_rebirth_that_the_node_answers(broker, mes_dsn, ingestors):
    await ingestors(sparkplug=SparkplugSettings(reorder_s=0.3))
    async with EdgeNode(broker.url, GROUP, "GW3", ["Mill"], 2) as node:
        await node.publish_data()
        node.skip_seq(3)
        await node.publish_data()
        await node.wait_rebirths(1, seconds=20)
        healed = (
            "SELECT count(*) FROM sparkplug_nodes WHERE gap_since IS NULL AND missing = '{}' "
            "AND rebirths >= 1 AND birth_version >= 4 AND NOT rebirth_wanted"
        )
        assert await wait_for_rows(mes_dsn, healed, 1) == 1
    topic, body = node.commands[0]
    assert topic == f"spBv1.0/{GROUP}/NCMD/GW3"
    command = pb.Payload.FromString(body)
    assert [(m.name, m.datatype, m.boolean_value) for m in command.metrics] == [
        ("Node Control/Rebirth", 11, True)
    ]


async def edge_process(broker_url: str, node: str, device: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "protheus_demo.edge", "--mqtt-url", broker_url, "--group", GROUP,
        "--node", node, "--devices", device, "--metrics", "2", "--rate", "20",
        "--log-level", "WARNING", cwd=ROOT,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip


async def test_a_killed_edge_node_goes_offline_in_the_timeline(broker, mes_dsn, ingestors):
    await ingestors()
    process = await edge_process(broker.url, "GWK", "K1")
    try:
        count = "SELECT count(*) FROM telemetry_samples WHERE machine = 'K1'"
        assert await wait_for_rows(mes_dsn, count, 6) >= 6
    finally:
        process.send_signal(signal.SIGKILL)
        await process.wait()
    offline = "SELECT count(*) FROM machine_states WHERE machine = 'K1' AND state = 'offline'"
    assert await wait_for_rows(mes_dsn, offline, 1) == 1
    node = await rows(
        mes_dsn, "SELECT online, death_at FROM sparkplug_nodes WHERE edge_node = 'GWK'"
    )
    assert node[0]["online"] is False
    assert node[0]["death_at"] is not None


@contextlib.asynccontextmanager
async def watching(port: int, topic: str) -> AsyncIterator[asyncio.Queue[dict[str, object]]]:
    """The JSON messages (retained included) on `topic`, as they come."""
    found: asyncio.Queue[dict[str, object]] = asyncio.Queue()
    async with aiomqtt.Client("127.0.0.1", port, identifier=f"w-{uuid.uuid4().hex[:8]}") as client:
        await client.subscribe(topic, qos=1)

        async def read() -> None:
            async for message in client.messages:
                assert isinstance(message.payload, bytes)
                await found.put(orjson.loads(message.payload))

        reader = asyncio.create_task(read())
        try:
            yield found
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader


async def next_state(found: asyncio.Queue[dict[str, object]], online: bool) -> dict[str, object]:
    while True:
        state = await asyncio.wait_for(found.get(), 15)
        if state["online"] is online:
            return state


async def test_state_is_retained_online_after_connect_and_offline_after_a_clean_stop(
    broker, ingestors
):
    ingestor = await ingestors(sparkplug=SparkplugSettings(host_id="mes-a"))
    async with watching(broker.port, "spBv1.0/STATE/mes-a") as found:
        born = await next_state(found, True)
        assert born == {"online": True, "timestamp": ingestor._state_ms}
        await ingestor.stop()
        assert await next_state(found, False) == {"online": False, "timestamp": born["timestamp"]}
    # Retained: whoever subscribes later reads the host offline.
    async with watching(broker.port, "spBv1.0/STATE/mes-a") as found:
        assert (await asyncio.wait_for(found.get(), 10))["online"] is False


def ingestor_env(broker_url: str, dsn: str, spool: str, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "INGEST_SPOOL_DIR": spool, "MES_DB_URL": dsn, "MQTT_URL": broker_url,
        "MQTT_CLIENT_ID": f"ingestor-{uuid.uuid4().hex[:8]}", "INGEST_BATCH_SIZE": "50",
        "INGEST_FLUSH_S": "0.05", "LOG_LEVEL": "WARNING", "INGEST_DRAIN_MAX_LAG_S": "1", **extra,
    }  # fmt: skip


async def ingestor_process(env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.telemetry.ingest", cwd=ROOT, env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip


async def test_a_killed_ingestor_leaves_its_will_state_offline(broker, mes_dsn, tmp_path):
    env = ingestor_env(broker.url, mes_dsn, str(tmp_path / "spool"), SPARKPLUG_HOST_ID="mes-k")
    async with watching(broker.port, "spBv1.0/STATE/mes-k") as found:
        process = await ingestor_process(env)
        try:
            born = await next_state(found, True)
        finally:
            process.send_signal(signal.SIGKILL)
            await process.wait()
        assert await next_state(found, False) == {"online": False, "timestamp": born["timestamp"]}


async def wait_subscribed(broker, dsn: str) -> None:
    """MQTT routes nothing to a session that does not exist yet: a JSON probe stored says
    the ingestor's persistent session is subscribed."""
    probed = "SELECT count(*) FROM telemetry_samples WHERE machine = 'PROBE'"
    for attempt in range(100):
        ts = (START + dt.timedelta(seconds=attempt)).isoformat()
        await publish(broker, [("mes/v1/s/a/l/PROBE/telemetry", {"ts": ts, "metrics": {"v": 1}})])
        if await wait_for_rows(dsn, probed, 1, seconds=0.2):
            return
    raise AssertionError("the ingestor never subscribed")


async def test_sigkill_of_the_ingestor_mid_sparkplug_stream_loses_and_duplicates_nothing(
    broker, mes_dsn, tmp_path
):
    env = ingestor_env(broker.url, mes_dsn, str(tmp_path / "spool"))
    process = await ingestor_process(env)
    await wait_subscribed(broker, mes_dsn)
    total = 1500
    m0 = "SELECT count(*) FROM telemetry_samples WHERE machine = 'S1' AND metric = 'm0'"
    async with EdgeNode(broker.url, GROUP, "GWS", ["S1"], 2) as node:

        async def stream() -> None:
            for n in range(total):
                # A running total too: its increases (counter rows) must neither be lost
                # nor counted twice across the kill.
                await node.publish_data(values={"m0": float(n), "Count/Good": n})

        publisher = asyncio.create_task(stream())
        await wait_for_rows(mes_dsn, m0, 200, seconds=30)
        process.send_signal(signal.SIGKILL)
        await process.wait()
        stored_at_kill = (await rows(mes_dsn, m0))[0][0]
        await publisher
        assert stored_at_kill < total + 1  # the kill really landed mid-stream
        restarted = await ingestor_process(env)
        try:
            assert await wait_for_rows(mes_dsn, m0, total + 1, seconds=60) == total + 1
            samples, states, counters = expected_rows(node.published, "GWS")
            await settled(mes_dsn, len(samples) + 1)  # and the probe
        finally:
            restarted.terminate()
            await restarted.wait()
    values = await rows(
        mes_dsn, "SELECT value FROM telemetry_samples WHERE metric = 'm0' ORDER BY ts"
    )
    assert [r["value"] for r in values][1:] == [float(n) for n in range(total)]
    stored = await stored_rows(mes_dsn)
    assert stored[0] - {s for s in stored[0] if s[0] == "PROBE"} == samples
    assert stored[1:] == (states, counters)
    good = await rows(mes_dsn, "SELECT count(*), sum(good) FROM machine_counters")
    assert tuple(good[0]) == (total - 1, total - 1)  # +1 per message after the first total
    assert await rows(mes_dsn, "SELECT count(*) FROM telemetry_dead_letters") == [(0,)]


async def test_pysparkplug_payloads_make_the_rows_of_the_simulators_equivalent_messages(
    broker, mes_dsn, ingestors
):
    """Interop: NBIRTH, DBIRTH, alias-only DDATA and NDEATH encoded by pysparkplug (helper
    script in its own venv) and the same metrics encoded by the simulator's encoder, for
    another node and device, through the broker and the real ingestor: the same rows."""
    await ingestors()
    base = int((START.timestamp()) * 1000)
    encoded = encode_with_pysparkplug(
        "--group", GROUP, "--node", "GW-P", "--device", "PressP", "--timestamp", str(base)
    )
    theirs = [(m["topic"], bytes.fromhex(m["payload"])) for m in encoded["messages"]]
    ours = []
    for message in encoded["messages"]:
        sent = [
            SentMetric(
                m["name"] or "",
                m["alias"],
                m["datatype"],
                m["value"],
                m["timestamp"] if m["timestamp"] is not None else message["timestamp"],
            )
            for m in message["metrics"]
        ]
        data = message["type"] == "DDATA"
        body = encode(
            sent, timestamp=message["timestamp"], seq=message["seq"], names=not data,
            datatypes=not data,
        )  # fmt: skip
        topic = message["topic"].replace("/GW-P", "/GW-Q").replace("/PressP", "/PressQ")
        ours.append((topic, body))
    await publish(broker, theirs + ours)
    offline = "SELECT count(*) FROM machine_states WHERE state = 'offline'"
    assert await wait_for_rows(mes_dsn, offline, 2) == 2
    samples, states, counters = await stored_rows(mes_dsn)

    def of(machine: str, found: set[tuple]) -> set[tuple]:
        return {(None, *row[1:]) for row in found if row[0] == machine}

    assert of("PressP", samples) == of("PressQ", samples)
    # Every metric of the DBIRTH and of the DDATA but the State text.
    assert len(of("PressP", samples)) == 2 * 11
    assert of("PressP", states) == of("PressQ", states)
    assert {row[2] for row in of("PressP", states)} == {"running", "idle"}
    assert of("PressP", counters) == of("PressQ", counters)
    assert {row[2:] for row in of("PressP", counters)} == {(10, 1)}
    assert await rows(mes_dsn, "SELECT count(*) FROM telemetry_dead_letters") == [(0,)]


async def test_with_sparkplug_disabled_only_the_json_path_runs(broker, mes_dsn, ingestors):
    ingestor = await ingestors(sparkplug=SparkplugSettings(enabled=False, host_id="mes-off"))
    assert ingestor.topics == ["mes/v1/#"]
    async with EdgeNode(broker.url, GROUP, "GWX", ["X1"], 1):
        await publish(
            broker, [("mes/v1/s/a/l/J1/telemetry", {"ts": START.isoformat(), "metrics": {"v": 1}})]
        )
        await settled(mes_dsn, 1)
    assert await rows(mes_dsn, "SELECT count(*) FROM sparkplug_nodes") == [(0,)]
    assert await rows(mes_dsn, "SELECT count(*) FROM telemetry_dead_letters") == [(0,)]
    async with watching(broker.port, "spBv1.0/STATE/#") as found:
        await asyncio.sleep(0.5)
        assert found.empty()


def totals(counters: set[tuple]) -> dict[str, tuple[int, int]]:
    found: dict[str, tuple[int, int]] = {}
    for machine, _, good, scrap in counters:
        g, s = found.get(machine, (0, 0))
        found[machine] = (g + good, s + scrap)
    return found


async def test_two_ingestors_sharing_the_subscription_store_every_row_once(
    broker, mes_dsn, ingestors
):
    first = await ingestors(client_id="shared-a", group="g")
    assert first.topics == ["$share/g/mes/v1/#", "$share/g/spBv1.0/#"]
    async with EdgeNode(broker.url, GROUP, "GWH", ["H1", "H2", "H3"], 3) as node:
        # Births first, through one ingestor: a shared subscription hands the node's messages
        # to either ingestor, so a DBIRTH (or data) drained before its NBIRTH would be a dead
        # letter and a rebirth request, racing with the data below.
        born = "SELECT count(*) FROM sparkplug_devices WHERE online"
        assert await wait_for_rows(mes_dsn, born, 3) == 3
        await ingestors(client_id="shared-b", group="g")
        for _ in range(30):
            await node.publish_data()
        samples, states, counters = expected_rows(node.published, "GWH")
        await settled(mes_dsn, len(samples))
        stored = await stored_rows(mes_dsn)
        assert stored[:2] == (samples, states)
        # Two drains take a node's totals in either order: a total older than one already
        # counted counts nothing, the newer one counted the increase. The sums stay exact.
        assert totals(stored[2]) == totals(counters)
    assert await rows(mes_dsn, "SELECT count(*) FROM telemetry_dead_letters") == [(0,)]


async def test_a_gateway_that_births_on_seeing_the_host_online_is_heard_on_a_fresh_session(
    broker, mes_dsn, ingestors, monkeypatch
):
    """Gateways wait for their primary host's STATE online and birth right away: the host
    subscribes before saying it is online, however slow its SUBSCRIBE (delayed here)."""
    make_client = Ingestor._mqtt_client

    def slow_subscriber(self: Ingestor) -> ManualAckClient:
        client = make_client(self)
        subscribe = client.subscribe

        async def slow(*args: Any, **kwargs: Any) -> Any:
            await asyncio.sleep(0.3)  # a broker far away
            return await subscribe(*args, **kwargs)

        client.subscribe = slow  # type: ignore[method-assign]
        return client

    monkeypatch.setattr(Ingestor, "_mqtt_client", slow_subscriber)
    async with aiomqtt.Client("127.0.0.1", broker.port, identifier="gw-waiting") as gateway:
        await gateway.subscribe("spBv1.0/STATE/mes-p", qos=1)

        async def birth_on_online() -> None:
            async for message in gateway.messages:
                assert isinstance(message.payload, bytes)
                if orjson.loads(message.payload)["online"]:
                    body = nbirth(metric("Node/v", 1.0, datatype=DOUBLE))
                    await gateway.publish(f"spBv1.0/{GROUP}/NBIRTH/GWP", body, qos=1)
                    return

        waiting = asyncio.create_task(birth_on_online())
        await ingestors(sparkplug=SparkplugSettings(host_id="mes-p"))
        await asyncio.wait_for(waiting, 15)
    born = "SELECT count(*) FROM sparkplug_nodes WHERE edge_node = 'GWP' AND online"
    assert await wait_for_rows(mes_dsn, born, 1, seconds=5) == 1


async def test_sparkplug_disabled_on_a_session_that_had_it_skips_and_unsubscribes(
    broker, mes_dsn, ingestors
):
    """A persistent session created with Sparkplug keeps spBv1.0/# on the broker: restarted
    with it disabled, what was queued is skipped (not dead-lettered) and the filter dropped."""
    first = await ingestors()
    await first.stop()
    queued = [
        (f"spBv1.0/{GROUP}/NBIRTH/GWD", nbirth(metric("Node/v", 1.0, datatype=DOUBLE))),
        (f"spBv1.0/{GROUP}/NDATA/GWD", nbirth()),
    ]
    await publish(broker, queued)  # kept by the broker for the session
    ingestor = await ingestors(sparkplug=SparkplugSettings(enabled=False))
    probe = ("mes/v1/s/a/l/J2/telemetry", {"ts": START.isoformat(), "metrics": {"v": 1}})
    await publish(broker, [*queued, probe])  # the same publisher: the probe comes last
    await settled(mes_dsn, 1)
    ignored = ingestor.metrics.sparkplug_messages
    assert ignored.labels("NBIRTH", "ignored")._value.get() == 1  # the queued ones only
    assert ignored.labels("NDATA", "ignored")._value.get() == 1
    assert await rows(mes_dsn, "SELECT count(*) FROM telemetry_dead_letters") == [(0,)]
    assert await rows(mes_dsn, "SELECT count(*) FROM sparkplug_nodes") == [(0,)]


async def test_the_rebirth_sweep_outlives_an_unexpected_failure(broker, mes_dsn):
    conn = await asyncpg.connect(mes_dsn)
    try:
        await conn.execute(
            "INSERT INTO sparkplug_nodes (group_id, edge_node, rebirth_wanted) VALUES ('G', 'N', true)"
        )
    finally:
        await conn.close()
    calls: list[int] = []

    def flaky_now_ms() -> int:  # a fault of ours on the first request
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("bug")
        return int(time.time() * 1000)

    delays: list[float] = []

    async def sleep(delay: float) -> None:
        delays.append(delay)
        await asyncio.sleep(0.1)  # past reorder_s: the node claimed by the failure is due again

    asked = asyncio.Event()
    async with (
        asyncpg.create_pool(mes_dsn, min_size=0, max_size=1) as pool,
        aiomqtt.Client("127.0.0.1", broker.port, identifier="sweeper") as client,
    ):
        sweep = asyncio.create_task(
            sweep_forever(
                pool,
                client,
                reorder_s=0.05,
                now_ms=flaky_now_ms,
                counted=lambda n: asked.set(),
                sleep=sleep,
            )
        )
        try:
            waiting = asyncio.create_task(asked.wait())
            done, _ = await asyncio.wait(
                {sweep, waiting}, timeout=15, return_when="FIRST_COMPLETED"
            )
            assert done == {waiting}  # the sweep did not die, and asked at last
        finally:
            sweep.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweep
    assert delays[:2] == [0.025, 0.05]  # the wait after the failure doubled

"""The ingestor through a real broker: channels, batches, dedupe, dead letters, persistent session."""

from __future__ import annotations

import datetime as dt

from tests.support.telemetry import publish, rows, wait_for_rows

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
BASE = "mes/v1/porto/estamparia/linha1"


def iso(delta_s: float = 0) -> str:
    return (NOW + dt.timedelta(seconds=delta_s)).isoformat()


async def test_each_channel_and_batches_are_stored(broker, mes_dsn, ingestors):
    await ingestors()
    await publish(broker, [
        (f"{BASE}/PRENS1/telemetry", {"ts": iso(0), "metrics": {"temperature": 71.5, "running": True}}),
        (f"{BASE}/PRENS1/telemetry", [{"ts": iso(1), "metrics": {"temperature": 72}}, {"ts": iso(2), "metrics": {"temperature": 73}}]),
        (f"{BASE}/PRENS1/state", {"ts": iso(0), "state": "running"}),
        (f"{BASE}/PRENS1/state", {"ts": iso(5), "state": "fault", "reason": "E42"}),
        (f"{BASE}/PRENS1/counter", {"ts": iso(3), "good": 10, "scrap": 1, "order": "00010101001"}),
    ])  # fmt: skip
    assert await wait_for_rows(mes_dsn, "SELECT count(*) FROM telemetry_samples", 4) == 4
    samples = await rows(mes_dsn, "SELECT metric, value FROM telemetry_samples ORDER BY ts, metric")
    assert [(r["metric"], r["value"]) for r in samples] == [
        ("running", 1.0), ("temperature", 71.5), ("temperature", 72.0), ("temperature", 73.0)
    ]  # fmt: skip
    assert await wait_for_rows(mes_dsn, "SELECT count(*) FROM machine_states", 2) == 2
    assert await wait_for_rows(mes_dsn, "SELECT count(*) FROM machine_counters", 1) == 1
    states = await rows(mes_dsn, "SELECT state, reason FROM machine_states ORDER BY ts")
    assert [(s["state"], s["reason"]) for s in states] == [("running", None), ("fault", "E42")]
    counter = (await rows(mes_dsn, "SELECT good, scrap, order_key FROM machine_counters"))[0]
    assert (counter["good"], counter["scrap"], counter["order_key"]) == (10, 1, "00010101001")
    machine = (await rows(mes_dsn, "SELECT * FROM machines"))[0]
    assert (machine["machine"], machine["site"], machine["area"], machine["line"]) == (
        "PRENS1",
        "porto",
        "estamparia",
        "linha1",
    )
    assert machine["last_seen"] == NOW + dt.timedelta(seconds=5)


async def test_a_redelivered_message_is_stored_once_and_the_first_value_wins(
    broker, mes_dsn, ingestors
):
    await ingestors()
    message = (f"{BASE}/CORTE1/telemetry", {"ts": iso(0), "metrics": {"speed": 10}})
    await publish(
        broker,
        [message, message, (f"{BASE}/CORTE1/telemetry", {"ts": iso(0), "metrics": {"speed": 99}})],
    )
    await publish(broker, [(f"{BASE}/CORTE1/state", {"ts": iso(9), "state": "idle"})])
    await wait_for_rows(mes_dsn, "SELECT count(*) FROM machine_states", 1)
    samples = await rows(mes_dsn, "SELECT value FROM telemetry_samples")
    assert [s["value"] for s in samples] == [10.0]


async def test_times_without_offset_are_plant_time_and_epoch_ms_works(broker, mes_dsn, ingestors):
    await ingestors()
    local = (NOW.astimezone(dt.timezone(dt.timedelta(hours=-3)))).replace(
        tzinfo=None
    )  # America/Sao_Paulo, no DST
    await publish(broker, [
        (f"{BASE}/M1/telemetry", {"ts": local.isoformat(), "metrics": {"a": 1}}),
        (f"{BASE}/M1/telemetry", {"ts": int((NOW.timestamp() + 1) * 1000), "metrics": {"a": 2}}),
    ])  # fmt: skip
    await wait_for_rows(mes_dsn, "SELECT count(*) FROM telemetry_samples", 2)
    got = await rows(mes_dsn, "SELECT ts, value FROM telemetry_samples ORDER BY ts")
    assert [(r["ts"], r["value"]) for r in got] == [
        (NOW, 1.0),
        (NOW + dt.timedelta(seconds=1), 2.0),
    ]


async def test_what_does_not_fit_is_dead_lettered_with_its_reason(broker, mes_dsn, ingestors):
    await ingestors()
    bad = [
        ("mes/v1/porto/estamparia/M1/telemetry", {"ts": iso(), "metrics": {"a": 1}}, "tópico"),
        (f"{BASE}/M1/vibration", {"ts": iso(), "metrics": {"a": 1}}, "canal"),
        (f"{BASE}/M1/telemetry", b"{not json", "JSON"),
        (f"{BASE}/M1/telemetry", {"metrics": {"a": 1}}, "ts"),
        (f"{BASE}/M1/telemetry", {"ts": "yesterday", "metrics": {"a": 1}}, "ts inválido"),
        (f"{BASE}/M1/telemetry", {"ts": iso(3 * 86400), "metrics": {"a": 1}}, "futuro"),
        (f"{BASE}/M1/telemetry", {"ts": iso(-400 * 86400), "metrics": {"a": 1}}, "retenção"),
        (f"{BASE}/M1/telemetry", {"ts": iso(), "metrics": {}}, "metrics"),
        (f"{BASE}/M1/telemetry", {"ts": iso(), "metrics": {"a": "hot"}}, "número"),
        (f"{BASE}/M1/state", {"ts": iso(), "state": "dancing"}, "state"),
        (f"{BASE}/M1/counter", {"ts": iso(), "good": -1, "scrap": 0}, "good"),
        (f"{BASE}/M1/counter", {"ts": iso(), "good": 1.5, "scrap": 0}, "good"),
        (f"{BASE}/M1/telemetry", [], "vazio"),
        (f"{BASE}/M1/counter", {"ts": iso(), "good": 10**19, "scrap": 0}, "good"),  # beyond BIGINT
        (
            f"{BASE}/M1/state",
            {"ts": iso(), "state": "idle", "reason": "a\u0000b"},
            "controle",
        ),  # NUL
        (f"{BASE}/M1/telemetry", {"ts": iso(), "metrics": {"t\u0000": 1}}, "controle"),
    ]
    await publish(broker, [(topic, payload) for topic, payload, _ in bad])
    assert await wait_for_rows(
        mes_dsn, "SELECT count(*) FROM telemetry_dead_letters", len(bad)
    ) == len(bad)
    letters = await rows(mes_dsn, "SELECT topic, reason FROM telemetry_dead_letters ORDER BY id")
    for (topic, _, fragment), letter in zip(bad, letters, strict=True):
        assert letter["topic"] == topic
        assert fragment.lower() in letter["reason"].lower(), (fragment, letter["reason"])
    assert (await rows(mes_dsn, "SELECT count(*) FROM telemetry_samples"))[0][0] == 0
    # The stream goes on after all of them.
    await publish(broker, [(f"{BASE}/M1/telemetry", {"ts": iso(), "metrics": {"ok": 1}})])
    assert await wait_for_rows(mes_dsn, "SELECT count(*) FROM telemetry_samples", 1) == 1


async def test_the_alert_channel_is_acknowledged_not_stored_not_dead_lettered(
    broker, mes_dsn, ingestors
):
    """The analytics service publishes anomaly and risk alerts under mes/v1/.../alert."""
    await ingestors()
    alert = {"type": "anomaly", "event": "open", "id": "x", "machine": "M1", "ts": iso()}
    await publish(broker, [
        (f"{BASE}/M1/alert", alert),
        (f"{BASE}/M1/alert", b"not even json"),
        (f"{BASE}/M1/telemetry", {"ts": iso(), "metrics": {"ok": 1}}),
    ])  # fmt: skip
    # Messages are stored in order: once the sample is there, the alerts were handled.
    assert await wait_for_rows(mes_dsn, "SELECT count(*) FROM telemetry_samples", 1) == 1
    assert (await rows(mes_dsn, "SELECT count(*) FROM telemetry_dead_letters"))[0][0] == 0
    assert (await rows(mes_dsn, "SELECT count(*) FROM machine_states"))[0][0] == 0


async def test_a_bad_element_of_a_batch_goes_alone_and_the_stream_goes_on(
    broker, mes_dsn, ingestors
):
    await ingestors()
    await publish(broker, [
        (f"{BASE}/M2/telemetry", [{"ts": iso(0), "metrics": {"a": 1}}, {"ts": iso(1), "metrics": {"a": "x"}}, {"ts": iso(2), "metrics": {"a": 3}}]),
        (f"{BASE}/M2/telemetry", {"ts": iso(4), "metrics": {"a": 4}}),
    ])  # fmt: skip
    assert await wait_for_rows(mes_dsn, "SELECT count(*) FROM telemetry_samples", 3) == 3
    letters = await rows(mes_dsn, "SELECT payload FROM telemetry_dead_letters")
    assert len(letters) == 1
    assert b'"x"' in bytes(letters[0]["payload"])


async def test_messages_published_while_the_ingestor_is_away_arrive_later(
    broker, mes_dsn, ingestors
):
    first = await ingestors(client_id="ingestor-persistent")
    await first.stop()
    await publish(
        broker, [(f"{BASE}/M3/telemetry", {"ts": iso(n), "metrics": {"a": n}}) for n in range(50)]
    )
    await ingestors(client_id="ingestor-persistent")
    assert await wait_for_rows(mes_dsn, "SELECT count(*) FROM telemetry_samples", 50) == 50

"""Anomaly alerts through a real broker: the detector's open and close alerts reach a subscriber
on mes/v1/<site>/<area>/<line>/<machine>/alert, in order, marked published; alerts written
while the broker is down go out once it is back."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from typing import Any

import aiomqtt
import asyncpg
import pytest

from services.analytics.alerts.publisher import AlertPublisher
from services.analytics.anomalies.job import detect_until_caught_up
from shared.settings import AnalyticsSettings, AnomalySettings, Settings
from tests.analytics.test_anomaly_job import T0, message, series, write
from tests.support.telemetry import Broker


def settings(mes_dsn: str, broker: Broker) -> Settings:
    return Settings(
        mes_db_url=mes_dsn,
        analytics=AnalyticsSettings(
            mqtt_url=broker.url,
            mqtt_client_id="analytics-test",
            alert_poll_s=0.1,
            alert_backoff_max_s=0.3,
        ),
        anomaly=AnomalySettings(lag_s=5.0),
    )


async def collect(broker: Broker, count: int, got: list[tuple[str, dict[str, Any]]]) -> None:
    async with aiomqtt.Client("127.0.0.1", broker.port, identifier="alert-listener") as client:
        await client.subscribe("mes/v1/+/+/+/+/alert", qos=1)
        got.append(("subscribed", {}))
        async for msg in client.messages:
            got.append((str(msg.topic), json.loads(msg.payload)))
            if len(got) > count:
                return


async def wait_until(predicate: Any, seconds: float = 30) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_open_and_close_alerts_reach_a_subscriber(broker, mes_dsn):
    conn = await asyncpg.connect(mes_dsn)
    pool = await asyncpg.create_pool(mes_dsn, min_size=0, max_size=4)
    config = settings(mes_dsn, broker)
    publisher = AlertPublisher(pool, config)
    got: list[tuple[str, dict[str, Any]]] = []
    listener = asyncio.create_task(collect(broker, 2, got))
    try:
        await wait_until(lambda: got)
        points = series(1, T0, 100)
        points[60] = (points[60][0], 75.0)  # a spike: open and close
        await write(conn, message("M1", "temperature", points))
        await detect_until_caught_up(pool, config)
        await publisher.start()
        await asyncio.wait_for(listener, 30)
        alerts = got[1:]
        topic = "mes/v1/porto/usinagem/linha1/M1/alert"
        assert [(t, a["event"], a["kind"]) for t, a in alerts] == [
            (topic, "open", "spike"),
            (topic, "close", "spike"),
        ]
        assert alerts[0][1]["id"] == alerts[1][1]["id"]
        ids = await conn.fetch("SELECT id FROM alert_outbox ORDER BY id")
        assert [a["alertId"] for _, a in alerts] == [r["id"] for r in ids]
        assert alerts[0][1]["start"] == points[60][0].isoformat().replace("+00:00", "Z")
        await wait_until(lambda: publisher.published == 2)
        unpublished = await conn.fetchval(
            "SELECT count(*) FROM alert_outbox WHERE published_at IS NULL"
        )
        assert unpublished == 0
        assert publisher.status()["broker"] == "connected"
    finally:
        listener.cancel()
        await publisher.stop()
        await pool.close()
        await conn.close()


async def test_alerts_written_during_a_broker_outage_are_published_after_it(broker, mes_dsn):
    conn = await asyncpg.connect(mes_dsn)
    pool = await asyncpg.create_pool(mes_dsn, min_size=0, max_size=4)
    publisher = AlertPublisher(pool, settings(mes_dsn, broker))
    try:
        await broker.stop()
        await publisher.start()
        payload = {"type": "anomaly", "event": "open", "id": "x", "machine": "M9"}
        alert_id = await conn.fetchval(
            "INSERT INTO alert_outbox (machine, payload) VALUES ('M9', $1::jsonb) RETURNING id",
            json.dumps(payload),
        )
        await wait_until(lambda: publisher.last_error is not None)
        assert publisher.status()["broker"] == "disconnected"
        await asyncio.sleep(0.5)
        assert (
            await conn.fetchval("SELECT count(*) FROM alert_outbox WHERE published_at IS NULL") == 1
        )

        # The publisher retried all along; stopped while the listener subscribes (the alert
        # is not retained: it must not go out before), then started again.
        await publisher.stop()
        got: list[tuple[str, dict[str, Any]]] = []
        await broker.start()
        listener = asyncio.create_task(collect(broker, 1, got))
        await wait_until(lambda: got)
        await publisher.start()
        await asyncio.wait_for(listener, 30)
        assert got[1] == (
            "mes/v1/unknown/unknown/unknown/M9/alert",
            {**payload, "alertId": alert_id},
        )
        await wait_until(lambda: publisher.published == 1)
        published = await conn.fetchval("SELECT published_at FROM alert_outbox")
        assert isinstance(published, dt.datetime)
    finally:
        await publisher.stop()
        await pool.close()
        await conn.close()


class FailingAfter:
    """A real client whose publishes fail after the first `ok` (the broker lost mid-batch)."""

    def __init__(self, client: aiomqtt.Client, ok: int) -> None:
        self.client, self.ok = client, ok

    async def publish(self, topic: str, body: bytes, *, qos: int) -> None:
        if self.ok == 0:
            raise aiomqtt.MqttError("connection lost")
        self.ok -= 1
        await self.client.publish(topic, body, qos=qos)


async def test_a_publish_failing_mid_batch_keeps_the_marks_of_those_acknowledged(broker, mes_dsn):
    conn = await asyncpg.connect(mes_dsn)
    pool = await asyncpg.create_pool(mes_dsn, min_size=0, max_size=4)
    publisher = AlertPublisher(pool, settings(mes_dsn, broker))
    try:
        for n in range(4):
            await conn.execute(
                "INSERT INTO alert_outbox (machine, payload) VALUES ('M9', $1::jsonb)",
                json.dumps({"type": "anomaly", "event": "open", "id": str(n), "machine": "M9"}),
            )
        async with aiomqtt.Client("127.0.0.1", broker.port, identifier="flaky") as client:
            with pytest.raises(aiomqtt.MqttError):
                await publisher.publish_batch(FailingAfter(client, 2))  # type: ignore[arg-type]
        rows = await conn.fetch("SELECT payload, published_at FROM alert_outbox ORDER BY id")
        marked = [(json.loads(r["payload"])["id"], r["published_at"] is not None) for r in rows]
        assert marked == [("0", True), ("1", True), ("2", False), ("3", False)]
        assert publisher.published == 2
    finally:
        await pool.close()
        await conn.close()

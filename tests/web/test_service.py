"""The web service: its page and versioned files, the session route, the live event stream
(real PostgreSQL, the real app)."""

from __future__ import annotations

import asyncio
import datetime as dt
import gzip
import re
import uuid

import asyncpg
import pytest

from services.web.keys import BUNDLE, EVENT_FEED
from shared.keys import KEYRING
from tests.helpers import assert_envelope, auth
from tests.support.stops import insert_stop
from tests.web.support import (
    PRODUCTION_KEY,
    TELEMETRY_KEY,
    SseReader,
    insert_report,
    insert_state,
    web_app,
)


@pytest.fixture
async def client(aiohttp_client, mes_dsn):
    return await aiohttp_client(web_app(mes_dsn))


@pytest.fixture
async def mes(mes_dsn):
    conn = await asyncpg.connect(mes_dsn)
    yield conn
    await conn.close()


async def open_stream(client, key: str, **headers: str) -> SseReader:
    resp = await client.get("/api/v1/events", headers={**auth(key), **headers})
    assert resp.status == 200, await resp.text()
    assert resp.headers["Content-Type"].startswith("text/event-stream")
    assert resp.headers["X-Accel-Buffering"] == "no"
    assert resp.headers["Cache-Control"] == "no-cache"
    return SseReader(resp)


async def feed_started(client) -> None:
    """Wait for the poller's first tick (its watermarks are set from then on)."""
    feed = client.app[EVENT_FEED]
    for _ in range(300):
        if feed.polls >= 1:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the event poller never polled")


# --- the page and its files ------------------------------------------------------------


async def test_index_names_versioned_assets_and_is_never_cached(client):
    resp = await client.get("/")
    assert resp.status == 200
    assert resp.headers["Cache-Control"] == "no-cache"
    assert resp.content_type == "text/html"
    page = await resp.text()
    version = client.app[BUNDLE].version
    assert "__STATIC__" not in page
    assert f"/static/{version}/" in page
    for url in re.findall(r'(?:src|href)="(/static/[^"]+)"', page):
        assert url.startswith(f"/static/{version}/")
        asset = await client.get(url)
        assert asset.status == 200, url


async def test_static_files_are_immutable_and_typed(client):
    version = client.app[BUNDLE].version
    resp = await client.get(f"/static/{version}/app.js")
    assert resp.status == 200
    assert resp.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert resp.content_type == "text/javascript"
    assert resp.headers["ETag"]
    again = await client.get(
        f"/static/{version}/app.js", headers={"If-None-Match": resp.headers["ETag"]}
    )
    assert again.status == 304


async def test_another_version_or_unknown_file_is_404(client):
    version = client.app[BUNDLE].version
    stale = await client.get("/static/0123456789ab/app.js")
    await assert_envelope(stale, 404)
    missing = await client.get(f"/static/{version}/nao-existe.js")
    await assert_envelope(missing, 404)
    escape = await client.get(f"/static/{version}/../app.py")
    assert escape.status == 404


async def test_text_is_gzipped_when_the_client_accepts_it(client):
    resp = await client.get("/", headers={"Accept-Encoding": "gzip"}, auto_decompress=False)
    assert resp.status == 200
    assert resp.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in resp.headers["Vary"]
    page = gzip.decompress(await resp.read()).decode()
    assert "/static/" in page
    plain = await client.get("/", headers={"Accept-Encoding": "identity"})
    assert "Content-Encoding" not in plain.headers
    assert await plain.text() == page


async def test_page_and_files_need_no_key_and_health_answers(client):
    assert (await client.get("/")).status == 200
    assert (await client.get("/healthz")).status == 200
    doc = await client.get("/api/v1/web/openapi.json")
    assert doc.status == 200
    paths = (await doc.json())["paths"]
    assert "/api/v1/session" in paths
    assert "/api/v1/events" in paths


# --- the session -------------------------------------------------------------------------


async def test_session_returns_the_keys_name_and_scopes(client):
    data = await assert_envelope(
        await client.get("/api/v1/session", headers=auth(PRODUCTION_KEY)), 200
    )
    assert data == {"name": "operador", "scopes": ["production:read", "production:write"],
                    "timezone": "America/Sao_Paulo"}  # fmt: skip
    data = await assert_envelope(
        await client.get("/api/v1/session", headers={"X-API-Key": TELEMETRY_KEY}), 200
    )
    assert data == {"name": "painel", "scopes": ["telemetry:read"], "timezone": "America/Sao_Paulo"}


async def test_session_and_events_refuse_a_missing_or_wrong_key(client):
    await assert_envelope(await client.get("/api/v1/session"), 401)
    await assert_envelope(await client.get("/api/v1/session", headers=auth("nope" * 8)), 401)
    await assert_envelope(await client.get("/api/v1/events"), 401)
    # Never a key in the URL.
    await assert_envelope(await client.get(f"/api/v1/events?key={TELEMETRY_KEY}"), 401)


# --- the event stream --------------------------------------------------------------------


async def test_a_stored_state_arrives_as_a_machine_state_event(client, mes):
    await feed_started(client)
    stream = await open_stream(client, TELEMETRY_KEY)
    await insert_state(mes, "M01", "fault", reason="E42")
    event = await stream.until(lambda e: e.name == "machine.state")
    assert event.data["machine"] == "M01"
    assert event.data["state"] == "fault"
    assert event.data["reason"] == "E42"
    assert event.data["ts"].endswith("-03:00")  # plant time, with its offset
    assert event.id


async def test_events_are_filtered_by_the_keys_scopes(client, mes):
    await feed_started(client)
    telemetry = await open_stream(client, TELEMETRY_KEY)
    production = await open_stream(client, PRODUCTION_KEY)
    await insert_state(mes, "M02", "running")
    report_id = await insert_report(mes)
    # The production key sees the report, never the state; the telemetry key the reverse.
    got = await production.until(lambda e: e.name == "report.status")
    assert got.data == {"id": str(report_id), "order": "00000101001", "status": "pending",
                        "error": None}  # fmt: skip
    await telemetry.until(lambda e: e.name == "machine.state" and e.data["machine"] == "M02")
    await production.none_matching(lambda e: e.name == "machine.state", within=1.5)
    await telemetry.none_matching(lambda e: e.name == "report.status", within=0.5)


async def test_a_status_change_is_announced_once_per_change(client, mes):
    await feed_started(client)
    stream = await open_stream(client, PRODUCTION_KEY)
    report_id = await insert_report(mes)
    await stream.until(lambda e: e.data.get("id") == str(report_id))
    await mes.execute(
        "UPDATE production_reports SET status = 'rejected', error = 'Ordem encerrada',"
        " updated_at = now() WHERE id = $1",
        report_id,
    )
    got = await stream.until(lambda e: e.data.get("id") == str(report_id))
    assert got.data["status"] == "rejected"
    assert got.data["error"] == "Ordem encerrada"
    # Re-read windows never announce the same change twice.
    await stream.none_matching(lambda e: e.data.get("id") == str(report_id), within=1.5)


async def test_a_row_committed_after_a_later_one_is_not_missed(client, mes, mes_dsn):
    """A transaction that started first and commits last writes a change time below rows
    already announced: the watermark must not have passed it."""
    await feed_started(client)
    stream = await open_stream(client, TELEMETRY_KEY)
    slow = await asyncpg.connect(mes_dsn)
    try:
        tx = slow.transaction()
        await tx.start()
        await insert_state(slow, "SLOW", "setup")  # received_at = this transaction's start
        await asyncio.sleep(0.5)
        await insert_state(mes, "FAST", "running")
        await stream.until(lambda e: e.data.get("machine") == "FAST")
        await asyncio.sleep(1.0)  # several polls pass while the slow one is still open
        await tx.commit()
    finally:
        await slow.close()
    got = await stream.until(lambda e: e.data.get("machine") == "SLOW")
    assert got.data["state"] == "setup"


async def test_stops_anomalies_and_risk_are_announced_to_the_scopes_that_see_them(
    aiohttp_client, mes_dsn, mes
):
    # machine_risk (0028) holds the scorer's rows; its alert flag is alert_open.
    await mes.execute(
        "INSERT INTO risk_models (version, algorithm, card, blob)"
        " VALUES ('v1', 'logistic_regression', '{}', '\\x00')"
    )
    client = await aiohttp_client(web_app(mes_dsn))
    await feed_started(client)
    telemetry = await open_stream(client, TELEMETRY_KEY)
    production = await open_stream(client, PRODUCTION_KEY)
    now = dt.datetime.now(dt.UTC)
    stop_id = await insert_stop(
        mes, start_at=now - dt.timedelta(minutes=10), end_at=now, machine="S1",
        reason_code="07", classified_by="person",
    )  # fmt: skip
    anomaly_id = uuid.uuid4()
    await mes.execute(
        "INSERT INTO anomaly_events (id, machine, kind, metrics, started_at, score)"
        " VALUES ($1, 'A1', 'spike', ARRAY['temperature'], now(), 7.5)",
        anomaly_id,
    )
    await mes.execute(
        "INSERT INTO machine_risk (machine, hour, risk, model_version, alert_open)"
        " VALUES ('R1', date_trunc('hour', now()), 0.82, 'v1', true)"
    )
    stop = await production.until(lambda e: e.name == "stop.status")
    assert stop.data == {"id": str(stop_id), "machine": "S1", "status": "pending", "reason": "07"}
    anomaly = await telemetry.until(lambda e: e.name == "anomaly")
    assert anomaly.data == {"id": str(anomaly_id), "machine": "A1", "kind": "spike",
                            "status": "open"}  # fmt: skip
    risk = await telemetry.until(lambda e: e.name == "risk")
    assert risk.data == {"machine": "R1", "risk": 0.82, "alert": True}
    await mes.execute("UPDATE anomaly_events SET ended_at = now(), updated_at = now()")
    closed = await telemetry.until(lambda e: e.name == "anomaly")
    assert closed.data["status"] == "closed"
    # Neither key sees the other's channels.
    await production.none_matching(lambda e: e.name in {"anomaly", "risk"}, within=1.0)
    await telemetry.none_matching(lambda e: e.name == "stop.status", within=0.5)


async def test_last_event_id_resumes_without_duplicates(client, mes):
    await feed_started(client)
    stream = await open_stream(client, TELEMETRY_KEY)
    await insert_state(mes, "R01", "running")
    first = await stream.until(lambda e: e.data.get("machine") == "R01")
    stream.response.close()
    # While the client is away two more changes happen.
    await insert_state(mes, "R02", "idle")
    await insert_state(mes, "R03", "stopped")
    feed = client.app[EVENT_FEED]
    for _ in range(200):
        if any('"R03"' in e.data for e in feed.recent):
            break
        await asyncio.sleep(0.05)
    resumed = await open_stream(client, TELEMETRY_KEY, **{"Last-Event-ID": first.id or ""})
    machines = [(await resumed.next()).data["machine"] for _ in range(2)]
    assert machines == ["R02", "R03"]
    await resumed.none_matching(lambda e: e.data.get("machine") in {"R01", "R02", "R03"}, 1.0)


async def test_idle_stream_gets_keep_alive_comments(client):
    stream = await open_stream(client, TELEMETRY_KEY)
    await stream.none_matching(lambda e: True, within=2.5)
    assert any(c.startswith(": ping") for c in stream.comments)


async def test_a_client_that_falls_behind_is_dropped_not_the_poller(client, mes):
    await feed_started(client)
    feed = client.app[EVENT_FEED]
    # A subscriber that never reads (a stalled browser behind a full socket), with a small queue.
    normal, feed.client_queue = feed.client_queue, 2
    stalled = feed.subscribe(client.app[KEYRING].find(TELEMETRY_KEY))
    feed.client_queue = normal
    stream = await open_stream(client, TELEMETRY_KEY)
    for n in range(3):
        await insert_state(mes, f"D{n:02d}", "running")
    for n in range(3):
        await stream.until(lambda e, n=n: e.data.get("machine") == f"D{n:02d}")
    assert stalled.dropped
    assert stalled not in feed.subscribers
    assert feed.dropped_clients == 1
    # The poller goes on for the others.
    await insert_state(mes, "AFTER", "idle")
    await stream.until(lambda e: e.data.get("machine") == "AFTER")


def test_make_run_composes_the_web_service():
    from devserver.launcher import compose_app
    from shared.keys import HEALTH_CHECKS
    from shared.settings import Settings

    app = compose_app(Settings())
    names = {route.name for route in app.router.routes()}
    assert {"web_index", "web_static", "web_session", "web_events", "plant"} <= names
    assert "web_events" in {check.name for check in app[HEALTH_CHECKS]}
    assert EVENT_FEED not in app  # started with the app, not before


async def test_stopping_the_server_ends_open_streams(client):
    stream = await open_stream(client, TELEMETRY_KEY)
    await client.app.shutdown()  # what aiohttp runs first when the process stops
    with pytest.raises(EOFError):
        await stream.next(wait_s=5)


async def test_a_resume_with_more_missed_than_a_queue_holds_starts_afresh_with_reset(client, mes):
    """A client dropped for falling behind comes back with its Last-Event-ID: when more events
    follow it than a queue holds, it gets a `reset` (reload your data) and the live events
    from then on, not an empty stream that makes it reconnect forever with the same id."""
    await feed_started(client)
    feed = client.app[EVENT_FEED]
    feed.client_queue = 2
    stream = await open_stream(client, TELEMETRY_KEY)
    await insert_state(mes, "L00", "running")
    first = await stream.until(lambda e: e.data.get("machine") == "L00")
    stream.response.close()
    for n in range(1, 4):
        await insert_state(mes, f"L{n:02d}", "idle")
    for _ in range(200):
        if any('"L03"' in e.data for e in feed.recent):
            break
        await asyncio.sleep(0.05)
    resumed = await open_stream(client, TELEMETRY_KEY, **{"Last-Event-ID": first.id or ""})
    reset = await resumed.next()
    assert reset.name == "reset"
    assert reset.id == feed.recent[-1].id  # resuming from it again replays nothing
    await insert_state(mes, "L04", "fault")
    live = await resumed.next()
    assert live.data["machine"] == "L04"
    again = await open_stream(client, TELEMETRY_KEY, **{"Last-Event-ID": reset.id or ""})
    assert (await again.next()).data["machine"] == "L04"


@pytest.mark.parametrize("last_id", ["00000000-5", "garbage", "{epoch}-0"])
async def test_an_unknown_or_too_old_last_event_id_gets_reset(client, mes, last_id):
    await feed_started(client)
    feed = client.app[EVENT_FEED]
    for _ in range(3):  # older events than the id asks for left the buffer
        feed.publish(feed._event(feed.channels[0], {"machine": "X", "state": "idle"}))
    feed.recent.popleft()
    stream = await open_stream(
        client, TELEMETRY_KEY, **{"Last-Event-ID": last_id.format(epoch=feed.epoch)}
    )
    reset = await stream.next()
    assert reset.name == "reset"
    assert reset.data == {}
    await insert_state(mes, "U01", "running")
    assert (await stream.until(lambda e: e.name == "machine.state")).data["machine"] == "U01"


async def test_more_rows_of_one_instant_than_a_batch_are_all_announced(client, mes, monkeypatch):
    from services.web.events import feed as feed_module

    monkeypatch.setattr(feed_module, "BATCH_ROWS", 3)
    await feed_started(client)
    stream = await open_stream(client, TELEMETRY_KEY)
    async with mes.transaction():  # one received_at (the transaction's start) for all
        for n in range(8):
            await insert_state(mes, f"B{n:02d}", "running")
    got = set()
    while len(got) < 8:
        event = await stream.until(lambda e: e.name == "machine.state")
        got.add(event.data["machine"])
    assert got == {f"B{n:02d}" for n in range(8)}


async def test_a_poll_failing_partway_keeps_the_events_already_read(client, mes):
    await feed_started(client)
    feed = client.app[EVENT_FEED]
    stream = await open_stream(client, TELEMETRY_KEY)
    anomaly = feed.channels[3]
    good_sql, anomaly.sql = anomaly.sql, "SELECT no_such_column FROM anomaly_events"
    try:
        await insert_state(mes, "P01", "setup")
        await stream.until(lambda e: e.data.get("machine") == "P01")
        for _ in range(100):  # the polls did fail, after reading the states
            if feed.last_error is not None:
                break
            await asyncio.sleep(0.05)
        assert feed.last_error is not None
    finally:
        anomaly.sql = good_sql

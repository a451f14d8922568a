"""Rollups (migration 0021, services/analytics/rollups): rows written through TelemetryStore.write
as the ingestor writes them; the rollups must equal what the raw rows and /api/v1/oee say."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from services.analytics.app import create_app as analytics_app
from services.analytics.rollups import queries, service
from services.analytics.rollups.service import OeeSetup
from services.telemetry.ingest.parse import Parsed
from services.telemetry.ingest.store import TelemetryStore
from services.telemetry.query.service import utc_now
from shared.keys import MES_POOL, PROTHEUS_CONTEXT, SETTINGS
from shared.settings import AnalyticsSettings, Settings
from tests.analytics.test_bi import as_bi
from tests.helpers import NO_AUDIT, assert_envelope
from tests.support.analytics import BI_PASSWORD
from tests.support.telemetry_query import PLANT, READ, ProtheusRows, query_app
from tests.support.urls import url

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)
approx = pytest.approx
ROLLUP_TABLES = (
    "rollup_telemetry_1m", "rollup_telemetry_1h", "rollup_oee_hourly",
    "rollup_dirty_minutes", "rollup_dirty_hours", "rollup_dirty_spans",
)  # fmt: skip


def hour_of(ts: dt.datetime) -> dt.datetime:
    return EPOCH + (ts - EPOCH) // HOUR * HOUR


# Four whole hours ago: every test's rows are recent (the OEE rollup runs up to now).
H0 = hour_of(utc_now()) - 4 * HOUR


def parsed(
    machine: str,
    *,
    samples: list[tuple[str, dt.datetime, float]] = (),  # type: ignore[assignment]
    states: list[tuple[dt.datetime, str, str | None]] = (),  # type: ignore[assignment]
    counters: list[tuple[dt.datetime, int, int, str | None]] = (),  # type: ignore[assignment]
) -> Parsed:
    """One machine's message as the parser gives it."""
    times = [ts for _, ts, _ in samples] + [ts for ts, *_ in states] + [ts for ts, *_ in counters]
    return Parsed(
        machine=(machine, "porto", "usinagem", "linha1", max(times)),
        samples=[(machine, metric, ts, value) for metric, ts, value in samples],
        states=[(machine, ts, state, reason) for ts, state, reason in states],
        counters=[(machine, ts, good, scrap, order) for ts, good, scrap, order in counters],
        sample_days={ts.astimezone(dt.UTC).date() for _, ts, _ in samples},
    )


@pytest.fixture
async def mes(mes_dsn) -> AsyncIterator[tuple[asyncpg.Connection, asyncpg.Pool]]:
    conn = await asyncpg.connect(mes_dsn)
    pool = await asyncpg.create_pool(mes_dsn, min_size=0, max_size=4)
    yield conn, pool
    await pool.close()
    await conn.close()


def random_samples(seed: int, count: int) -> list[Parsed]:
    """`count` samples of two machines and two metrics over three hours from H0, in messages
    of 50 samples."""
    rng = random.Random(seed)
    messages = []
    for _ in range(count // 50):
        machine = rng.choice(("M1", "M2"))
        points = [
            (
                rng.choice(("temp", "rpm")),
                H0 + dt.timedelta(milliseconds=rng.randrange(3 * 3600 * 1000)),
                round(rng.uniform(-50, 150), 3),
            )
            for _ in range(50)
        ]
        messages.append(parsed(machine, samples=points))
    return messages


RAW = """
SELECT machine, metric, date_bin(CAST($1 AS interval), ts, TIMESTAMPTZ '1970-01-01 00:00+00') AS bucket,
       min(value) AS min, max(value) AS max, sum(value) AS sum, count(*) AS count
FROM telemetry_samples GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
"""


async def rollup(conn: asyncpg.Connection, table: str) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"SELECT machine, metric, bucket, min_value AS min, max_value AS max, sum_value AS sum,"
        f" samples AS count FROM {table} ORDER BY 1, 2, 3"
    )


def assert_same_aggregates(rolled: list[asyncpg.Record], raw: list[asyncpg.Record]) -> None:
    assert [(r["machine"], r["metric"], r["bucket"]) for r in rolled] == [
        (r["machine"], r["metric"], r["bucket"]) for r in raw
    ]
    for got, want in zip(rolled, raw, strict=True):
        assert (got["min"], got["max"], got["count"]) == (want["min"], want["max"], want["count"])
        assert got["sum"] == approx(want["sum"], rel=1e-12)


async def test_telemetry_rollups_equal_the_raw_aggregates(mes):
    conn, pool = mes
    store = TelemetryStore()
    for message in random_samples(15, 5_000):
        await store.write(conn, [message])
    assert await queries.pending_marks(conn) != (0, 0, 0)

    assert await service.roll_telemetry(pool, batch=50) > 0  # several batches
    assert (await queries.pending_marks(conn))["minutes"] == 0
    assert_same_aggregates(
        await rollup(conn, "rollup_telemetry_1m"), await conn.fetch(RAW, dt.timedelta(minutes=1))
    )
    assert_same_aggregates(await rollup(conn, "rollup_telemetry_1h"), await conn.fetch(RAW, HOUR))

    # The views: avg = sum / count, local times in the plant's zone the service wrote.
    await conn.execute("INSERT INTO analytics_src.plant (timezone) VALUES ('America/Sao_Paulo')")
    row = await conn.fetchrow(
        "SELECT v.*, r.sum_value, r.bucket FROM analytics.telemetry_1h v JOIN rollup_telemetry_1h r"
        " ON r.machine = v.machine AND r.metric = v.metric"
        " AND v.bucket_utc = r.bucket AT TIME ZONE 'UTC' LIMIT 1"
    )
    assert row["avg"] == approx(row["sum_value"] / row["count"])
    assert row["bucket_utc"] == row["bucket"].replace(tzinfo=None)
    assert row["bucket_local"] == row["bucket"].astimezone(PLANT).replace(tzinfo=None)
    assert row["date_local"] == row["bucket"].astimezone(PLANT).date()


async def test_a_redelivered_batch_changes_nothing(mes):
    conn, pool = mes
    store = TelemetryStore()
    batch = random_samples(16, 2_000)
    await store.write(conn, batch)
    await service.roll_telemetry(pool)
    before = (await rollup(conn, "rollup_telemetry_1m"), await rollup(conn, "rollup_telemetry_1h"))

    # The same keys again, some with other values (the first stored value wins): nothing is
    # inserted, nothing marked, nothing changes.
    again = [
        parsed(
            m.samples[0][0], samples=[(metric, ts, value + 1) for _, metric, ts, value in m.samples]
        )
        for m in batch[:10]
    ]
    await store.write(conn, batch + again)
    assert await queries.pending_marks(conn) == (0, 0, 0)
    await service.roll_telemetry(pool)
    after = (await rollup(conn, "rollup_telemetry_1m"), await rollup(conn, "rollup_telemetry_1h"))
    assert after == before


async def test_a_late_sample_fixes_its_minute_and_hour(mes):
    conn, pool = mes
    store = TelemetryStore()
    await store.write(conn, random_samples(17, 1_000))
    await service.roll_telemetry(pool)
    minutes = {
        (r["machine"], r["metric"], r["bucket"]): r
        for r in await rollup(conn, "rollup_telemetry_1m")
    }
    hours = {
        (r["machine"], r["metric"], r["bucket"]): r
        for r in await rollup(conn, "rollup_telemetry_1h")
    }

    key = next(iter(minutes))
    machine, metric, minute = key
    late = minute + dt.timedelta(seconds=59, microseconds=999_000)
    await store.write(conn, [parsed(machine, samples=[(metric, late, 1_000.0)])])
    marked = await conn.fetch("SELECT machine, metric, bucket FROM rollup_dirty_minutes")
    assert [tuple(r) for r in marked] == [key]
    await service.roll_telemetry(pool)

    new_minutes = {
        (r["machine"], r["metric"], r["bucket"]): r
        for r in await rollup(conn, "rollup_telemetry_1m")
    }
    new_hours = {
        (r["machine"], r["metric"], r["bucket"]): r
        for r in await rollup(conn, "rollup_telemetry_1h")
    }
    assert new_minutes[key]["count"] == minutes[key]["count"] + 1
    assert new_minutes[key]["max"] == 1_000.0
    assert new_minutes[key]["sum"] == approx(minutes[key]["sum"] + 1_000.0)
    hour_key = (machine, metric, hour_of(minute))
    assert new_hours[hour_key]["count"] == hours[hour_key]["count"] + 1
    assert new_hours[hour_key]["max"] == 1_000.0
    # Every other bucket as it was.
    assert {k: v for k, v in new_minutes.items() if k != key} == {
        k: v for k, v in minutes.items() if k != key
    }
    assert {k: v for k, v in new_hours.items() if k != hour_key} == {
        k: v for k, v in hours.items() if k != hour_key
    }


async def test_a_mark_set_again_while_the_job_computes_stays(mes):
    conn, pool = mes
    store = TelemetryStore()
    await store.write(conn, [parsed("M1", samples=[("temp", H0, 1.0)])])
    marks = await queries.minute_marks(conn, limit=10, ceiling=await queries.mark_ceiling(conn))
    # An ingest marks the same minute again before the job deletes the marks it read.
    await store.write(conn, [parsed("M1", samples=[("temp", H0 + dt.timedelta(seconds=1), 2.0)])])
    async with conn.transaction():
        assert await queries.refresh_telemetry(conn, marks=marks) == 0
    assert (await queries.pending_marks(conn))["minutes"] == 1
    await service.roll_telemetry(pool)
    row = await conn.fetchrow("SELECT * FROM rollup_telemetry_1m")
    assert (row["samples"], row["sum_value"]) == (2, 3.0)


# --- OEE -----------------------------------------------------------------------------------------


def local_parts(instant: dt.datetime) -> tuple[str, str]:
    """A Protheus date (YYYYMMDD) and time (HH:MM) in the plant's zone."""
    shown = instant.astimezone(PLANT)
    return shown.strftime("%Y%m%d"), shown.strftime("%H:%M")


def gap_calendar() -> str | None:
    """Every day planned but for [H0 + 2h15m, H0 + 2h45m) (plant time); None (always planned)
    when that gap would cross the plant's midnight."""
    low, high = H0 + dt.timedelta(minutes=135), H0 + dt.timedelta(minutes=165)
    if low.astimezone(PLANT).date() != high.astimezone(PLANT).date():
        return None
    return f"00:00-{local_parts(low)[1]} {local_parts(high)[1]}-24:00"


@pytest.fixture
async def plant(mes_dsn, clone_database, aiohttp_client) -> Any:
    """Two machines with states and counters written through the store, the Protheus rows
    their ideal times come from (the orders named by counters, an SH6 appointment owning the
    counts without order), and the telemetry query app over both."""
    erp = ProtheusRows(dsn := await clone_database("erp01"), await asyncpg.connect(dsn))
    minutes = lambda n: H0 + dt.timedelta(minutes=n)  # noqa: E731
    for machine in ("M1", "M2"):
        await erp.resource(machine, f"MAQUINA {machine}")
    await erp.product("PA", operpad="02")
    await erp.product("PB")
    await erp.operation("PA", "02", "10", "M1", tempad=0.5, lotepad=60)
    await erp.operation("PB", "03", "20", "M1", tempad=0.01, lotepad=0)
    await erp.operation("PB", "03", "10", "M2", tempad=0.02, lotepad=1)
    await erp.order("000001", "PA")
    b = await erp.order("000002", "PB", C2_ROTEIRO="03")
    start_day, start_hour = local_parts(minutes(90))
    end_day, end_hour = local_parts(minutes(130))
    await erp.appointment(
        b, "20", "M1", day=end_day, hour=end_hour, start_day=start_day, start_hour=start_hour
    )
    order_a, order_b = "00000101001", "00000201001"

    conn = await asyncpg.connect(mes_dsn)
    store = TelemetryStore()
    await store.write(conn, [
        parsed("M1", states=[(minutes(-30), "stopped", "fim"), (minutes(10), "running", None)]),
        parsed("M1", counters=[(minutes(15), 100, 5, order_a)]),
        parsed("M1", states=[(minutes(80), "fault", "E42"), (minutes(100), "running", None)]),
        parsed("M1", counters=[(minutes(110), 200, 10, None), (minutes(150), 50, 0, order_a)]),
        parsed("M1", states=[(minutes(170), "idle", None)]),
        parsed("M2", states=[(minutes(-120), "running", None)]),
        parsed("M2", counters=[(minutes(30), 500, 0, order_b)]),
        parsed("M2", counters=[(minutes(200), 10, 0, None)]),  # no order, no SH6 (yet)
    ])  # fmt: skip
    client = await aiohttp_client(query_app(erp.dsn, mes_dsn, shift_calendar=gap_calendar()))
    yield conn, client, erp
    await conn.close()
    await erp.conn.close()


async def oee_rows(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch("SELECT * FROM rollup_oee_hourly ORDER BY machine, hour")


async def test_oee_hourly_equals_the_oee_route(plant):
    conn, client, _erp = plant
    app = client.app
    used, _written = await service.roll_oee(
        app[MES_POOL], app[PROTHEUS_CONTEXT], setup=OeeSetup.from_settings(app[SETTINGS])
    )
    assert used > 0
    rows = await oee_rows(conn)
    now_hour = hour_of(utc_now())
    # Each machine from its first marked hour up to the hour in progress, with no gap.
    for machine, first in (("M1", H0 - HOUR), ("M2", H0 - 2 * HOUR)):
        hours = [r["hour"] for r in rows if r["machine"] == machine]
        assert hours[0] == first
        assert hours[-1] >= now_hour - HOUR
        assert hours == [first + n * HOUR for n in range(len(hours))]
    assert all(not r["closed"] for r in rows if r["hour"] >= now_hour)
    assert await same_as_route(client, [r for r in rows if r["closed"]]) >= 6
    # The crafted hours really exercise the formula: counts with ideal time, a partial state.
    m1 = {r["hour"]: r for r in rows if r["machine"] == "M1"}
    assert (m1[H0]["good"], m1[H0]["scrap"], m1[H0]["running_s"]) == (100, 5, 3000.0)
    assert m1[H0]["ideal_s"] == approx(105 * 30.0)
    assert m1[H0 + HOUR]["ideal_s"] == approx(210 * 36.0)  # no order: the SH6 appointment's

    # A state that arrives late changes the hours up to the next state's: one span.
    await TelemetryStore().write(
        conn, [parsed("M1", states=[(H0 + dt.timedelta(minutes=125), "setup", None)])]
    )
    span = await conn.fetchrow("SELECT * FROM rollup_dirty_spans")
    assert (span["machine"], span["first_hour"], span["last_hour"]) == (
        "M1",
        H0 + 2 * HOUR,
        H0 + 2 * HOUR,
    )
    await service.roll_oee(
        app[MES_POOL], app[PROTHEUS_CONTEXT], setup=OeeSetup.from_settings(app[SETTINGS])
    )
    fixed = {r["hour"]: r for r in await oee_rows(conn) if r["machine"] == "M1"}
    assert fixed[H0 + 2 * HOUR]["running_s"] < m1[H0 + 2 * HOUR]["running_s"]
    assert await same_as_route(client, [fixed[H0 + 2 * HOUR]]) == 1
    assert {h: r["running_s"] for h, r in fixed.items() if h < H0 + 2 * HOUR} == {
        h: r["running_s"] for h, r in m1.items() if h < H0 + 2 * HOUR
    }


async def same_as_route(client: Any, rows: list[asyncpg.Record]) -> int:
    """Assert each closed row equals /api/v1/oee for its machine and hour; how many compared."""
    for row in rows:
        resp = await client.get(
            url(client, "oee"),
            params={"machine": row["machine"], "from": row["hour"].isoformat(),
                    "to": (row["hour"] + HOUR).isoformat()},
            headers=READ,
        )  # fmt: skip
        data = await assert_envelope(resp, 200)
        assert (
            row["planned_s"], row["running_s"], row["ideal_s"], row["good"], row["scrap"],
            row["availability"], row["performance"], row["quality"], row["oee"],
        ) == (
            data["plannedTime"], data["runningTime"], data["idealTime"], data["goodCount"],
            data["scrapCount"], data["availability"], data["performance"], data["quality"],
            data["oee"],
        ), row["hour"]  # fmt: skip
    return len(rows)


async def test_the_job_claims_marks_and_a_second_run_does_nothing(plant):
    conn, client, _erp = plant
    app = client.app
    pool, protheus = app[MES_POOL], app[PROTHEUS_CONTEXT]
    setup = OeeSetup.from_settings(app[SETTINGS])
    await TelemetryStore().write(conn, random_samples(18, 500))
    pending = await queries.pending_marks(conn)
    assert pending["minutes"] > 0
    assert pending["hours"] > 0

    first = await service.refresh_rollups(pool, protheus, setup=setup)
    assert first["telemetry_1m"] == pending["minutes"]
    assert first["oee_hourly"] > 0
    assert await queries.pending_marks(conn) == (0, 0, 0)
    telemetry = await rollup(conn, "rollup_telemetry_1m")
    closed = await conn.fetch("SELECT * FROM rollup_oee_hourly WHERE closed ORDER BY machine, hour")

    second = await service.refresh_rollups(pool, protheus, setup=setup)
    assert second["telemetry_1m"] == 0
    # Only each machine's hour in progress is recomputed (time passes in its state).
    assert second["oee_hourly"] == 2
    assert await rollup(conn, "rollup_telemetry_1m") == telemetry
    assert (
        await conn.fetch("SELECT * FROM rollup_oee_hourly WHERE closed ORDER BY machine, hour")
        == closed
    )


async def test_protheus_down_saves_nothing_and_keeps_the_marks(plant, mes_dsn, aiohttp_client):
    conn, _client, _erp = plant
    down = await aiohttp_client(query_app("postgresql://postgres@127.0.0.1:1/protheus", mes_dsn))
    pending = await queries.pending_marks(conn)
    with pytest.raises(Exception, match="Protheus"):
        await service.roll_oee(
            down.app[MES_POOL],
            down.app[PROTHEUS_CONTEXT],
            setup=OeeSetup.from_settings(down.app[SETTINGS]),
        )
    assert await queries.pending_marks(conn) == pending
    assert await oee_rows(conn) == []


async def test_the_analytics_service_runs_the_job(plant, mes_dsn, aiohttp_client):
    conn, client, _erp = plant
    settings = Settings(
        mes_db_url=mes_dsn,
        protheus_db_url=client.app[SETTINGS].protheus_db_url,
        plant_timezone="America/Manaus",
        audit=NO_AUDIT,
        analytics=AnalyticsSettings(
            enabled=True, rollup_s=0.2, sync_min=60, bi_password=BI_PASSWORD
        ),
    )
    await aiohttp_client(analytics_app(settings))
    for _ in range(600):  # the first sync and rollups, on a loaded machine too
        plant = await conn.fetchval("SELECT timezone FROM analytics_src.plant")
        if await queries.pending_marks(conn) == (0, 0, 0) and await oee_rows(conn) and plant:
            break
        await asyncio.sleep(0.05)
    assert await queries.pending_marks(conn) == (0, 0, 0)
    view = await conn.fetchrow(
        "SELECT v.*, r.hour, r.oee AS rolled_oee FROM analytics.oee_hourly v JOIN rollup_oee_hourly r"
        " ON r.machine = v.machine AND v.hour_utc = r.hour AT TIME ZONE 'UTC'"
        " ORDER BY v.machine, v.hour_utc LIMIT 1"
    )
    manaus = dt.timezone(dt.timedelta(hours=-4))  # the plant's zone the sync wrote
    assert view["hour_local"] == view["hour"].astimezone(manaus).replace(tzinfo=None)
    assert view["oee"] == view["rolled_oee"]


async def test_mes_bi_reads_the_rollup_views_and_not_their_tables(analytics_app, mes, mes_dsn):
    conn, pool = mes
    await analytics_app()  # its start gives mes_bi its password
    await TelemetryStore().write(conn, random_samples(19, 100))
    await service.roll_telemetry(pool)
    bi = await asyncpg.connect(as_bi(mes_dsn))
    try:
        assert await bi.fetchval("SELECT sum(count) FROM telemetry_1m") == 100
        assert await bi.fetchval("SELECT sum(count) FROM telemetry_1h") == 100
        await bi.fetch("SELECT * FROM oee_hourly")
        for table in ROLLUP_TABLES:
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await bi.fetch(f"SELECT 1 FROM public.{table} LIMIT 1")
    finally:
        await bi.close()


async def test_an_appointment_the_sync_mirrors_fixes_the_hours_it_spans(plant):
    conn, client, erp = plant
    app = client.app
    setup = OeeSetup.from_settings(app[SETTINGS])
    await service.roll_oee(app[MES_POOL], app[PROTHEUS_CONTEXT], setup=setup)
    hour = H0 + 3 * HOUR
    before = await conn.fetchrow(
        "SELECT * FROM rollup_oee_hourly WHERE machine = 'M2' AND hour = $1", hour
    )
    assert (before["good"], before["ideal_s"]) == (10, None)  # no appointment owns the count

    # Protheus gets the appointment later; the sync mirrors it (its row, as the sync writes it).
    start, end = hour + dt.timedelta(minutes=10), hour + dt.timedelta(minutes=50)
    (start_day, start_hour), (end_day, end_hour) = local_parts(start), local_parts(end)
    recno = await erp.appointment(
        "00000201001".ljust(14), "10", "M2", day=end_day, hour=end_hour, start_day=start_day,
        start_hour=start_hour,
    )  # fmt: skip
    await conn.execute(
        "INSERT INTO analytics_src.sh6 (recno, branch, row_hash, order_key, machine, start_at,"
        " end_at, good_quantity, scrap_quantity) VALUES ($1, '01', 'x', '00000201001', 'M2',"
        " $2, $3, 1, 0)",
        recno,
        start,
        end,
    )
    # The sync's transaction only appends to a log (no span row held while it reads the ERP);
    # the job folds it into the machine's span.
    assert await conn.fetchval("SELECT count(*) FROM rollup_dirty_spans") == 0
    logged = await conn.fetchrow("SELECT * FROM rollup_dirty_spans_log")
    assert (logged["machine"], logged["first_at"], logged["last_at"]) == ("M2", start, end)
    await queries.fold_span_log(conn)
    span = await conn.fetchrow("SELECT * FROM rollup_dirty_spans")
    assert (span["machine"], span["first_hour"], span["last_hour"]) == ("M2", hour, hour)
    assert await conn.fetchval("SELECT count(*) FROM rollup_dirty_spans_log") == 0
    await service.roll_oee(app[MES_POOL], app[PROTHEUS_CONTEXT], setup=setup)
    after = await conn.fetchrow(
        "SELECT * FROM rollup_oee_hourly WHERE machine = 'M2' AND hour = $1", hour
    )
    assert after["ideal_s"] == approx(10 * 72.0)
    assert await same_as_route(client, [after]) == 1


MIRRORED_ORDER = (
    "INSERT INTO analytics_src.sc2 (recno, branch, row_hash, order_key, order_number, product,"
    " quantity, produced, scrap, status) VALUES ($1, '01', 'x', $2, $3, $4, 1000, 0, 0, 'open')"
)


async def m2_hour(conn: asyncpg.Connection, hour: dt.datetime) -> asyncpg.Record:
    return await conn.fetchrow(
        "SELECT * FROM rollup_oee_hourly WHERE machine = 'M2' AND hour = $1", hour
    )


async def test_an_order_the_sync_mirrors_gives_its_hours_their_ideal_time(plant):
    conn, client, erp = plant
    app = client.app
    setup = OeeSetup.from_settings(app[SETTINGS])
    hour, order_c = H0 + HOUR, "00000301001"
    await TelemetryStore().write(
        conn, [parsed("M2", counters=[(hour + dt.timedelta(minutes=20), 40, 2, order_c)])]
    )
    await service.roll_oee(app[MES_POOL], app[PROTHEUS_CONTEXT], setup=setup)
    before = await m2_hour(conn, hour)
    assert (before["good"], before["scrap"], before["ideal_s"]) == (40, 2, None)  # no SC2 row

    # Protheus gets the order later; the sync mirrors it (its row, as the sync writes it). The
    # sync's transaction only appends the key to a log; the job folds it into the hours of the
    # counters naming that order.
    await erp.order("000003", "PB", C2_ROTEIRO="03")
    await conn.execute(MIRRORED_ORDER, 1, order_c, "000003", "PB")
    assert await conn.fetchval("SELECT count(*) FROM rollup_dirty_hours") == 0
    assert await conn.fetchval("SELECT array_agg(order_key) FROM rollup_dirty_orders_log") == [
        order_c
    ]
    await queries.fold_order_log(conn)
    marks = await conn.fetch("SELECT machine, hour FROM rollup_dirty_hours")
    assert [(m["machine"], m["hour"]) for m in marks] == [("M2", hour)]
    assert await conn.fetchval("SELECT count(*) FROM rollup_dirty_orders_log") == 0

    await service.roll_oee(app[MES_POOL], app[PROTHEUS_CONTEXT], setup=setup)
    after = await m2_hour(conn, hour)
    assert after["ideal_s"] == approx(42 * 72.0)
    assert await same_as_route(client, [after]) == 1

    # What each sync changes in an order's row and OEE does not read marks nothing; a product
    # changed marks its hours again, which the job's run folds and computes.
    await conn.execute("UPDATE analytics_src.sc2 SET produced = 42, status = 'started'")
    assert await conn.fetchval("SELECT count(*) FROM rollup_dirty_orders_log") == 0
    await conn.execute("UPDATE analytics_src.sc2 SET product = 'PA'")
    assert await conn.fetchval("SELECT count(*) FROM rollup_dirty_orders_log") == 1
    used, _written = await service.roll_oee(app[MES_POOL], app[PROTHEUS_CONTEXT], setup=setup)
    assert used == 1  # the hour's mark
    assert await conn.fetchval("SELECT count(*) FROM rollup_dirty_orders_log") == 0
    assert await queries.pending_marks(conn) == (0, 0, 0)


async def test_an_order_the_sync_mirrors_marks_the_appointments_owning_counts(plant):
    """Counts without an order belong to the SH6 appointment's order: its spans are marked."""
    conn, client, _erp = plant
    app = client.app
    await service.roll_oee(
        app[MES_POOL], app[PROTHEUS_CONTEXT], setup=OeeSetup.from_settings(app[SETTINGS])
    )
    start, end = H0 + dt.timedelta(minutes=90), H0 + dt.timedelta(minutes=130)
    await conn.execute(
        "INSERT INTO analytics_src.sh6 (recno, branch, row_hash, order_key, machine, start_at,"
        " end_at, good_quantity, scrap_quantity) VALUES (7, '01', 'x', '00000201001', 'M1',"
        " $1, $2, 1, 0)",
        start,
        end,
    )
    await queries.fold_span_log(conn)
    await conn.execute("DELETE FROM rollup_dirty_spans")
    await conn.execute(MIRRORED_ORDER, 2, "00000201001", "000002", "PB")
    await queries.fold_order_log(conn)
    logged = await conn.fetch("SELECT machine, first_at, last_at FROM rollup_dirty_spans_log")
    assert [tuple(r) for r in logged] == [("M1", start, end)]
    await queries.fold_span_log(conn)
    span = await conn.fetchrow("SELECT * FROM rollup_dirty_spans")
    assert (span["machine"], span["first_hour"], span["last_hour"]) == (
        "M1",
        H0 + HOUR,
        H0 + 2 * HOUR,
    )


async def test_recent_hours_without_ideal_time_get_it_once_protheus_has_it(plant):
    """A routing time registered late (SG2: not mirrored) still reaches the recent hours."""
    conn, client, erp = plant
    app = client.app
    pool, protheus = app[MES_POOL], app[PROTHEUS_CONTEXT]
    setup = OeeSetup.from_settings(app[SETTINGS])
    hour = H0 + HOUR
    await erp.product("PC")
    await erp.order("000004", "PC", C2_ROTEIRO="05")  # a routing with no operation yet
    await TelemetryStore().write(
        conn, [parsed("M2", counters=[(hour + dt.timedelta(minutes=20), 30, 0, "00000401001")])]
    )
    await service.roll_oee(pool, protheus, setup=setup)
    before = await m2_hour(conn, hour)
    assert (before["good"], before["ideal_s"]) == (30, None)

    # Computed again unchanged, an hour is not rewritten: only the hours in progress are.
    _used, written = await service.roll_oee(pool, protheus, setup=setup)
    assert written == 2
    assert (await m2_hour(conn, hour))["computed_at"] == before["computed_at"]

    await erp.operation("PC", "05", "10", "M2", tempad=0.02, lotepad=1)
    await service.roll_oee(pool, protheus, setup=setup)
    after = await m2_hour(conn, hour)
    assert after["ideal_s"] == approx(30 * 72.0)
    assert await same_as_route(client, [after]) == 1
    # Bounded: hours older than the age checked, and hours in progress, are not listed; at most
    # the number of hours asked.
    old = hour_of(utc_now()) - service.UNKNOWN_IDEAL_AGE - HOUR
    await conn.execute(
        "INSERT INTO rollup_oee_hourly (machine, hour, planned_s, running_s, good, scrap,"
        " computed_until, closed) VALUES ('M2', $1, 3600, 3600, 5, 0, $2, true)",
        old,
        old + HOUR,
    )
    since = utc_now() - service.UNKNOWN_IDEAL_AGE
    listed = await queries.unknown_ideal_hours(conn, since=since, hours=100)
    assert listed == [("M2", H0 + 3 * HOUR)]  # the count without order nor appointment
    assert await queries.unknown_ideal_hours(conn, since=since, hours=0) == []


async def test_other_oee_settings_mark_every_machine_once(plant):
    conn, client, _erp = plant
    app = client.app
    setup = OeeSetup.from_settings(app[SETTINGS])
    await service.refresh_rollups(app[MES_POOL], app[PROTHEUS_CONTEXT], setup=setup)
    assert await queries.rebase_oee(conn, basis=setup.basis) == 0  # the same settings
    assert await queries.rebase_oee(conn, basis=setup.basis + "|changed") == 2
    spans = await conn.fetch("SELECT * FROM rollup_dirty_spans ORDER BY machine")
    assert [(s["machine"], s["first_hour"], s["last_hour"]) for s in spans] == [
        ("M1", H0 - HOUR, None),
        ("M2", H0 - 2 * HOUR, None),
    ]
    assert await queries.rebase_oee(conn, basis=setup.basis + "|changed") == 0


async def test_a_run_takes_only_the_marks_set_before_it_began(mes):
    conn, _pool = mes
    store = TelemetryStore()
    await store.write(conn, [parsed("M1", samples=[("temp", H0, 1.0)])])
    ceiling = await queries.mark_ceiling(conn)
    # Ingest goes on during the run: the run leaves these marks to the next one.
    await store.write(conn, [parsed("M1", samples=[("rpm", H0, 1.0), ("temp", H0 + HOUR, 1.0)])])
    marks = await queries.minute_marks(conn, limit=10, ceiling=ceiling)
    assert [(m.metric, m.bucket) for m in marks] == [("temp", H0)]
    assert len(await queries.minute_marks(conn, limit=10, ceiling=ceiling + 10)) == 3


async def test_the_mirror_sync_never_holds_what_the_ingestor_waits_for(mes, mes_dsn):
    """The dimension sync's SH6 transaction stays open while it reads the ERP: a state of a
    machine it mirrors an appointment of is still stored at once."""
    conn, _pool = mes
    await conn.execute(
        "INSERT INTO machines (machine, site, area, line, last_seen) "
        "VALUES ('M1', 's', 'a', 'l', now())"
    )
    sync = await asyncpg.connect(mes_dsn)
    try:
        open_sync = sync.transaction()
        await open_sync.start()
        await sync.execute(
            "INSERT INTO analytics_src.sh6 (recno, branch, row_hash, order_key, machine, start_at,"
            " end_at, good_quantity, scrap_quantity) VALUES (1, '01', 'x', 'O1', 'M1', $1, $2, 1, 0)",
            H0,
            H0 + HOUR,
        )
        async with conn.transaction():
            await conn.execute("SET LOCAL lock_timeout = '1s'")
            await TelemetryStore().write(conn, [parsed("M1", states=[(H0, "running", None)])])
        await open_sync.commit()
    finally:
        await sync.close()


async def test_the_job_deleting_marks_and_an_ingest_marking_them_never_deadlock(mes, mes_dsn):
    """The ingest's trigger upserts marks in key order; the job locks the marks it used in
    the same order before deleting them, whatever order it read them in."""
    conn, _pool = mes
    await conn.execute(
        "INSERT INTO rollup_dirty_hours (machine, hour) VALUES ('M1', $1), ('M2', $2)",
        H0 + HOUR,
        H0,
    )
    marks = await conn.fetch("SELECT machine, hour, generation FROM rollup_dirty_hours")
    used = sorted(marks, key=lambda m: (m["hour"], m["machine"]))  # (M2, H0) before (M1, H0+1h)
    ingest = await asyncpg.connect(mes_dsn)
    try:
        flush = ingest.transaction()
        await flush.start()
        await ingest.execute(  # an ingest marking (M1, H0+1h) ...
            "UPDATE rollup_dirty_hours SET generation = nextval('rollup_mark_generation') "
            "WHERE machine = 'M1'"
        )

        async def job() -> None:
            async with conn.transaction():
                await conn.execute(
                    queries.DELETE_HOUR_MARKS,
                    [m["machine"] for m in used],
                    [m["hour"] for m in used],
                    [m["generation"] for m in used],
                )

        deleting = asyncio.create_task(job())
        await asyncio.sleep(0.3)  # the job waits on (M1, ...) and holds nothing else yet
        await ingest.execute(  # ... then (M2, H0): a job holding M2 would deadlock here
            "UPDATE rollup_dirty_hours SET generation = nextval('rollup_mark_generation') "
            "WHERE machine = 'M2'"
        )
        await flush.commit()
        await asyncio.wait_for(deleting, 10)
    finally:
        await ingest.close()
    # Both marks were set again meanwhile: both stay for the next run.
    assert await conn.fetchval("SELECT count(*) FROM rollup_dirty_hours") == 2

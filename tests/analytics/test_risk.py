"""Failure risk (services/analytics/risk, migration 0028): features on a crafted plant, the model
trained, stored, reloaded and served on a small generated plant, the scorer's alerts with
hysteresis, the routes' shapes and errors."""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import pytest
from prometheus_client import CollectorRegistry

from services.analytics.alerts.queries import CHANNEL
from services.analytics.jobs import JobMetrics
from services.analytics.risk import features, model, queries, service
from services.analytics.risk.job import RiskJob
from services.telemetry.partitions import ensure_partitions
from shared.json import dumps, loads
from shared.settings import (
    DEV_RISK_MODEL_KEY,
    ConfigError,
    RiskSettings,
    Settings,
    parse_api_keys,
)
from tests.helpers import assert_envelope
from tests.support import risk as plantgen
from tests.support.telemetry_query import KEYS, READ
from tests.support.urls import url

H0 = dt.datetime(2026, 11, 2, tzinfo=dt.UTC)
START = dt.datetime(2026, 10, 20, tzinfo=dt.UTC)
KEY = RiskSettings().model_key


def at(hours: float) -> dt.datetime:
    return H0 + dt.timedelta(hours=hours)


@pytest.fixture
async def mes(mes_dsn: str) -> AsyncIterator[tuple[asyncpg.Connection, asyncpg.Pool]]:
    conn = await asyncpg.connect(mes_dsn)
    pool = await asyncpg.create_pool(mes_dsn, min_size=0, max_size=4)
    yield conn, pool
    await pool.close()
    await conn.close()


async def crafted_plant(conn: asyncpg.Connection) -> None:
    """M1: samples every hour up to 6:10, a stop at 1:20, faults at 3:10-3:40 and 5:30-7:00, a
    spike at 2:15, order OP1 (product PROD-A) at 0:30, data up to 10:00. M2: one sample, no
    fault, data up to 20:00."""
    await ensure_partitions(conn, [H0.date()])
    temperature = [(0 + 10 / 60, 10.0), (0 + 40 / 60, 20.0)] + [
        (k + 10 / 60, 30.0) for k in range(1, 7)
    ]
    await conn.copy_records_to_table(
        "telemetry_samples",
        records=[("M1", "temperature", at(h), v) for h, v in temperature]
        + [("M2", "temperature", at(10 / 60), 5.0)],
        columns=["machine", "metric", "ts", "value"],
    )
    states = [
        (-2, "running"), (1 + 20 / 60, "stopped"), (1.5, "running"), (3 + 10 / 60, "fault"),
        (3 + 40 / 60, "running"), (5.5, "fault"), (7, "running"),
    ]  # fmt: skip
    await conn.copy_records_to_table(
        "machine_states",
        records=[("M1", at(h), s) for h, s in states] + [("M2", at(-1), "running")],
        columns=["machine", "ts", "state"],
    )
    await conn.execute(
        "INSERT INTO machine_counters (machine, ts, good, scrap, order_key) "
        "VALUES ('M1', $1, 5, 0, 'OP1')",
        at(0.5),
    )
    await conn.execute(
        "INSERT INTO analytics_src.sc2 (recno, branch, row_hash, order_key, order_number, "
        "product, quantity, produced, scrap, status) "
        "VALUES (1, '01', 'h', 'OP1', 'OP', 'PROD-A', 10, 0, 0, 'started')"
    )
    await conn.execute(
        "INSERT INTO anomaly_events (id, machine, kind, metrics, started_at, ended_at, score) "
        "VALUES (gen_random_uuid(), 'M1', 'spike', '{temperature}', $1, $2, 9)",
        at(2.25),
        at(2.26),
    )
    # A drift that started at 0:30 but was only recognised at 3:20: it counts from 3:20.
    await conn.execute(
        "INSERT INTO anomaly_events (id, machine, kind, metrics, started_at, score, detail) "
        "VALUES (gen_random_uuid(), 'M1', 'drift', '{vibration}', $1, 4, $2::jsonb)",
        at(0.5),
        dumps({"detectedAt": at(3 + 20 / 60).isoformat()}),
    )
    await conn.executemany(
        "INSERT INTO machines (machine, site, area, line, last_seen) "
        "VALUES ($1, 'porto', 'usinagem', 'linha1', $2)",
        [("M1", at(10)), ("M2", at(20))],
    )


async def test_features_count_faults_stops_anomalies_and_label_the_horizon(mes) -> None:
    conn, pool = mes
    await crafted_plant(conn)
    rows = await features.machine_hours(pool, Settings(), H0, at(8))
    by = {(r.machine, round((r.hour - H0).total_seconds() / 3600)): r for r in rows}
    assert sorted(k for k in by if k[0] == "M1") == [("M1", k) for k in range(8)]
    assert ("M2", 0) in by

    first = by["M1", 0]
    assert first.features["temperature_mean_1h"] == pytest.approx(15.0)
    assert first.features["temperature_std_1h"] == pytest.approx(math.sqrt(50))
    assert first.features["faults_24h"] == 0
    assert first.features["hours_since_fault"] is None
    assert first.product == "PROD-A"
    assert first.label == 1  # the fault at 3:10 is within 8 h of 1:00

    assert by["M1", 1].features["stops_24h"] == 1
    assert by["M1", 1].features["temperature_mean_8h"] == pytest.approx(20.0)
    assert by["M1", 2].features["spike_1h"] == 1
    assert by["M1", 3].features["spike_1h"] == 0
    assert by["M1", 3].features["spike_8h"] == 1
    assert [by["M1", k].features["drift_1h"] for k in range(5)] == [0, 0, 0, 1, 0]
    assert by["M1", 4].features["drift_8h"] == 1

    after = by["M1", 3]  # observed at 4:00, after the 3:10-3:40 fault
    assert after.features["faults_24h"] == 1
    assert after.features["hours_since_fault"] == pytest.approx(50 / 60)
    assert after.next_fault == at(5.5)
    # A fault at 5:30 is seen, but the data ends at 10:00, before 4:00 + 8 h: not wholly
    # observed, no label (a negative there would be unknown: keeping the positive biases).
    assert after.label is None
    assert by["M1", 1].label == 1  # 2:00 + 8 h is within the data

    in_fault = by["M1", 5]  # 6:00 falls in the 5:30-7:00 fault: nothing to predict
    assert in_fault.in_fault
    assert in_fault.label is None

    censored = by["M1", 6]  # observed at 7:00, no fault after, data only up to 10:00
    assert not censored.in_fault
    assert censored.features["faults_24h"] == 2
    assert censored.features["hours_since_fault"] == pytest.approx(1.5)
    assert censored.label is None

    assert by["M2", 0].label == 0  # no fault, data up to 20:00 covers 1:00 + 8 h

    short = await features.machine_hours(pool, Settings(), H0, at(2), horizon_h=2)
    labels = {(r.machine, r.hour): r.label for r in short}
    assert labels["M1", at(0)] == 0  # 3:10 is not within [1:00, 3:00)
    assert labels["M1", at(1)] == 1  # but within [2:00, 4:00)


def hours_of(machine: str, count: int, positive_every: int = 10) -> list[features.MachineHour]:
    return [
        features.MachineHour(
            machine, at(k), {"x": float(k % positive_every)}, label=int(k % positive_every == 9)
        )
        for k in range(count)
    ]


def test_training_rows_whose_label_reaches_past_the_boundary_are_purged() -> None:
    rows = hours_of("M1", 24)
    kept = features.observed(rows, at(20), 8)
    assert [r.hour for r in kept] == [at(k) for k in range(12)]  # 11:00 + 1 h + 8 h = 20:00

    many = hours_of("M1", 200) + hours_of("M2", 200)
    folds = model.time_folds(many, horizon_h=8)
    assert len(folds) == model.FOLDS
    for fit, check in folds:
        start = min(r.hour for r in check)
        assert max(r.as_of for r in fit) + dt.timedelta(hours=8) == start
        assert all(r.hour < start for r in fit)
        # Every hour before the slice whose label horizon ends by its start is kept.
        assert len(fit) == len([r for r in many if r.hour + dt.timedelta(hours=9) <= start])


# The plant's model, trained once for the module (each test loads the plant in its database).
_TRAINED: dict[str, tuple[model.TrainedModel, list[features.MachineHour]]] = {}


async def trained(
    pool: asyncpg.Pool, conn: asyncpg.Connection
) -> tuple[model.TrainedModel, list[features.MachineHour]]:
    """Load the small generated plant; the model trained on its first 3.5 days, the later rows."""
    plant = plantgen.generate(7, machines=3, start=START, days=5, step_s=180)
    await plantgen.load(conn, plant)
    if "plant" not in _TRAINED:
        rows = await features.machine_hours(pool, Settings(), START, plant.end)
        cut = START + dt.timedelta(days=3.5)
        fitted = model.train([r for r in rows if r.hour < cut], Settings())
        _TRAINED["plant"] = fitted, [r for r in rows if r.hour >= cut]
    return _TRAINED["plant"]


async def test_model_trains_is_stored_versioned_and_reloads(mes) -> None:
    conn, pool = mes
    fitted, later = await trained(pool, conn)
    card = fitted.card
    assert card["algorithm"] in model.ALGORITHMS
    assert set(card["candidates"]) == set(model.ALGORITHMS)
    assert card["rows"] > 100
    assert 0 < card["positives"] < card["rows"]
    assert card["horizonH"] == 8
    assert card["features"]
    assert card["sklearnVersion"]
    assert card["trainingWindow"]["from"] == START.isoformat()
    figures = model.evaluate(fitted, later)
    assert figures["auc"] is not None
    assert figures["auc"] > 0.6
    assert 0 <= figures["precision_at_10"] <= 1
    assert figures["baseline_auc"] is not None

    await service.store_model(pool, fitted, key=KEY)
    again = await service.load_model(pool, key=KEY)
    assert again is not None
    assert again.version == fitted.version
    assert list(again.scores(later[:20])) == pytest.approx(list(fitted.scores(later[:20])))
    explained = again.explain(later[:5])
    assert all(len(e) == model.TOP_FEATURES for e in explained)
    assert all(c.feature in [*fitted.columns.numeric, "product"] for e in explained for c in e)

    second = model.train(later, Settings())
    await service.store_model(pool, second, key=KEY)
    assert (await service.load_model(pool, key=KEY)).version == second.version  # type: ignore[union-attr]
    versions = await conn.fetch("SELECT version, active FROM risk_models ORDER BY trained_at")
    assert {r["version"]: r["active"] for r in versions} == {
        fitted.version: False,
        second.version: True,
    }


async def test_a_model_blob_not_signed_with_the_key_is_refused_unread(mes, monkeypatch) -> None:
    conn, pool = mes
    fitted, _later = await trained(pool, conn)
    await service.store_model(pool, fitted, key="the plant's key")
    card = loads(await conn.fetchval("SELECT card FROM risk_models"))
    assert card[model.SIGNATURE] == model.sign(fitted.to_blob(), "the plant's key")
    loaded = await service.load_model(pool, key="the plant's key")
    assert loaded is not None
    assert model.SIGNATURE not in loaded.card

    unpickled: list[bytes] = []
    real_load = model.joblib.load
    monkeypatch.setattr(model.joblib, "load", lambda f: unpickled.append(b"") or real_load(f))
    assert await service.load_model(pool, key="another key") is None  # trained elsewhere
    # A blob written by someone without the key (the signature kept, the blob replaced).
    await conn.execute("UPDATE risk_models SET blob = $1", fitted.to_blob() + b"\x00")
    assert await service.load_model(pool, key="the plant's key") is None
    await conn.execute("UPDATE risk_models SET card = card - $1", model.SIGNATURE)
    assert await service.load_model(pool, key="the plant's key") is None  # unsigned
    assert unpickled == []

    job = RiskJob(
        pool, Settings(risk=RiskSettings(model_key="the plant's key")),
        JobMetrics(CollectorRegistry()),
    )  # fmt: skip
    assert await job.run_once()
    assert job.last_rows == {}
    assert job.status()["model"] is None
    assert "RISK_MODEL_KEY" in str(job.status()["note"])


async def test_job_scores_an_hour_until_its_features_are_final_then_waits_for_the_next(
    mes,
) -> None:
    """The last complete hour's features stop changing once it is a little past: later runs
    in the same hour score nothing (no 5-minutely recomputation of 31 h of samples); the
    next hour is scored again."""
    conn, pool = mes
    fitted, _later = await trained(pool, conn)
    await service.store_model(pool, fitted, key=KEY)
    clock = [START + dt.timedelta(days=4, minutes=1)]
    job = RiskJob(pool, Settings(), JobMetrics(CollectorRegistry()), clock=lambda: clock[0])

    async def scored_at() -> list[dt.datetime]:
        return [r["scored_at"] for r in await conn.fetch("SELECT scored_at FROM machine_risk")]

    assert await job.run_once()
    assert job.last_rows["machine_risk"] > 0  # a minute after the hour: scored, not final
    clock[0] += dt.timedelta(minutes=4)
    assert await job.run_once()
    assert job.last_rows["machine_risk"] > 0  # past the settling time: scored, now final
    final = await scored_at()
    clock[0] += dt.timedelta(minutes=50)
    assert await job.run_once()
    assert job.last_rows == {}  # the same hour: nothing computed
    assert await scored_at() == final
    clock[0] += dt.timedelta(minutes=10)  # the next hour ended
    assert await job.run_once()
    assert job.last_rows["machine_risk"] > 0
    assert {r["hour"] for r in await conn.fetch("SELECT hour FROM machine_risk")} == {
        START + dt.timedelta(days=4)
    }


def test_alert_opens_at_threshold_and_closes_below_the_hysteresis() -> None:
    risk = RiskSettings(alert=0.7, hysteresis=0.1)
    assert service.alert_transition(False, 0.69, risk) == service.Transition(False, None)
    assert service.alert_transition(False, 0.7, risk) == service.Transition(True, "open")
    assert service.alert_transition(True, 0.61, risk) == service.Transition(True, None)
    assert service.alert_transition(True, 0.59, risk) == service.Transition(False, "close")


async def test_job_scores_nothing_without_a_model_then_scores_and_alerts(mes) -> None:
    conn, pool = mes
    job = RiskJob(pool, Settings(), JobMetrics(CollectorRegistry()))
    assert await job.run_once()
    assert job.last_rows == {}
    assert job.status()["model"] is None
    assert "train" in str(job.status()["note"])

    fitted, _later = await trained(pool, conn)
    await service.store_model(pool, fitted, key=KEY)
    now = START + dt.timedelta(days=4, minutes=30)
    scored = await service.score_current(pool, Settings(), fitted, now=now)
    machines = await conn.fetch("SELECT * FROM machine_risk ORDER BY machine")
    assert scored["machine_risk"] == len(machines) > 0
    # The last complete hour (23:00 to 24:00 of day 3), as the model was trained on: not the
    # 30 minutes of the hour just begun.
    last_hour = START + dt.timedelta(days=3, hours=23)
    assert {r["hour"] for r in machines} == {last_hour}
    whole = await features.machine_hours(pool, Settings(), last_hour, last_hour + features.HOUR)
    expected = dict(zip([r.machine for r in whole], fitted.scores(whole), strict=True))
    assert {r["machine"]: r["risk"] for r in machines} == pytest.approx(
        {
            m: round(float(v), 6)
            for m, v in expected.items()
            if m in {r["machine"] for r in machines}
        }
    )
    assert all(r["model_version"] == fitted.version for r in machines)
    assert all(len(loads(r["top_features"])) == 3 for r in machines)
    await conn.execute("DELETE FROM alert_outbox")

    def score(risk: float) -> queries.Score:
        return queries.Score(
            "RISK0700", START, risk, [{"feature": "f", "value": 1, "contribution": 1}]
        )

    settings = RiskSettings(alert=0.7, hysteresis=0.1)
    for risk in (0.5, 0.75, 0.8, 0.65, 0.55, 0.6, 0.9):
        await service.save_scores(pool, [score(risk)], model=fitted, settings=settings)
    alerts = await conn.fetch("SELECT machine, payload FROM alert_outbox ORDER BY id")
    payloads = [loads(r["payload"]) for r in alerts]
    assert [(p["event"], p["risk"]) for p in payloads] == [
        ("open", 0.75), ("close", 0.55), ("open", 0.9)
    ]  # fmt: skip
    first = payloads[0]
    assert first["type"] == "risk"
    assert first["machine"] == "RISK0700"
    assert first["threshold"] == 0.7
    assert first["horizonH"] == 8
    assert first["modelVersion"] == fitted.version
    assert first["topFeatures"][0]["feature"] == "f"
    assert await conn.fetchval("SELECT alert_open FROM machine_risk WHERE machine = 'RISK0700'")


async def stub_model(conn: asyncpg.Connection, version: str = "stub") -> model.TrainedModel:
    """A model as the scores and alerts need it (version, horizon), stored inactive: nothing
    to score with."""
    card = {"version": version, "horizonH": 8, "algorithm": model.LOGISTIC_REGRESSION}
    await queries.insert_model(
        conn, version=version, trained_at=H0, algorithm=model.LOGISTIC_REGRESSION, card=card,
        blob=b"", active=False,
    )  # fmt: skip
    return model.TrainedModel(None, model.Columns((), ()), card)


async def test_risk_alerts_wake_the_publisher(mes) -> None:
    conn, pool = mes
    woken: asyncio.Queue[str] = asyncio.Queue()
    await conn.add_listener(CHANNEL, lambda *args: woken.put_nowait(args[2]))
    top = [{"feature": "f", "value": 1, "contribution": 1}]
    stub = await stub_model(conn)
    await service.save_scores(
        pool, [queries.Score("A1", H0, 0.2, top)], model=stub, settings=RiskSettings()
    )
    await asyncio.sleep(0.5)
    assert woken.empty()  # no crossing, no alert, no wake-up
    await service.save_scores(
        pool, [queries.Score("A1", H0, 0.9, top)], model=stub, settings=RiskSettings()
    )
    assert await asyncio.wait_for(woken.get(), 30) == CHANNEL
    assert await conn.fetchval("SELECT count(*) FROM alert_outbox") == 1


async def test_an_open_alert_of_a_machine_gone_silent_closes_as_stale(mes) -> None:
    conn, pool = mes
    fitted, _later = await trained(pool, conn)
    await service.store_model(pool, fitted, key=KEY)
    top = [{"feature": "vibration_z_1h", "value": 3.2, "contribution": 0.4}]
    gone = queries.Score("GONE", START, 0.95, top)
    await service.save_scores(pool, [gone], model=fitted, settings=RiskSettings())
    assert await conn.fetchval("SELECT alert_open FROM machine_risk WHERE machine = 'GONE'")
    await conn.execute("DELETE FROM alert_outbox")

    now = START + dt.timedelta(days=4, minutes=30)
    await service.score_current(pool, Settings(), fitted, now=now)
    row = await conn.fetchrow("SELECT * FROM machine_risk WHERE machine = 'GONE'")
    assert row["alert_open"] is False
    assert row["risk"] == 0.95  # its last score stays, with the hour it was of
    assert row["hour"] == START
    alerts = [loads(r["payload"]) for r in await conn.fetch("SELECT payload FROM alert_outbox")]
    closes = [a for a in alerts if a["machine"] == "GONE"]
    assert [(a["event"], a["reason"], a["risk"]) for a in closes] == [("close", "stale", 0.95)]
    assert closes[0]["topFeatures"] == top
    assert closes[0]["modelVersion"] == fitted.version
    # The plant's machines were scored, not closed as stale.
    assert all("reason" not in a for a in alerts if a["machine"] != "GONE")

    await conn.execute("DELETE FROM alert_outbox")
    await service.score_current(pool, Settings(), fitted, now=now + features.HOUR)
    assert await conn.fetchval("SELECT count(*) FROM alert_outbox WHERE machine = 'GONE'") == 0


async def test_scoring_and_unpickling_run_off_the_event_loop(mes, monkeypatch) -> None:
    conn, pool = mes
    fitted, _later = await trained(pool, conn)
    await service.store_model(pool, fitted, key=KEY)
    loop_thread = threading.get_ident()
    threads: dict[str, set[int]] = {}

    def recorded(name: str, call: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            threads.setdefault(name, set()).add(threading.get_ident())
            return call(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(model.joblib, "load", recorded("load", model.joblib.load))
    loaded = await service.load_model(pool, key=KEY)
    assert loaded is not None
    monkeypatch.setattr(
        loaded.estimator, "predict_proba", recorded("predict", loaded.estimator.predict_proba)
    )
    await service.score_current(
        pool, Settings(), loaded, now=START + dt.timedelta(days=4, minutes=30)
    )
    assert set(threads) == {"load", "predict"}
    assert loop_thread not in threads["load"] | threads["predict"]


@pytest.fixture
async def risk_client(analytics_app: Callable[..., Any]) -> Any:
    return await analytics_app(api_keys=parse_api_keys(KEYS))


async def test_routes_answer_risk_ranking_and_errors(mes, risk_client) -> None:
    conn, pool = mes
    client = risk_client
    await conn.executemany(
        "INSERT INTO machines (machine, site, area, line, last_seen) VALUES ($1, 'porto', "
        "'montagem', $2, now())",
        [("A1", "linha1"), ("A2", "linha1"), ("B1", "linha2")],
    )
    resp = await client.get(url(client, "machine_risk", machine="A1"), headers=READ)
    data = await assert_envelope(resp, 200)
    assert data == {
        "machine": "A1", "risk": None, "horizonH": 8, "hour": None, "scoredAt": None,
        "alert": False, "threshold": 0.7, "topFeatures": [], "model": None,
    }  # fmt: skip

    resp = await client.get(url(client, "machine_risk", machine="NOPE"), headers=READ)
    assert (await assert_envelope(resp, 404))["error"]["code"] == "not_found"
    resp = await client.get(url(client, "machine_risk", machine="A1"))
    await assert_envelope(resp, 401)

    fitted, _ = await trained(pool, conn)
    await service.store_model(pool, fitted, key=KEY)
    top = [{"feature": "vibration_z_1h", "value": 3.2, "contribution": 0.4}]
    settings = RiskSettings()
    await service.save_scores(
        pool,
        [queries.Score("A2", H0, 0.9, top), queries.Score("A1", H0, 0.2, top)],
        model=fitted,
        settings=settings,
    )
    resp = await client.get(url(client, "machine_risk", machine="A2"), headers=READ)
    data = await assert_envelope(resp, 200)
    assert data["risk"] == 0.9
    assert data["alert"] is True
    assert data["topFeatures"] == top
    assert dt.datetime.fromisoformat(data["hour"]) == H0
    assert data["model"]["version"] == fitted.version
    assert data["model"]["algorithm"] == fitted.algorithm

    query = {"line": "porto/montagem/linha1", "page_size": 1}
    resp = await client.get(url(client, "maintenance_risk", query), headers=READ)
    page = await assert_envelope(resp, 200)
    assert (page["total"], page["page"], page["pageSize"], page["totalPages"]) == (2, 1, 1, 2)
    assert page["filters"] == {"line": "porto/montagem/linha1"}
    assert [i["machine"] for i in page["data"]] == ["A2"]

    resp = await client.get(url(client, "maintenance_risk"), headers=READ)
    ranked = (await assert_envelope(resp, 200))["data"]
    assert [i["machine"] for i in ranked][:2] == ["A2", "A1"]  # unscored machines last
    assert ranked[-1]["risk"] is None
    assert ranked[-1]["model"]["version"] == fitted.version

    resp = await client.get(url(client, "maintenance_risk", {"line": "porto"}), headers=READ)
    body = await assert_envelope(resp, 400)
    assert body["error"]["details"][0]["field"] == "line"

    resp = await client.get("/api/v1/analytics/openapi.json")
    assert "/api/v1/maintenance/risk" in (await resp.json())["paths"]


def test_risk_settings_are_read_and_checked() -> None:
    assert Settings.from_env({}).risk == RiskSettings(8, 0.7, 0.1, 300.0)
    assert Settings.from_env({}).risk.model_key == DEV_RISK_MODEL_KEY
    assert Settings.from_env({"RISK_MODEL_KEY": "k" * 40}).risk.model_key == "k" * 40
    assert "k" * 40 not in repr(Settings.from_env({"RISK_MODEL_KEY": "k" * 40}))
    read = Settings.from_env(
        {"RISK_HORIZON_H": "4", "RISK_ALERT": "0.8", "RISK_ALERT_HYSTERESIS": "0.2",
         "RISK_INTERVAL_S": "60"}
    ).risk  # fmt: skip
    assert read == RiskSettings(4, 0.8, 0.2, 60.0)
    with pytest.raises(ConfigError, match="RISK_ALERT"):
        Settings.from_env({"RISK_ALERT": "1.5"})
    with pytest.raises(ConfigError, match="RISK_ALERT_HYSTERESIS"):
        Settings.from_env({"RISK_ALERT": "0.5", "RISK_ALERT_HYSTERESIS": "0.5"})

"""Predictive maintenance, measured against ground truth (issue 16): `python -m bench predictive`.

- Data: the misbehaving plant (protheus_demo.plantgen). Seed A over train + held-out days and
  seed B over its own days, each loaded with COPY into a fresh migrated MES database (the load
  time is reported); the truth is written beside the results (bench/results/).
- Anomalies: the analytics detector catches up on each database
  (services.analytics.anomalies.job.detect_until_caught_up); its events are scored per kind on
  A's held-out days and on B (protheus_demo.plantgen.scoring: event-level precision, recall,
  median detection delay; drifts caught before their fault).
- Risk: features per machine-hour (services.analytics.risk.features.machine_hours), a model
  trained on A's training days (model.train; purged of the rows whose label horizon crosses
  the split: features.observed), evaluated on A's held-out days and on B
  (model.evaluate: ROC AUC, precision at the top 10%) against the naive baseline (hours since
  the last fault).

Sizes come from the environment: BENCH_PREDICTIVE_MACHINES (12), BENCH_PREDICTIVE_STEP_S (10),
BENCH_PREDICTIVE_TRAIN_DAYS (21), BENCH_PREDICTIVE_TEST_DAYS (7), BENCH_PREDICTIVE_B_DAYS (7),
BENCH_PREDICTIVE_SEED_A (16), BENCH_PREDICTIVE_SEED_B (61). ANOMALY_* and RISK_* variables
apply as they do to the service.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from dataclasses import dataclass
from typing import Any

import asyncpg

from bench.common import RESULTS, migrated_database, save
from protheus_demo.plantgen import generate, load, write_truth
from protheus_demo.plantgen.model import PlantData, TruthEvent
from protheus_demo.plantgen.scoring import (
    Detection,
    DriftScore,
    KindScore,
    roc_auc,
    score_drifts,
    score_kind,
)
from shared.settings import Settings

SHORT_KINDS = ("spike", "stuck", "out_of_range")
TARGETS = {
    "precision": 0.9,
    "recall": 0.9,
    "median_delay_s": 60.0,
    "drifts_caught": 0.8,
    "auc": 0.85,
    "auc_over_baseline": 0.1,
}
DETECTIONS = (
    "SELECT machine, kind, metrics, started_at, ended_at, detail FROM anomaly_events"
    " ORDER BY started_at"
)
ROLLUP_TRIGGERS = (
    ("telemetry_samples", "rollup_mark_samples"),
    ("machine_states", "rollup_mark_states"),
    ("machine_counters", "rollup_mark_counters"),
)
HOUR = dt.timedelta(hours=1)
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _env_number(name: str, default: float) -> float:
    raw = os.environ.get(name)
    return default if raw in (None, "") else float(raw)


@dataclass(frozen=True)
class Config:
    machines: int = 12
    step_s: float = 10.0
    train_days: float = 21.0
    test_days: float = 7.0
    b_days: float = 7.0
    seed_a: int = 16
    seed_b: int = 61

    @classmethod
    def from_env(cls) -> Config:
        d = cls()
        return cls(
            machines=int(_env_number("BENCH_PREDICTIVE_MACHINES", d.machines)),
            step_s=_env_number("BENCH_PREDICTIVE_STEP_S", d.step_s),
            train_days=_env_number("BENCH_PREDICTIVE_TRAIN_DAYS", d.train_days),
            test_days=_env_number("BENCH_PREDICTIVE_TEST_DAYS", d.test_days),
            b_days=_env_number("BENCH_PREDICTIVE_B_DAYS", d.b_days),
            seed_a=int(_env_number("BENCH_PREDICTIVE_SEED_A", d.seed_a)),
            seed_b=int(_env_number("BENCH_PREDICTIVE_SEED_B", d.seed_b)),
        )


@dataclass
class Plant:
    """One generated data set in its own MES database."""

    name: str
    data: PlantData
    dsn: str
    load_s: float
    counts: dict[str, int]


def floor_hour(moment: dt.datetime) -> dt.datetime:
    return EPOCH + (moment - EPOCH) // HOUR * HOUR


async def make_plant(
    name: str, seed: int, config: Config, start: dt.datetime, days: float
) -> Plant:
    data = generate(seed, machines=config.machines, start=start, days=days, step_s=config.step_s)
    dsn = await migrated_database(f"bench_predictive_{name.lower()}")
    conn = await asyncpg.connect(dsn)
    try:
        # The OEE rollups' dirty marks (migration 0021) cost a third of the COPY and nothing
        # here reads the rollups: off for the load, on again after.
        for table, trigger in ROLLUP_TRIGGERS:
            await conn.execute(f"ALTER TABLE {table} DISABLE TRIGGER {trigger}")
        began = time.perf_counter()
        counts = await load(conn, data)
        load_s = time.perf_counter() - began
        for table, trigger in ROLLUP_TRIGGERS:
            await conn.execute(f"ALTER TABLE {table} ENABLE TRIGGER {trigger}")
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
    write_truth(data, RESULTS / f"predictive_truth_{name}.json")
    rate = counts["samples"] / load_s if load_s else 0.0
    print(
        f"seed {name} ({seed}): {config.machines} machines x {days:g} days every "
        f"{config.step_s:g} s: {counts['samples']:,} samples, {counts['states']:,} states, "
        f"{counts['counters']:,} counters generated and loaded in {load_s:.1f} s "
        f"({rate:,.0f} samples/s); truth: {len(data.events)} events",
        flush=True,
    )
    return Plant(name, data, dsn, load_s, counts)


def settings_for(dsn: str) -> Settings:
    return Settings.from_env({**os.environ, "MES_DB_URL": dsn})


async def detect(plant: Plant) -> tuple[list[Detection], dict[str, Any]]:
    from services.analytics.anomalies.job import detect_until_caught_up

    pool = await asyncpg.create_pool(plant.dsn, min_size=1, max_size=4)
    try:
        began = time.perf_counter()
        written = await detect_until_caught_up(pool, settings_for(plant.dsn))
        took = time.perf_counter() - began
        async with pool.acquire() as conn:
            rows = await conn.fetch(DETECTIONS)
    finally:
        await pool.close()
    samples = plant.counts["samples"]
    print(
        f"seed {plant.name}: detector caught up in {took:.1f} s ({samples / took:,.0f} samples/s), "
        f"{written} event writes, {len(rows)} events",
        flush=True,
    )
    return [Detection.from_row(r) for r in rows], {
        "catchUpS": took,
        "samplesPerS": samples / took if took else None,
        "eventWrites": written,
        "events": len(rows),
    }


def score_anomalies(
    truth: list[TruthEvent], detections: list[Detection], window: tuple[dt.datetime, dt.datetime]
) -> tuple[dict[str, KindScore], DriftScore]:
    kinds = {k: score_kind(k, truth, detections, window=window) for k in SHORT_KINDS}
    return kinds, score_drifts(truth, detections, window=window)


def _pct(value: float | None) -> str:
    return "   -  " if value is None else f"{value * 100:5.1f}%"


def _secs(value: float | None) -> str:
    return "    -" if value is None else f"{value:5.0f}"


def anomaly_table(label: str, kinds: dict[str, KindScore], drifts: DriftScore) -> list[str]:
    lines = [
        f"anomalies, {label}:",
        "  kind          truth  found  fragments  precision  recall  median delay s",
    ]
    for kind, s in kinds.items():
        lines.append(
            f"  {kind:<12} {s.truths:6d} {s.detections:6d} {s.fragments:10d}     {_pct(s.precision)}  "
            f"{_pct(s.recall)}  {_secs(s.median_delay_s)}"
        )
    lead = None if drifts.median_lead_s is None else drifts.median_lead_s / 3600
    lines.append(
        f"  drift        {drifts.drifts:6d} {drifts.detections:6d} {drifts.fragments:10d}     "
        f"{_pct(drifts.precision)}  "
        f"caught before fault {_pct(drifts.share)} (median lead "
        f"{'-' if lead is None else f'{lead:.1f} h'})"
    )
    return lines


def anomaly_verdicts(kinds: dict[str, KindScore], drifts: DriftScore) -> dict[str, bool]:
    verdicts = {}
    for kind, s in kinds.items():
        verdicts[f"{kind}.precision"] = (s.precision or 0) >= TARGETS["precision"]
        verdicts[f"{kind}.recall"] = (s.recall or 0) >= TARGETS["recall"]
        verdicts[f"{kind}.median_delay"] = (
            s.median_delay_s is not None and s.median_delay_s <= TARGETS["median_delay_s"]
        )
    verdicts["drift.caught_before_fault"] = (drifts.share or 0) >= TARGETS["drifts_caught"]
    return verdicts


async def risk(a: Plant, b: Plant, split: dt.datetime) -> dict[str, Any]:
    from services.analytics.risk import features, model

    pools = {p.name: await asyncpg.create_pool(p.dsn, min_size=1, max_size=2) for p in (a, b)}
    try:
        settings = settings_for(a.dsn)
        began = time.perf_counter()
        train_rows = await features.machine_hours(pools["A"], settings, a.data.start, split)
        # Purged: a training row's label looks horizon hours ahead, into the held-out days for
        # those of the last hours before the split.
        train_rows = features.observed(train_rows, split, settings.risk.horizon_h)
        test_rows = await features.machine_hours(pools["A"], settings, split, a.data.end)
        b_rows = await features.machine_hours(pools["B"], settings, b.data.start, b.data.end)
        features_s = time.perf_counter() - began
        began = time.perf_counter()
        trained = model.train(train_rows, settings)
        train_s = time.perf_counter() - began
        results: dict[str, Any] = {
            "featuresS": features_s,
            "trainS": train_s,
            "card": getattr(trained, "card", None),
        }
        for label, rows in (("A held-out", test_rows), ("B", b_rows)):
            figures = dict(model.evaluate(trained, rows))
            if figures.get("baseline_auc") is None:
                usable = [r for r in rows if getattr(r, "label", None) is not None]
                baseline = [float(s) for s in model.baseline_scores(usable)]
                figures["baseline_auc"] = roc_auc(baseline, [int(r.label) for r in usable])
            results[label] = figures
    finally:
        for pool in pools.values():
            await pool.close()
    return results


def risk_lines(results: dict[str, Any]) -> tuple[list[str], dict[str, bool]]:
    lines = ["failure risk (fault within the horizon), model vs baseline (hours since last fault):"]
    lines.append(
        "  data          rows  positives   AUC  baseline AUC  precision@10%  baseline p@10%"
    )
    verdicts = {}
    for label in ("A held-out", "B"):
        f = results[label]

        def num(key: str, f: dict[str, Any] = f) -> str:
            value = f.get(key)
            return "   -" if value is None else f"{value:.3f}"

        lines.append(
            f"  {label:<12} {f.get('rows', 0):5d} {f.get('positives', 0):10d} {num('auc'):>6} "
            f"{num('baseline_auc'):>13} {num('precision_at_10'):>14} "
            f"{num('baseline_precision_at_10'):>15}"
        )
        model_auc, base_auc = f.get("auc"), f.get("baseline_auc")
        verdicts[f"risk.{label}.auc"] = model_auc is not None and model_auc >= TARGETS["auc"]
        verdicts[f"risk.{label}.over_baseline"] = (
            model_auc is not None
            and model_auc
            >= (base_auc if base_auc is not None else 0.5) + TARGETS["auc_over_baseline"]
        )
    card = results.get("card") or {}
    if card:
        lines.append(f"  model: {card.get('algorithm')} {card.get('version')}")
    return lines, verdicts


async def main() -> None:
    config = Config.from_env()
    end = floor_hour(dt.datetime.now(dt.UTC)) - HOUR
    days_a = config.train_days + config.test_days
    start_a = end - dt.timedelta(days=days_a)
    split = start_a + dt.timedelta(days=config.train_days)
    start_b = end - dt.timedelta(days=config.b_days)
    a = await make_plant("A", config.seed_a, config, start_a, days_a)
    b = await make_plant("B", config.seed_b, config, start_b, config.b_days)
    results: dict[str, Any] = {
        "config": config.__dict__,
        "split": split.isoformat(),
        "load": {
            p.name: {"seconds": p.load_s, **p.counts, "samplesPerS": p.counts["samples"] / p.load_s}
            for p in (a, b)
        },
        "targets": TARGETS,
    }
    report: list[str] = []
    verdicts: dict[str, bool] = {}
    try:
        detections = {p.name: await detect(p) for p in (a, b)}
    except ImportError as exc:
        message = f"anomaly detector unavailable ({exc}): services.analytics.anomalies.job"
        print(message, flush=True)
        results["anomalies"] = {"skipped": message}
    else:
        results["detector"] = {name: info for name, (_, info) in detections.items()}
        results["anomalies"] = {}
        for label, plant, window in (
            ("A held-out", a, (split, a.data.end)),
            ("B", b, (b.data.start, b.data.end)),
            ("A training days", a, (a.data.start, split)),
        ):
            kinds, drifts = score_anomalies(plant.data.events, detections[plant.name][0], window)
            report += anomaly_table(f"{label} ({window[0]:%Y-%m-%d %H:%M} to "
                                    f"{window[1]:%Y-%m-%d %H:%M} UTC)", kinds, drifts)  # fmt: skip
            results["anomalies"][label] = {
                **{k: s.as_dict() for k, s in kinds.items()},
                "drift": drifts.as_dict(),
            }
            if label != "A training days":
                verdicts.update(
                    {f"{label}.{k}": v for k, v in anomaly_verdicts(kinds, drifts).items()}
                )
    try:
        risk_results = await risk(a, b, split)
    except ImportError as exc:
        message = f"risk model unavailable ({exc}): services.analytics.risk"
        print(message, flush=True)
        results["risk"] = {"skipped": message}
    else:
        results["risk"] = risk_results
        lines, risk_verdicts = risk_lines(risk_results)
        report += lines
        verdicts.update(risk_verdicts)
    report.append(
        "targets: spike/stuck/out_of_range precision >= 0.9, recall >= 0.9, median delay <= 60 s; "
        "drifts caught before their fault >= 80%; risk AUC >= 0.85 and >= baseline + 0.1"
    )
    if verdicts:
        missed = [name for name, ok in verdicts.items() if not ok]
        report.append(
            f"met {len(verdicts) - len(missed)} of {len(verdicts)} targets"
            + (f"; missed: {', '.join(missed)}" if missed else "")
        )
    results["verdicts"] = verdicts
    print("\n".join(report), flush=True)
    # numpy numbers and datetimes in the model card: as JSON numbers and strings
    save("predictive", json.loads(json.dumps(results, default=_plain)))


def _plain(value: object) -> object:
    if hasattr(value, "item"):
        return value.item()
    return str(value)

"""Failure risk: store and load models, score machines' last complete hour (alerts with
hysteresis), and the routes' answers."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
from threadpoolctl import threadpool_limits

from services.analytics.risk import queries
from services.analytics.risk.features import HOUR, MachineHour, floor_hour, machine_hours
from services.analytics.risk.model import SIGNATURE, TrainedModel, sign, signed_by
from shared.db.pools import mes_connection
from shared.errors import NotFound
from shared.json import loads
from shared.pagination import Page, split_page
from shared.settings import RiskSettings, Settings

log = logging.getLogger(__name__)


async def store_model(
    pool: asyncpg.Pool, model: TrainedModel, *, key: str, active: bool = True
) -> None:
    """Save a trained model (risk_models), its blob signed with the key (RISK_MODEL_KEY) in the
    card; an active one replaces the active one."""
    blob = model.to_blob()
    async with pool.acquire() as conn, conn.transaction():
        await queries.insert_model(
            conn,
            version=model.version,
            trained_at=dt.datetime.fromisoformat(model.card["trainedAt"]),
            algorithm=model.algorithm,
            card={**model.card, SIGNATURE: sign(blob, key)},
            blob=blob,
            active=active,
        )


async def load_model(
    pool: asyncpg.Pool, *, key: str, version: str | None = None
) -> TrainedModel | None:
    """A stored model by version, or the active one; None when there is none, or when its blob
    is not signed with the key (RISK_MODEL_KEY): it is never unpickled then."""
    async with pool.acquire() as conn:
        stored = await queries.model(conn, version=version)
    if stored is None:
        return None
    if not signed_by(stored.blob, stored.card, key):
        log.error(
            "risk model %s refused: its blob's signature (card %s) does not match RISK_MODEL_KEY"
            " (written elsewhere, or trained with another key: train again)",
            stored.version,
            SIGNATURE,
        )
        return None
    card = {k: v for k, v in stored.card.items() if k != SIGNATURE}
    # Unpickling a model takes a while: off the event loop.
    return await asyncio.to_thread(TrainedModel.from_blob, stored.blob, card)


class ModelCache:
    """The active model, unpickled once per version (the job asks every run); a version whose
    signature is refused is not read again (one error in the log)."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.model: TrainedModel | None = None
        self.refused: str | None = None

    async def active(self, pool: asyncpg.Pool) -> TrainedModel | None:
        async with pool.acquire() as conn:
            version = await queries.active_version(conn)
        if version is None or version == self.refused:
            self.model = None
        elif self.model is None or self.model.version != version:
            self.model = await load_model(pool, key=self.key, version=version)
            self.refused = version if self.model is None else None
        return self.model


@dataclass(frozen=True)
class Transition:
    open: bool  # the alert's state after this score
    event: str | None  # "open", "close" or None (no change)


def alert_transition(was_open: bool, risk: float, settings: RiskSettings) -> Transition:
    """Open at RISK_ALERT or more; close below RISK_ALERT - RISK_ALERT_HYSTERESIS; else keep."""
    if not was_open and risk >= settings.alert:
        return Transition(True, "open")
    if was_open and risk < settings.alert - settings.hysteresis:
        return Transition(False, "close")
    return Transition(was_open, None)


def alert_payload(
    score: queries.Score,
    event: str,
    *,
    model: TrainedModel,
    settings: RiskSettings,
    now: dt.datetime,
) -> dict[str, Any]:
    """The MQTT alert of a risk crossing (PREDICT.md)."""
    return {
        "type": "risk",
        "event": event,
        "machine": score.machine,
        "risk": score.risk,
        "threshold": settings.alert,
        "horizonH": model.horizon_h,
        "topFeatures": score.top_features,
        "modelVersion": model.version,
        "ts": now.isoformat(),
    }


def scores_of(model: TrainedModel, rows: Sequence[MachineHour]) -> list[queries.Score]:
    """Risk and top features of each row, on one native thread (a few rows per run, beside
    other jobs: never worth a pool of threads). Blocking: the scorer runs it in a worker thread
    (asyncio.to_thread), off the event loop."""
    with threadpool_limits(limits=1):
        risks = model.scores(rows)
        explained = model.explain(rows)
    return [
        queries.Score(
            machine=row.machine,
            hour=row.hour,
            risk=round(float(min(1.0, max(0.0, risk))), 6),
            top_features=[c.as_dict() for c in contributions],
        )
        for row, risk, contributions in zip(rows, risks, explained, strict=True)
    ]


async def save_scores(
    pool: asyncpg.Pool,
    scores: Sequence[queries.Score],
    *,
    model: TrainedModel,
    settings: RiskSettings,
    present: Collection[str] | None = None,
) -> int:
    """Write the scores and, in the same transaction, the alerts their crossings raise. With
    `present` (the machines the run saw, scored or in fault), an open alert of any other
    machine is closed as stale (it stopped sending: its last risk would stand forever).
    Returns the number of alerts written."""
    if not scores and present is None:
        return 0
    now = dt.datetime.now(dt.UTC)
    async with pool.acquire() as conn, conn.transaction():
        states = await queries.alert_states(conn, machines=[s.machine for s in scores])
        opened: list[bool] = []
        alerts: list[tuple[str, dict[str, Any]]] = []
        for score in scores:
            change = alert_transition(states.get(score.machine, False), score.risk, settings)
            opened.append(change.open)
            if change.event is not None:
                alerts.append(
                    (
                        score.machine,
                        alert_payload(score, change.event, model=model, settings=settings, now=now),
                    )
                )
        if present is not None:
            stale = await queries.open_alerts_except(
                conn, machines=sorted({*present, *(s.machine for s in scores)})
            )
            for last in stale:
                payload = alert_payload(last, "close", model=model, settings=settings, now=now)
                alerts.append((last.machine, {**payload, "reason": "stale"}))
            await queries.close_alerts(conn, machines=[s.machine for s in stale])
        if scores:
            await queries.save_scores(conn, scores=scores, alert_open=opened, version=model.version)
        await queries.insert_alerts(conn, alerts=alerts)
    return len(alerts)


def scored_hour(now: dt.datetime) -> dt.datetime:
    """The hour the scorer rates at `now`: the last complete one (it ends at floor_hour(now))."""
    return floor_hour(now) - HOUR


async def score_current(
    pool: asyncpg.Pool,
    settings: Settings,
    model: TrainedModel,
    *,
    now: dt.datetime | None = None,
) -> dict[str, int]:
    """Score each machine's last complete hour (observed at floor_hour(now), the features of
    a whole hour as the model was trained on: the hour just begun would give a partial one, its
    risk sagging after each hour boundary; machines with samples in the 8 hours before it, one
    in fault is left as last scored) and write machine_risk (its `hour`) and the alerts; an
    open alert of a machine without samples in those 8 hours is closed as stale."""
    hour = scored_hour(now or dt.datetime.now(dt.UTC))
    rows = await machine_hours(pool, settings, hour, hour + HOUR, horizon_h=model.horizon_h)
    present = {r.machine for r in rows}
    rows = [r for r in rows if not r.in_fault]
    scores = await asyncio.to_thread(scores_of, model, rows)
    alerts = await save_scores(pool, scores, model=model, settings=settings.risk, present=present)
    return {"machine_risk": len(scores), "alert_outbox": alerts}


# --- routes ----------------------------------------------------------------------------------


def _iso(value: dt.datetime | None, settings: Settings) -> str | None:
    return value.astimezone(settings.tz).isoformat() if value is not None else None


def risk_item(row: asyncpg.Record | dict[str, Any], settings: Settings) -> dict[str, Any]:
    """A machine's risk as the routes answer it."""
    model = None
    if row["model_version"] is not None:
        model = {
            "version": row["model_version"],
            "trainedAt": _iso(row["model_trained_at"], settings),
            "algorithm": row["model_algorithm"],
        }
    horizon = row["model_horizon_h"]
    features = row["top_features"]
    return {
        "machine": row["machine"],
        "risk": row["risk"],
        "horizonH": int(horizon) if horizon is not None else settings.risk.horizon_h,
        "hour": _iso(row["hour"], settings),
        "scoredAt": _iso(row["scored_at"], settings),
        "alert": bool(row["alert_open"]),
        "threshold": settings.risk.alert,
        "topFeatures": loads(features) if isinstance(features, str) else (features or []),
        "model": model,
    }


async def machine_risk(pool: asyncpg.Pool, settings: Settings, machine: str) -> dict[str, Any]:
    async with mes_connection(pool) as conn:
        row = await queries.machine_risk(conn, machine=machine)
    if row is None:
        raise NotFound(
            f"Máquina {machine} desconhecida: não está no cadastro de recursos do Protheus "
            "(SH1) nem enviou dados por MQTT."
        )
    return risk_item(row, settings)


async def ranking(
    pool: asyncpg.Pool,
    settings: Settings,
    *,
    page: Page,
    line: tuple[str, str, str] | None,
    line_text: str | None,
) -> dict[str, Any]:
    async with mes_connection(pool) as conn:
        rows = await queries.ranking(conn, line=line, limit=page.size, offset=page.offset)
    found = split_page(rows, "machine")
    items = [risk_item(r, settings) for r in found.rows]
    return page.envelope(found.total, items, filters={"line": line_text})

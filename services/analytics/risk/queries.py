"""SQL of failure risk (migration 0028): models, the latest score per machine, its alerts, and
the routes' reads. MES statements only, each behind a function taking the connection first."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, NamedTuple

import asyncpg

from services.analytics.alerts.queries import notify_publisher
from shared.db.pools import Connection
from shared.json import dumps, loads


class StoredModel(NamedTuple):
    version: str
    trained_at: dt.datetime
    algorithm: str
    card: dict[str, Any]
    blob: bytes


class Score(NamedTuple):
    """One machine's new score, as the job writes it."""

    machine: str
    hour: dt.datetime
    risk: float
    top_features: list[dict[str, Any]]


ACTIVE_VERSION = "SELECT version FROM risk_models WHERE active"
"""The active model's version (risk_models), if any."""


async def active_version(conn: Connection) -> str | None:
    value = await conn.fetchval(ACTIVE_VERSION)
    return str(value) if value is not None else None


MODEL = """
SELECT version, trained_at, algorithm, card, blob FROM risk_models
WHERE CASE WHEN $1::text IS NULL THEN active ELSE version = $1 END
"""
"""A model by version (risk_models), or the active one when $1 is NULL."""


def _loads(value: Any) -> dict[str, Any]:
    return dict(loads(value)) if isinstance(value, str | bytes) else dict(value)


async def model(conn: Connection, *, version: str | None = None) -> StoredModel | None:
    row = await conn.fetchrow(MODEL, version)
    if row is None:
        return None
    return StoredModel(
        row["version"], row["trained_at"], row["algorithm"], _loads(row["card"]), row["blob"]
    )


DEACTIVATE = "UPDATE risk_models SET active = false WHERE active"
INSERT_MODEL = """
INSERT INTO risk_models (version, trained_at, algorithm, card, blob, active)
VALUES ($1, $2, $3, CAST($4 AS jsonb), $5, $6)
"""
"""A new model (risk_models); the caller deactivates the previous one first when $6."""


async def insert_model(
    conn: Connection,
    *,
    version: str,
    trained_at: dt.datetime,
    algorithm: str,
    card: dict[str, Any],
    blob: bytes,
    active: bool,
) -> None:
    """Store a model; an active one replaces the active one (the caller's transaction)."""
    if active:
        await conn.execute(DEACTIVATE)
    await conn.execute(INSERT_MODEL, version, trained_at, algorithm, dumps(card), blob, active)


ALERT_STATES = """
SELECT r.machine, r.alert_open
FROM machine_risk AS r
WHERE r.machine = ANY($1::text[])
ORDER BY r.machine
FOR UPDATE
"""
"""Whether each machine's risk alert is open (machine_risk), locked for the job's update."""


async def alert_states(conn: Connection, *, machines: Sequence[str]) -> dict[str, bool]:
    rows = await conn.fetch(ALERT_STATES, list(machines))
    return {r["machine"]: r["alert_open"] for r in rows}


OPEN_ELSEWHERE = """
SELECT r.machine, r.hour, r.risk, r.top_features
FROM machine_risk AS r
WHERE r.alert_open AND r.machine <> ALL($1::text[])
ORDER BY r.machine
FOR UPDATE
"""
"""Machines whose risk alert is open (machine_risk) other than those given, locked."""


async def open_alerts_except(conn: Connection, *, machines: Sequence[str]) -> list[Score]:
    rows = await conn.fetch(OPEN_ELSEWHERE, list(machines))
    return [
        Score(r["machine"], r["hour"], r["risk"], list(_features(r["top_features"]))) for r in rows
    ]


def _features(value: Any) -> list[dict[str, Any]]:
    return list(loads(value)) if isinstance(value, str | bytes) else list(value or [])


CLOSE_ALERTS = "UPDATE machine_risk SET alert_open = false WHERE machine = ANY($1::text[])"
"""Close the machines' risk alerts (machine_risk), their scores kept."""


async def close_alerts(conn: Connection, *, machines: Sequence[str]) -> None:
    if machines:
        await conn.execute(CLOSE_ALERTS, list(machines))


UPSERT_SCORES = """
INSERT INTO machine_risk AS r (machine, hour, risk, top_features, model_version, scored_at,
                               alert_open)
SELECT u.machine, u.hour, u.risk, CAST(u.top_features AS jsonb), $5, now(), u.alert_open
FROM unnest(CAST($1 AS text[]), CAST($2 AS timestamptz[]), CAST($3 AS float8[]),
            CAST($4 AS text[]), CAST($6 AS boolean[]))
     AS u(machine, hour, risk, top_features, alert_open)
ORDER BY u.machine
ON CONFLICT (machine) DO UPDATE
    SET hour = EXCLUDED.hour, risk = EXCLUDED.risk, top_features = EXCLUDED.top_features,
        model_version = EXCLUDED.model_version, scored_at = EXCLUDED.scored_at,
        alert_open = EXCLUDED.alert_open
"""
"""Each machine's latest score (machine_risk) as parallel arrays, one statement."""


async def save_scores(
    conn: Connection, *, scores: Sequence[Score], alert_open: Sequence[bool], version: str
) -> None:
    await conn.execute(
        UPSERT_SCORES,
        [s.machine for s in scores],
        [s.hour for s in scores],
        [s.risk for s in scores],
        [dumps(s.top_features) for s in scores],
        version,
        list(alert_open),
    )


INSERT_ALERTS = """
INSERT INTO alert_outbox (machine, payload)
SELECT u.machine, CAST(u.payload AS jsonb)
FROM unnest(CAST($1 AS text[]), CAST($2 AS text[])) WITH ORDINALITY AS u(machine, payload, n)
ORDER BY u.n
"""
"""Risk alerts to publish (alert_outbox, 0026), in the order given."""


async def insert_alerts(conn: Connection, *, alerts: Sequence[tuple[str, dict[str, Any]]]) -> None:
    """Queue the alerts and wake the publisher when the caller's transaction commits."""
    if alerts:
        await conn.execute(INSERT_ALERTS, [m for m, _ in alerts], [dumps(p) for _, p in alerts])
        await notify_publisher(conn)


_RISK_COLUMNS = """
       r.hour, r.risk, r.top_features, r.scored_at, r.alert_open,
       s.version AS model_version, s.trained_at AS model_trained_at,
       s.algorithm AS model_algorithm, s.card ->> 'horizonH' AS model_horizon_h
"""

MACHINE_RISK = f"""
WITH known AS (
    SELECT $1::text AS machine
    WHERE EXISTS (SELECT 1 FROM machines WHERE machine = $1)
       OR EXISTS (SELECT 1 FROM analytics_src.sh1 WHERE machine = $1)
)
SELECT k.machine, {_RISK_COLUMNS}
FROM known AS k
LEFT JOIN machine_risk AS r ON r.machine = k.machine
LEFT JOIN risk_models AS s
       ON s.version = COALESCE(r.model_version, (SELECT version FROM risk_models WHERE active))
"""
"""One machine's latest score (machine_risk) with the model that gave it (else the active one,
risk_models); no row when the machine is unknown (neither in `machines` nor the SH1 mirror)."""


async def machine_risk(conn: Connection, *, machine: str) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(MACHINE_RISK, machine)
    return row


RANKING = f"""
WITH known AS (
    SELECT machine FROM machines
    WHERE $1::text IS NULL OR (site, area, line) = ($1, $2, $3)
    UNION
    SELECT machine FROM analytics_src.sh1 WHERE $1::text IS NULL
),
ranked AS (
    SELECT k.machine, {_RISK_COLUMNS}
    FROM known AS k
    LEFT JOIN machine_risk AS r ON r.machine = k.machine
    LEFT JOIN risk_models AS s
           ON s.version = COALESCE(r.model_version, (SELECT version FROM risk_models WHERE active))
)
SELECT h.total, p.*
FROM (SELECT count(*) AS total FROM ranked) AS h
LEFT JOIN LATERAL (
    SELECT * FROM ranked ORDER BY risk DESC NULLS LAST, machine LIMIT $4 OFFSET $5
) AS p ON true
"""
"""Known machines (`machines`, on a line ($1, $2, $3) when given, and the SH1 mirror when not)
ranked by their latest risk (machine_risk; unscored last), one page with the total."""


async def ranking(
    conn: Connection,
    *,
    line: tuple[str, str, str] | None,
    limit: int,
    offset: int,
) -> list[asyncpg.Record]:
    site, area, name = line if line is not None else (None, None, None)
    rows: list[asyncpg.Record] = await conn.fetch(RANKING, site, area, name, limit, offset)
    return rows

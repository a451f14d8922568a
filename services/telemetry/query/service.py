"""What each telemetry query route does: check its limits, run its statement(s), shape the answer."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from services.telemetry.query import queries
from services.telemetry.query.schemas import (
    MAX_BUCKETS,
    MAX_PAYLOAD_BYTES,
    MAX_POINTS,
    MAX_RAW_HOURS,
    MAX_STATE_INTERVALS,
)
from shared.db.pools import mes_connection
from shared.db.sources import Row
from shared.errors import DependencyUnavailable, NotFound, invalid_parameter
from shared.lines import split_line
from shared.pagination import Page, split_page
from shared.protheus.context import ProtheusContext

BUCKET_SECONDS = {"1m": 60, "15m": 900, "1h": 3600, "1d": 86400}


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def instant(value: dt.datetime | None, tz: ZoneInfo) -> str | None:
    """An instant as the API shows it: ISO-8601 in the plant's zone, with its offset."""
    return value.astimezone(tz).isoformat() if value is not None else None


async def require_known(protheus: ProtheusContext, machine: str, *, in_mes: bool) -> None:
    """404 unless the machine has sent data (MES) or is a live SH1 resource (Protheus)."""
    if in_mes:
        return
    try:
        sql = queries.sh1_machines(protheus.dialect, protheus.tables, one=True)
        rows = await protheus.source.fetch(
            sql, {"sh1_filial": await protheus.filial("SH1"), "machine": machine}
        )
    except DependencyUnavailable as exc:
        raise DependencyUnavailable(
            f"A máquina {machine} nunca enviou dados ao MES e o banco do Protheus está "
            "indisponível para confirmar se ela existe no SH1; tente novamente em instantes."
        ) from exc
    if not rows:
        raise NotFound(
            f"Máquina {machine} desconhecida: não está no cadastro de recursos do Protheus "
            "(SH1) nem enviou dados por MQTT. Consulte /api/v1/machines para os códigos válidos."
        )


def check_bucket_count(start: dt.datetime, end: dt.datetime, bucket: str) -> None:
    """400 when the window holds more than MAX_BUCKETS buckets of this size."""
    buckets = math.ceil((end - start).total_seconds() / BUCKET_SECONDS[bucket])
    if bucket == "1d":
        buckets += 1  # a window between two plant midnights touches one more day
    if buckets > MAX_BUCKETS:
        raise invalid_parameter(
            "bucket",
            "limit",
            f"a janela tem {buckets} baldes de {bucket} (máximo {MAX_BUCKETS}); use um balde "
            "maior ou uma janela menor.",
        )


def effective_end(start: dt.datetime, end: dt.datetime) -> dt.datetime:
    """The window's end, never past now: what happens after now is not known yet."""
    return max(min(end, utc_now()), start)


# --- machines ------------------------------------------------------------------------------------


async def erp_machines(protheus: ProtheusContext) -> tuple[list[Row], str | None]:
    """Live SH1 resources, or none and a note when the Protheus database is unreachable."""
    try:
        sql = queries.sh1_machines(protheus.dialect, protheus.tables, one=False)
        return await protheus.source.fetch(sql, {"sh1_filial": await protheus.filial("SH1")}), None
    except DependencyUnavailable:
        return [], (
            "Protheus indisponível: a lista traz só as máquinas que já enviaram dados ao MES, "
            "sem as do cadastro SH1."
        )


def metric_values(
    names: Sequence[str] | None,
    values: Sequence[float] | None,
    times: Sequence[dt.datetime] | None,
    tz: ZoneInfo,
) -> list[dict[str, Any]]:
    return [
        {"metric": name, "value": value, "ts": instant(ts, tz)}
        for name, value, ts in zip(names or (), values or (), times or (), strict=True)
    ]


def machine_item(row: Mapping[str, Any], *, with_values: bool, tz: ZoneInfo) -> dict[str, Any]:
    """One machine of the list, with its latest metric values when asked."""
    item: dict[str, Any] = {
        "machine": row["machine"],
        "site": row["site"],
        "area": row["area"],
        "line": row["line"],
        "description": row["description"],
        "inProtheus": row["in_erp"],
        "lastSeen": instant(row["last_seen"], tz),
        "state": row["state"],
        "stateReason": row["state_reason"],
        "stateSince": instant(row["state_since"], tz),
    }
    if with_values:
        item["metrics"] = metric_values(
            row["metric_names"], row["metric_values"], row["metric_times"], tz
        )
    return item


async def list_machines(
    pool: asyncpg.Pool,
    protheus: ProtheusContext,
    *,
    page: Page,
    line: str | None,
    state: str | None,
    values: bool,
    tz: ZoneInfo,
) -> tuple[dict[str, Any], str | None]:
    """Every known machine (SH1 and MES, one statement each), paged in the MES statement;
    with a note when Protheus could not be read."""
    erp, note = await erp_machines(protheus)
    async with mes_connection(pool) as conn:
        rows = await queries.machine_page(
            conn,
            erp_codes=[row["machine"] for row in erp],
            erp_descriptions=[row["description"] for row in erp],
            limit=page.size,
            offset=page.offset,
            line=split_line(line) if line is not None else None,
            state=state,
            with_values=values,
        )
    found = split_page(rows, "machine")
    items = [machine_item(row, with_values=values, tz=tz) for row in found.rows]
    filters = {"line": line, "state": state, "values": values}
    return page.envelope(found.total, items, filters=filters), note


async def latest(
    pool: asyncpg.Pool, protheus: ProtheusContext, *, machine: str, tz: ZoneInfo
) -> dict[str, Any]:
    async with mes_connection(pool) as conn:
        rows = await queries.latest_values(conn, machine=machine)
    head = rows[0]
    metrics = [
        {"metric": row["metric"], "value": row["value"], "ts": instant(row["ts"], tz)}
        for row in rows
        if row["metric"] is not None
    ]
    await require_known(
        protheus, machine, in_mes=head["registered"] or bool(metrics) or head["state"] is not None
    )
    return {
        "machine": machine,
        "site": head["site"],
        "area": head["area"],
        "line": head["line"],
        "lastSeen": instant(head["last_seen"], tz),
        "state": head["state"],
        "stateReason": head["state_reason"],
        "stateSince": instant(head["state_since"], tz),
        "metrics": metrics,
    }


# --- series, states, counters ---------------------------------------------------------------------


async def raw_points(
    pool: asyncpg.Pool,
    *,
    machine: str,
    metric: str,
    start: dt.datetime,
    end: dt.datetime,
    tz: ZoneInfo,
) -> tuple[list[dict[str, Any]], bool]:
    """Raw points of the window (at most MAX_RAW_HOURS and MAX_POINTS, else 400), and whether
    the machine is registered."""
    if end - start > dt.timedelta(hours=MAX_RAW_HOURS):
        raise invalid_parameter(
            "to",
            "range",
            f"sem bucket a janela pode ter no máximo {MAX_RAW_HOURS} h de pontos brutos; "
            "informe bucket (1m, 15m, 1h, 1d) ou encurte a janela.",
        )
    async with mes_connection(pool) as conn:
        rows = await queries.raw_series(
            conn, machine=machine, metric=metric, start=start, end=end, max_points=MAX_POINTS
        )
    counted = int(rows[0]["points"])
    if counted > MAX_POINTS:
        raise invalid_parameter(
            "to",
            "limit",
            f"a janela tem {counted} pontos brutos (máximo {MAX_POINTS}); informe bucket "
            "(1m, 15m, 1h, 1d) ou encurte a janela.",
        )
    points = [
        {"ts": instant(row["ts"], tz), "value": row["value"]}
        for row in rows
        if row["ts"] is not None
    ]
    return points, rows[0]["registered"]


async def bucket_points(
    pool: asyncpg.Pool,
    *,
    machine: str,
    metric: str,
    start: dt.datetime,
    end: dt.datetime,
    bucket: str,
    aggregates: tuple[str, ...],
    tz: ZoneInfo,
) -> tuple[list[dict[str, Any]], bool]:
    """One row per non-empty bucket with the asked aggregates, and whether the machine is
    registered."""
    check_bucket_count(start, end, bucket)
    async with mes_connection(pool) as conn:
        rows = await queries.bucketed_series(
            conn,
            machine=machine,
            metric=metric,
            start=start,
            end=end,
            bucket=bucket,
            aggregates=aggregates,
            plant_timezone=tz.key,
        )
    points = [
        {
            "bucket": instant(row["bucket"], tz),
            **{name: int(row[name]) if name == "count" else row[name] for name in aggregates},
        }
        for row in rows
        if row["bucket"] is not None
    ]
    return points, rows[0]["registered"]


async def series(
    pool: asyncpg.Pool,
    protheus: ProtheusContext,
    *,
    machine: str,
    metric: str,
    start: dt.datetime,
    end: dt.datetime,
    bucket: str | None,
    aggregates: tuple[str, ...] | None,
    tz: ZoneInfo,
) -> dict[str, Any]:
    """Raw points without bucket, else per-bucket aggregates (`avg` unless asked)."""
    if bucket is None:
        chosen: tuple[str, ...] = ()
        points, registered = await raw_points(
            pool, machine=machine, metric=metric, start=start, end=end, tz=tz
        )
    else:
        chosen = aggregates or ("avg",)
        points, registered = await bucket_points(
            pool, machine=machine, metric=metric, start=start, end=end, tz=tz,
            bucket=bucket, aggregates=chosen,
        )  # fmt: skip
    await require_known(protheus, machine, in_mes=registered or bool(points))
    return {
        "machine": machine,
        "metric": metric,
        "bucket": bucket,
        "agg": list(chosen),
        "from": instant(start, tz),
        "to": instant(end, tz),
        "points": points,
    }


async def states(
    pool: asyncpg.Pool,
    protheus: ProtheusContext,
    *,
    machine: str,
    start: dt.datetime,
    end: dt.datetime,
    tz: ZoneInfo,
) -> dict[str, Any]:
    end = effective_end(start, end)
    async with mes_connection(pool) as conn:
        rows = await queries.state_intervals(
            conn, machine=machine, start=start, end=end, max_intervals=MAX_STATE_INTERVALS
        )
    intervals = [
        {
            "state": row["state"],
            "reason": row["reason"],
            "start": instant(row["span_start"], tz),
            "end": instant(row["span_end"], tz),
        }
        for row in rows
        if row["state"] is not None
    ]
    if len(intervals) > MAX_STATE_INTERVALS:
        raise invalid_parameter(
            "to",
            "limit",
            f"a janela tem mais de {MAX_STATE_INTERVALS} intervalos de estado; encurte a janela.",
        )
    await require_known(protheus, machine, in_mes=rows[0]["registered"] or bool(intervals))
    return {
        "machine": machine,
        "from": instant(start, tz),
        "to": instant(end, tz),
        "intervals": intervals,
    }


async def counters(
    pool: asyncpg.Pool,
    protheus: ProtheusContext,
    *,
    machine: str,
    start: dt.datetime,
    end: dt.datetime,
    bucket: str,
    tz: ZoneInfo,
) -> dict[str, Any]:
    check_bucket_count(start, end, bucket)
    async with mes_connection(pool) as conn:
        rows = await queries.counter_buckets(
            conn, machine=machine, start=start, end=end, bucket=bucket, plant_timezone=tz.key
        )
    buckets = [
        {"bucket": instant(row["bucket"], tz), "good": int(row["good"]), "scrap": int(row["scrap"])}
        for row in rows
        if row["bucket"] is not None
    ]
    await require_known(protheus, machine, in_mes=rows[0]["registered"] or bool(buckets))
    return {
        "machine": machine,
        "bucket": bucket,
        "from": instant(start, tz),
        "to": instant(end, tz),
        "buckets": buckets,
    }


async def dead_letters(pool: asyncpg.Pool, *, page: Page, tz: ZoneInfo) -> dict[str, Any]:
    async with mes_connection(pool) as conn:
        rows = await queries.dead_letter_page(
            conn, limit=page.size, offset=page.offset, max_payload=MAX_PAYLOAD_BYTES
        )
    found = split_page(rows, "id")
    items = [
        {
            "id": row["id"],
            "receivedAt": instant(row["received_at"], tz),
            "topic": row["topic"],
            # Bytes that are not UTF-8 are what got the message here: show them, replaced.
            "payload": bytes(row["payload"]).decode("utf-8", errors="replace"),
            "payloadSize": row["payload_size"],
            "reason": row["reason"],
        }
        for row in found.rows
    ]
    return page.envelope(found.total, items, filters={})

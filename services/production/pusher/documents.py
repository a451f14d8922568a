"""The kinds of documents the pusher delivers: production reports (MATA681) and stops (MATA682).

A kind gives the pusher what differs between them: its outbox SQL, what to do before
sending (a report may still need its order's data), the payload, the REST call, where its
marker is looked for in SH6, and its log fields. Everything else (lease, attempt presumed
unknown, settle-then-look-for-the-marker, backoff, breaker, order per key) is the pusher's,
the same for both.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Protocol

import asyncpg

from services.production.pusher import queries
from services.production.pusher.client import Outcome, ProtheusClient
from services.production.reports.service import order_for_report
from shared.protheus.context import ProtheusContext
from shared.protheus.sql import marker, marker_in_sh6, stop_marker_in_sh6

# MATA682's date-times (API adapter MATA682API): plant time, no offset.
STOP_DATETIME = "%Y-%m-%dT%H:%M:%S"
MINUTE = dt.timedelta(minutes=1)


class DocumentKind(Protocol):
    """What the pusher needs to know about one kind of document."""

    name: str  # "report", "stop": the log field `<name>_id` and the metric family
    outbox: queries.Outbox

    async def prepare(
        self, pool: asyncpg.Pool, protheus: ProtheusContext, document: dict[str, Any]
    ) -> None:
        """Complete the document before it is sent; DependencyUnavailable retries it later
        without counting an attempt."""

    def payload(
        self, document: dict[str, Any], *, tz: dt.tzinfo, now: dt.datetime
    ) -> dict[str, Any]:
        """The request body."""

    def attempt_checks(self, document: dict[str, Any]) -> tuple[object, ...]:
        """The outbox's `start_attempt` parameters after the first three (none for reports)."""

    async def post(
        self, client: ProtheusClient, payload: dict[str, Any], *, branch: str
    ) -> Outcome:
        """The REST call, mapped to an Outcome."""

    async def find_marker(
        self, protheus: ProtheusContext, document: dict[str, Any]
    ) -> tuple[str, bool] | None:
        """The SH6 row carrying the document's marker: (H6_IDENT, deleted?); live wins."""

    def log_extra(self, document: dict[str, Any]) -> dict[str, Any]:
        """The fields of every log line about the document."""


async def _marker_row(
    protheus: ProtheusContext, sql: str, params: dict[str, Any]
) -> tuple[str, bool] | None:
    rows = await protheus.source.fetch(sql, params)
    if not rows:
        return None
    live = [r for r in rows if r["deleted"] != "*"]
    chosen = live[0] if live else rows[0]
    return str(chosen["h6_ident"]).strip(), not live


# --- production reports (MATA681) ------------------------------------------------------------


def appointment_payload(report: dict[str, Any], tz: dt.tzinfo) -> dict[str, Any]:
    """The MATA681 body: dates dd/mm/yyyy and times HH:MM in plant time; the marker first in Comments."""
    start = report["start_at"].astimezone(tz)
    end = report["end_at"].astimezone(tz)
    comments = marker(report["id"])
    if report["scrap_reason"]:
        comments += f" {report['scrap_reason']}"
    return {
        "appointmentType": "3",
        "ProductionOrderNumber": report["order_key"],
        "ActivityCode": report["operation"],
        "ItemCode": report["item_code"] or "",
        "MachineCode": report["machine"],
        "StartReportDateTime": start.strftime("%d/%m/%Y"),
        "StartReportTime": start.strftime("%H:%M"),
        "EndReportDateTime": end.strftime("%d/%m/%Y"),
        "EndReportTime": end.strftime("%H:%M"),
        "ApprovedQuantity": float(report["good_quantity"]),
        "ScrapQuantity": float(report["scrap_quantity"]),
        "Part_Total": "T" if report["final"] else "P",
        "OperatorCode": report["operator"],
        "WarehouseCode": report["warehouse"] or "",
        "LotCode": report["lot"] or "",
        "Comments": comments,
        "ReportDateTime": end.strftime("%d/%m/%Y"),
    }


class Reports:
    """Production reports: ordered per branch, order and operation (report_outbox_heads)."""

    name = "report"
    outbox = queries.REPORTS

    async def prepare(
        self, pool: asyncpg.Pool, protheus: ProtheusContext, document: dict[str, Any]
    ) -> None:
        """A report accepted with the ERP database down has no product and warehouse yet:
        read them now (DependencyUnavailable while Protheus's database is away)."""
        if document["item_code"] is not None:
            return
        parts = (await protheus.dictionary.order_key()).split(document["order_key"])
        row = (
            await order_for_report(
                protheus,
                branch=document["branch"],
                parts=parts,
                operation=document["operation"],
                machine=document["machine"],
            )
            if parts is not None
            else None
        )
        # An order Protheus does not have is sent anyway: the routine's rejection is the answer.
        item_code, warehouse = (row["c2_produto"], row["c2_local"]) if row else ("", "")
        document["item_code"], document["warehouse"] = item_code, warehouse
        async with pool.acquire() as conn:
            await queries.save_order_data(
                conn, report_id=document["id"], item_code=item_code, warehouse=warehouse
            )

    def payload(
        self, document: dict[str, Any], *, tz: dt.tzinfo, now: dt.datetime
    ) -> dict[str, Any]:
        return appointment_payload(document, tz)

    def attempt_checks(self, document: dict[str, Any]) -> tuple[object, ...]:
        return ()  # a queued report cannot change (only a rejected one is corrected)

    async def post(
        self, client: ProtheusClient, payload: dict[str, Any], *, branch: str
    ) -> Outcome:
        return await client.post_appointment(payload, branch=branch)

    async def find_marker(
        self, protheus: ProtheusContext, document: dict[str, Any]
    ) -> tuple[str, bool] | None:
        return await _marker_row(
            protheus,
            marker_in_sh6(protheus.dialect, protheus.tables),
            {
                "sh6_filial": await protheus.filial("SH6", document["branch"]),
                "order_key": document["order_key"],
                "marker": f"{marker(document['id'])}%",
            },
        )

    def log_extra(self, document: dict[str, Any]) -> dict[str, Any]:
        return {"report_id": str(document["id"]), "order": document["order_key"]}


# --- stops (MATA682) -------------------------------------------------------------------------


def nearest_minute(at: dt.datetime) -> dt.datetime:
    """`at` rounded to the nearest whole minute (half a minute rounds up). Non-decreasing, so
    stops of a machine that do not overlap still do not once rounded (they may touch)."""
    floor = at.replace(second=0, microsecond=0)
    return floor + MINUTE if at - floor >= dt.timedelta(seconds=30) else floor


def pushed_bounds(start: dt.datetime, end: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """What Protheus gets for a stop: start and end each to the nearest minute (Protheus keeps
    HH:MM); an end that rounds onto the start is one minute after it. A detected stop lasts at
    least STOP_MIN_S, so only a sub-minute part of a person's split can need that minute (and
    may then touch into its neighbour, which Protheus refuses as an overlap: a rejection the
    person corrects)."""
    pushed_start, pushed_end = nearest_minute(start), nearest_minute(end)
    if pushed_end <= pushed_start:
        pushed_end = pushed_start + MINUTE
    return pushed_start, pushed_end


def stop_payload(stop: dict[str, Any], *, tz: dt.tzinfo, now: dt.datetime) -> dict[str, Any]:
    """The MATA682 body: bounds rounded to whole minutes in plant time, the report date now
    (the routine refuses one before the system date), the marker first in Observation."""
    start, end = pushed_bounds(stop["start_at"], stop["end_at"])
    observation = marker(stop["id"])
    if stop["note"]:
        observation += f" {stop['note']}"
    return {
        "MachineCode": stop["machine"],
        "StopReasonCode": stop["reason_code"],
        "StartDateTime": start.astimezone(tz).strftime(STOP_DATETIME),
        "EndDateTime": end.astimezone(tz).strftime(STOP_DATETIME),
        "OperatorCode": stop["operator"] or "",
        "ReportDateTime": now.astimezone(tz).strftime(STOP_DATETIME),
        "Observation": observation,
    }


class Stops:
    """Closed, classified stops: ordered per machine by start (stop_outbox's heads)."""

    name = "stop"
    outbox = queries.STOPS

    async def prepare(
        self, pool: asyncpg.Pool, protheus: ProtheusContext, document: dict[str, Any]
    ) -> None:
        return  # a stop carries everything its report needs

    def payload(
        self, document: dict[str, Any], *, tz: dt.tzinfo, now: dt.datetime
    ) -> dict[str, Any]:
        return stop_payload(document, tz=tz, now=now)

    def attempt_checks(self, document: dict[str, Any]) -> tuple[object, ...]:
        """The bounds sent, kept with the attempt, then what the payload was built from: the
        attempt starts only if the stop has not changed since it was claimed."""
        pushed_start, pushed_end = pushed_bounds(document["start_at"], document["end_at"])
        return (
            pushed_start, pushed_end, document["machine"], document["branch"],
            document["start_at"], document["end_at"], document["reason_code"],
            document["operator"], document["note"],
        )  # fmt: skip

    async def post(
        self, client: ProtheusClient, payload: dict[str, Any], *, branch: str
    ) -> Outcome:
        return await client.post_stop_report(payload, branch=branch)

    async def find_marker(
        self, protheus: ProtheusContext, document: dict[str, Any]
    ) -> tuple[str, bool] | None:
        return await _marker_row(
            protheus,
            stop_marker_in_sh6(protheus.dialect, protheus.tables),
            {
                "sh6_filial": await protheus.filial("SH6", document["branch"]),
                "machine": document["machine"],
                "marker": f"{marker(document['id'])}%",
            },
        )

    def log_extra(self, document: dict[str, Any]) -> dict[str, Any]:
        return {"stop_id": str(document["id"]), "machine": document["machine"]}


REPORTS: DocumentKind = Reports()
STOPS: DocumentKind = Stops()
KINDS: tuple[DocumentKind, ...] = (REPORTS, STOPS)

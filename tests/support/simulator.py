"""Simulator test support: the simulator's configured user and its Basic credentials; demo orders
found by SQL (PROTHEUS.md's status rules), appointment bodies and assertions."""

from __future__ import annotations

import base64
import datetime
import uuid
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
from aiohttp import ClientResponse

USER = PASSWORD = "mesinteg"
BASIC = {"Authorization": "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()}

# SC2 conditions of each situation the simulator must tell apart.
CONDITIONS = {
    "accepting": "c2_tpop = 'F' AND c2_datrf = '' AND c2_status IN ('', 'N')",
    "planned": "c2_tpop = 'P'",
    "closed": "c2_tpop = 'F' AND c2_datrf <> '' AND c2_status IN ('', 'N')",
    "suspended": "c2_tpop = 'F' AND c2_status = 'U'",
    "sacramented": "c2_status = 'S'",
}

ORDERS_SQL = """
SELECT trim(c2_num || c2_item || c2_sequen || c2_itemgrd) AS key, c2_num, c2_item, c2_sequen,
       trim(c2_produto) AS product, trim(c2_local) AS warehouse, c2_quje, c2_perda,
       coalesce(nullif(trim(c2_roteiro), ''), nullif(trim(b1_operpad), ''), '01') AS routing
FROM sc2010 c2
JOIN sb1010 b1 ON b1_filial = '' AND b1_cod = c2_produto AND b1.d_e_l_e_t_ = ' '
WHERE c2.d_e_l_e_t_ = ' ' AND c2_filial = $1 AND c2_itemgrd = '' AND {condition}
ORDER BY c2_num, c2_item, c2_sequen
"""

OPERATIONS_SQL = """
SELECT trim(g2_operac) AS operation, trim(g2_recurso) AS machine FROM sg2010
WHERE g2_filial = $1 AND g2_produto = $2 AND g2_codigo = $3 AND d_e_l_e_t_ = ' '
ORDER BY g2_operac
"""


@dataclass(frozen=True)
class DemoOrder:
    """An order of the demo data with what an appointment on it needs."""

    branch: str
    key: str
    product: str
    warehouse: str
    routing: str
    operations: tuple[str, ...]
    machines: dict[str, str]
    produced: float
    scrapped: float

    @property
    def last_operation(self) -> str:
        return self.operations[-1]


async def find_order(
    dsn: str, situation: str, *, branch: str = "01", min_operations: int = 1, skip: int = 0
) -> DemoOrder:
    """The `skip`-th order of a branch in a situation whose routing has enough operations."""
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(ORDERS_SQL.format(condition=CONDITIONS[situation]), branch)
        found = 0
        for row in rows:
            operations = await conn.fetch(OPERATIONS_SQL, branch, row["product"], row["routing"])
            if len(operations) < min_operations:
                continue
            if found == skip:
                return DemoOrder(
                    branch=branch,
                    key=row["key"],
                    product=row["product"],
                    warehouse=row["warehouse"],
                    routing=row["routing"],
                    operations=tuple(op["operation"] for op in operations),
                    machines={op["operation"]: op["machine"] for op in operations},
                    produced=row["c2_quje"],
                    scrapped=row["c2_perda"],
                )
            found += 1
    finally:
        await conn.close()
    raise LookupError(f"no {situation} order in branch {branch} with {min_operations}+ operations")


REMOVE = object()


def appointment_body(
    order: DemoOrder, operation: str | None = None, **fields: Any
) -> dict[str, Any]:
    """A valid MATA681 body for an operation of the order (the last by default).

    Keyword arguments override fields; `REMOVE` leaves a field out.
    """
    operation = operation or order.last_operation
    body: dict[str, Any] = {
        "appointmentType": "3",
        "ProductionOrderNumber": order.key,
        "ActivityCode": operation,
        "ItemCode": order.product,
        "MachineCode": order.machines[operation],
        "StartReportDateTime": "05/01/2026",
        "StartReportTime": "08:00",
        "EndReportDateTime": "05/01/2026",
        "EndReportTime": "10:30",
        "ApprovedQuantity": 10,
        "ScrapQuantity": 1,
        "Part_Total": "P",
        "OperatorCode": "000123",
        "WarehouseCode": order.warehouse,
        "LotCode": "L0501",
        "Comments": f"MES:{uuid.uuid4()}",
        "ReportDateTime": "05/01/2026",
    }
    body.update(fields)
    return {name: value for name, value in body.items() if value is not REMOVE}


async def fetch(dsn: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetch(sql, *args)
    finally:
        await conn.close()


async def fetchval(dsn: str, sql: str, *args: Any) -> Any:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetchval(sql, *args)
    finally:
        await conn.close()


async def sh6_count(dsn: str) -> int:
    """Every SH6 row, deleted ones too: a rejected appointment must leave this unchanged."""
    return await fetchval(dsn, "SELECT count(*) FROM sh6010")


async def sh6_with_comments(dsn: str, comments: str) -> list[asyncpg.Record]:
    return await fetch(dsn, "SELECT * FROM sh6010 WHERE h6_observa = $1", comments)


async def order_progress(dsn: str, order: DemoOrder) -> asyncpg.Record:
    return (
        await fetch(
            dsn,
            "SELECT c2_quje, c2_perda, c2_datrf FROM sc2010 WHERE c2_filial = $1"
            " AND trim(c2_num || c2_item || c2_sequen || c2_itemgrd) = $2 AND d_e_l_e_t_ = ' '",
            order.branch,
            order.key,
        )
    )[0]


async def assert_fault(resp: ClientResponse, status: int) -> dict[str, Any]:
    """Status and SetRestFault's shape: code, message, detailedMessage, helpUrl, details."""
    body = await resp.json()
    assert resp.status == status, (resp.status, body)
    assert resp.content_type == "application/json"
    assert set(body) == {"code", "message", "detailedMessage", "helpUrl", "details"}
    assert body["code"] == status
    assert isinstance(body["message"], str)
    assert body["message"].strip()
    assert isinstance(body["detailedMessage"], str)
    assert body["details"]
    for detail in body["details"]:
        assert set(detail) == {"code", "message", "detailedMessage"}
    return body


# --- stop reports (MATA682) ------------------------------------------------------------------

STOP_REPORTS = "/rest/api/pcp/v1/stopReports"
PLANT_ZONE = ZoneInfo("America/Sao_Paulo")  # the simulator's default PLANT_TIMEZONE


def plant_today() -> datetime.date:
    """The simulator's system date (dDataBase): today in the plant's zone."""
    return datetime.datetime.now(PLANT_ZONE).date()


def at(day: datetime.date, hour_minute: str) -> str:
    """`YYYY-MM-DDTHH:MM:00`, the API's plant-time form."""
    return f"{day.isoformat()}T{hour_minute}:00"


def stop_body(machine: str, start: str, end: str, **fields: Any) -> dict[str, Any]:
    """A valid MATA682 body: today's report date, reason 01, a marker in Observation.

    Keyword arguments override fields; `REMOVE` leaves a field out.
    """
    body: dict[str, Any] = {
        "MachineCode": machine,
        "StopReasonCode": "01",
        "StartDateTime": start,
        "EndDateTime": end,
        "OperatorCode": "000123",
        "ReportDateTime": at(plant_today(), "00:00"),
        "Observation": f"MES:{str(uuid.uuid4()).upper()} falta de bobina",
    }
    body.update(fields)
    return {name: value for name, value in body.items() if value is not REMOVE}


async def demo_machine(dsn: str, skip: int = 0) -> str:
    """A live SH1 machine of the demo (the `skip`-th in code order)."""
    return str(
        await fetchval(
            dsn,
            "SELECT trim(h1_codigo) FROM sh1010 WHERE d_e_l_e_t_ = ' '"
            " ORDER BY h1_codigo OFFSET $1 LIMIT 1",
            skip,
        )
    )

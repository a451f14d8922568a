"""The Sparkplug API: the edge nodes and devices the host has seen, where their data goes, and
the mapping that decides it (replaced whole; the host applies it to what it drains next)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from services.telemetry.query.service import instant
from services.telemetry.sparkplug import api_queries
from services.telemetry.sparkplug.api_queries import MappingRow
from shared.audit.middleware import InTransaction
from shared.db.pools import mes_connection
from shared.pagination import Page, split_page

# The device columns of a LIST_NODES row: parallel arrays, one item per device (NULL: none).
DEVICE_ARRAYS = (
    "devices", "device_online", "device_birth_at", "device_death_at", "device_last_seen",
    "device_site", "device_area", "device_line", "device_machine", "device_mapped",
)  # fmt: skip


def target(site: str, area: str, line: str, machine: str, mapped: bool) -> dict[str, Any]:
    """Where a node's own metrics or a device's data go, as the API shows it."""
    return {"site": site, "area": area, "line": line, "machine": machine, "mapped": mapped}


def node_item(row: Mapping[str, Any], tz: ZoneInfo) -> dict[str, Any]:
    """A LIST_NODES row as the node schema dumps it, its devices zipped from the arrays."""
    devices = [
        {
            "device": device,
            "online": online,
            "birthAt": instant(birth_at, tz),
            "deathAt": instant(death_at, tz),
            "lastSeen": instant(last_seen, tz),
            **target(site, area, line, machine, mapped),
        }
        for device, online, birth_at, death_at, last_seen, site, area, line, machine, mapped in zip(
            *(row[column] or () for column in DEVICE_ARRAYS), strict=True
        )
    ]
    return {
        "group": row["group_id"],
        "edgeNode": row["edge_node"],
        "online": row["online"],
        "bdSeq": row["bd_seq"],
        "birthAt": instant(row["birth_at"], tz),
        "deathAt": instant(row["death_at"], tz),
        "lastSeen": instant(row["last_seen"], tz),
        "rebirthRequests": row["rebirths"],
        "seqGap": row["seq_gap"],
        "devices": devices,
        **target(row["site"], row["area"], row["line"], row["machine"], row["mapped"]),
    }


async def list_nodes(
    pool: asyncpg.Pool,
    *,
    page: Page,
    group: str | None,
    online: bool | None,
    area: str,
    tz: ZoneInfo,
) -> dict[str, Any]:
    """One page of edge nodes in (group, edge node) order, each with every device seen."""
    async with mes_connection(pool) as conn:
        rows = await api_queries.list_nodes(
            conn, area=area, group=group, online=online, limit=page.size, offset=page.offset
        )
    found = split_page(rows, "edge_node")
    items = [node_item(row, tz) for row in found.rows]
    return page.envelope(found.total, items, filters={"group": group, "online": online})


def mapping_rows(entries: Sequence[Mapping[str, Any]]) -> list[MappingRow]:
    """The PUT body's entries (validated, one per key) as table rows; no device = the node's."""
    return [
        MappingRow(
            group_id=entry["group"],
            edge_node=entry["edgeNode"],
            device=entry.get("device") or "",
            site=entry["site"],
            area=entry["area"],
            line=entry["line"],
            machine=entry["machine"],
        )
        for entry in entries
    ]


def mapping_table(rows: Sequence[MappingRow]) -> dict[str, Any]:
    """The table as the mapping schema dumps it, in key order."""
    ordered = sorted(rows, key=lambda r: (r.group_id, r.edge_node, r.device))
    return {
        "mappings": [
            {
                "group": row.group_id,
                "edgeNode": row.edge_node,
                "device": row.device,
                "site": row.site,
                "area": row.area,
                "line": row.line,
                "machine": row.machine,
            }
            for row in ordered
        ]
    }


async def mapping(pool: asyncpg.Pool) -> dict[str, Any]:
    """GET /sparkplug/mapping: the whole table."""
    async with mes_connection(pool) as conn:
        return mapping_table(await api_queries.mapping(conn))


async def replace_mapping(
    pool: asyncpg.Pool, *, entries: Sequence[Mapping[str, Any]], audit: InTransaction | None = None
) -> dict[str, Any]:
    """PUT /sparkplug/mapping: the table replaced by the body's entries in one transaction (with
    the request's audit row); answers the new table. Data already stored stays where it went."""
    rows = mapping_rows(entries)
    async with mes_connection(pool) as conn:
        async with conn.transaction():
            await api_queries.replace_mapping(conn, rows=rows)
            if audit is not None:
                await audit.write(conn, None)
        if audit is not None:
            audit.committed()
    return mapping_table(rows)

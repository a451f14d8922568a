"""SQL of the Sparkplug HTTP API: the edge nodes with their devices and where their data goes,
and the mapping table (read, and replaced whole). The host's own state SQL is queries.py."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import astuple, dataclass
from typing import Any

import asyncpg

from shared.db.pools import Connection

# One page of nodes, with the total, each with its devices as arrays in device order (one
# round trip). Filters: $2 group, $3 online (NULL = any); $4 limit, $5 offset.
# Where a node's own metrics and a device's data go: its mapping row `m`, else the convention
# (site = group, area = SPARKPLUG_AREA ($1), line = edge node, machine = the device, or the
# edge node for the node's own metrics): the host's rule, only shown here.
LIST_NODES = """
WITH matches AS (
    SELECT n.* FROM sparkplug_nodes n
    WHERE (CAST($2 AS text) IS NULL OR n.group_id = $2)
      AND (CAST($3 AS boolean) IS NULL OR n.online = $3)
)
SELECT h.total, p.* FROM (SELECT count(*) AS total FROM matches) h
LEFT JOIN LATERAL (
    SELECT n.group_id, n.edge_node, n.online, n.bd_seq, n.birth_at, n.death_at, n.last_seen,
           n.rebirths, n.gap_since IS NOT NULL AS seq_gap,
           COALESCE(m.site, n.group_id) AS site, COALESCE(m.area, CAST($1 AS text)) AS area,
           COALESCE(m.line, n.edge_node) AS line, COALESCE(m.machine, n.edge_node) AS machine,
           m.group_id IS NOT NULL AS mapped,
           d.devices, d.device_online, d.device_birth_at, d.device_death_at, d.device_last_seen,
           d.device_site, d.device_area, d.device_line, d.device_machine, d.device_mapped
    FROM matches n
    LEFT JOIN sparkplug_mapping m
           ON m.group_id = n.group_id AND m.edge_node = n.edge_node AND m.device = ''
    CROSS JOIN LATERAL (
        SELECT array_agg(t.device ORDER BY t.device) AS devices,
               array_agg(t.online ORDER BY t.device) AS device_online,
               array_agg(t.birth_at ORDER BY t.device) AS device_birth_at,
               array_agg(t.death_at ORDER BY t.device) AS device_death_at,
               array_agg(t.last_seen ORDER BY t.device) AS device_last_seen,
               array_agg(t.site ORDER BY t.device) AS device_site,
               array_agg(t.area ORDER BY t.device) AS device_area,
               array_agg(t.line ORDER BY t.device) AS device_line,
               array_agg(t.machine ORDER BY t.device) AS device_machine,
               array_agg(t.mapped ORDER BY t.device) AS device_mapped
        FROM (
            SELECT d.device, d.online, d.birth_at, d.death_at, d.last_seen,
                   COALESCE(dm.site, d.group_id) AS site,
                   COALESCE(dm.area, CAST($1 AS text)) AS area,
                   COALESCE(dm.line, d.edge_node) AS line,
                   COALESCE(dm.machine, d.device) AS machine,
                   dm.group_id IS NOT NULL AS mapped
            FROM sparkplug_devices d
            LEFT JOIN sparkplug_mapping dm
                   ON dm.group_id = d.group_id AND dm.edge_node = d.edge_node
                  AND dm.device = d.device
            WHERE d.group_id = n.group_id AND d.edge_node = n.edge_node
        ) t
    ) d
    ORDER BY n.group_id, n.edge_node LIMIT $4 OFFSET $5
) p ON TRUE
"""

MAPPING = """
SELECT group_id, edge_node, device, site, area, line, machine FROM sparkplug_mapping
ORDER BY group_id, edge_node, device
"""

# PUTs one at a time (this mode conflicts with itself and with writes, not with the host's
# reads), then the table emptied: the body replaces it whole.
CLEAR_MAPPING = """
LOCK TABLE sparkplug_mapping IN SHARE ROW EXCLUSIVE MODE;
DELETE FROM sparkplug_mapping;
"""

INSERT_MAPPING = """
INSERT INTO sparkplug_mapping (group_id, edge_node, device, site, area, line, machine)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                     $7::text[])
"""


@dataclass(frozen=True, slots=True)
class MappingRow:
    """One sparkplug_mapping row: (group, edge node, device) -> site/area/line/machine."""

    group_id: str
    edge_node: str
    device: str  # '' = the node's own metrics
    site: str
    area: str
    line: str
    machine: str


async def list_nodes(
    conn: Connection,
    *,
    area: str,
    group: str | None,
    online: bool | None,
    limit: int,
    offset: int,
) -> list[asyncpg.Record]:
    """The page's nodes under a header row with the total (shared.pagination.split_page);
    `area` is SPARKPLUG_AREA, the convention's area."""
    return await conn.fetch(LIST_NODES, area, group, online, limit, offset)


async def mapping(conn: Connection) -> list[MappingRow]:
    """The whole mapping table, in key order."""
    return [MappingRow(**dict(row)) for row in await conn.fetch(MAPPING)]


async def replace_mapping(conn: Connection, *, rows: Sequence[MappingRow]) -> None:
    """Empty the table and insert `rows` (unique keys); the caller holds the transaction."""
    await conn.execute(CLEAR_MAPPING)
    if rows:
        columns: list[tuple[Any, ...]] = list(zip(*map(astuple, rows), strict=True))
        await conn.execute(INSERT_MAPPING, *columns)

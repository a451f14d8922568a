"""The Sparkplug host's SQL (migration 0016's tables): set-based, connection first, the caller
owns the transaction (the HTTP API's SQL is in api_queries.py)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import asyncpg

from shared.db.pools import Connection

# --- the host (drain transaction) ------------------------------------------------------------

# Nodes not seen before, created before the lock, in key order (two drains inserting the same
# new nodes then wait for each other in the same order).
INSERT_NODES = """
INSERT INTO sparkplug_nodes (group_id, edge_node)
SELECT g, n FROM unnest($1::text[], $2::text[]) AS k(g, n) ORDER BY g, n
ON CONFLICT DO NOTHING
"""

# The batch's edge nodes, locked in key order (LockRows runs above the sort): a drain of
# another ingestor (shared subscription) touching the same nodes waits, never deadlocks.
# `now`: the database's clock, that the rebirth sweep compares gap_since with.
LOCK_NODES = """
SELECT n.group_id, n.edge_node, n.online, n.bd_seq, n.birth_version, n.last_seq, n.missing,
       n.gap_since, n.rebirth_wanted, n.birth_at, n.death_at, n.last_seen, n.birth_ts,
       n.pending_death_bd_seq, n.pending_death_at, now() AS now
FROM sparkplug_nodes AS n
JOIN unnest($1::text[], $2::text[]) AS k(group_id, edge_node) USING (group_id, edge_node)
ORDER BY n.group_id, n.edge_node
FOR UPDATE OF n
"""

# Everything else the host needs about the locked nodes, in one round trip: their devices,
# their mapping rows (a PUT of the mapping applies from the next batch on), the last values
# of the channel metrics, and the birth tables of the nodes whose birth_version is not the
# one cached ($3, $4). `kind` says which table a row comes from.
NODE_CONTEXT = """
WITH k AS (SELECT * FROM unnest($1::text[], $2::text[]) AS k(group_id, edge_node)),
     r AS (SELECT * FROM unnest($3::text[], $4::text[]) AS r(group_id, edge_node))
SELECT 'device' AS kind, d.group_id, d.edge_node, d.device, NULL::text AS name,
       d.online, d.birth_at, d.death_at, d.last_seen AS ts,
       NULL::float8 AS value, NULL::text AS text, NULL::bigint AS alias, NULL::int AS datatype,
       NULL::text AS site, NULL::text AS area, NULL::text AS line, NULL::text AS machine,
       d.birth_ts
FROM sparkplug_devices AS d JOIN k USING (group_id, edge_node)
UNION ALL
SELECT 'mapping', m.group_id, m.edge_node, m.device, NULL, NULL, NULL, NULL, NULL,
       NULL, NULL, NULL, NULL, m.site, m.area, m.line, m.machine, NULL
FROM sparkplug_mapping AS m JOIN k USING (group_id, edge_node)
UNION ALL
SELECT 'value', v.group_id, v.edge_node, v.device, v.metric, NULL, NULL, NULL, v.ts,
       v.value, v.text, NULL, NULL, NULL, NULL, NULL, NULL, NULL
FROM sparkplug_last_values AS v JOIN k USING (group_id, edge_node)
UNION ALL
SELECT 'metric', b.group_id, b.edge_node, b.device, b.name, NULL, NULL, NULL, NULL,
       NULL, NULL, b.alias, b.datatype, NULL, NULL, NULL, NULL, NULL
FROM sparkplug_metrics AS b JOIN r USING (group_id, edge_node)
"""

UPDATE_NODES = """
UPDATE sparkplug_nodes AS n
SET online = u.online, bd_seq = u.bd_seq, birth_version = u.birth_version,
    last_seq = u.last_seq, missing = u.missing::smallint[], gap_since = u.gap_since,
    rebirth_wanted = u.rebirth_wanted, birth_at = u.birth_at, death_at = u.death_at,
    last_seen = u.last_seen, birth_ts = u.birth_ts,
    pending_death_bd_seq = u.pending_death_bd_seq, pending_death_at = u.pending_death_at
FROM unnest($1::text[], $2::text[], $3::bool[], $4::bigint[], $5::bigint[], $6::smallint[],
            $7::text[], $8::timestamptz[], $9::bool[], $10::timestamptz[], $11::timestamptz[],
            $12::timestamptz[], $13::timestamptz[], $14::bigint[], $15::timestamptz[])
     AS u(group_id, edge_node, online, bd_seq, birth_version, last_seq, missing, gap_since,
          rebirth_wanted, birth_at, death_at, last_seen, birth_ts, pending_death_bd_seq,
          pending_death_at)
WHERE n.group_id = u.group_id AND n.edge_node = u.edge_node
"""

UPSERT_DEVICES = """
INSERT INTO sparkplug_devices AS d (group_id, edge_node, device, online, birth_at, death_at,
                                    last_seen, birth_ts)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bool[], $5::timestamptz[],
                     $6::timestamptz[], $7::timestamptz[], $8::timestamptz[])
ON CONFLICT (group_id, edge_node, device) DO UPDATE
SET online = EXCLUDED.online, birth_at = EXCLUDED.birth_at, death_at = EXCLUDED.death_at,
    last_seen = GREATEST(d.last_seen, EXCLUDED.last_seen), birth_ts = EXCLUDED.birth_ts
"""

# An NBIRTH replaces the node's rows and its devices' ($1, $2); a DBIRTH its device's ($3..$5).
DELETE_METRICS = """
DELETE FROM sparkplug_metrics AS b
WHERE (b.group_id, b.edge_node) IN (SELECT * FROM unnest($1::text[], $2::text[]))
   OR (b.group_id, b.edge_node, b.device)
      IN (SELECT * FROM unnest($3::text[], $4::text[], $5::text[]))
"""

INSERT_METRICS = """
INSERT INTO sparkplug_metrics (group_id, edge_node, device, name, alias, datatype)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::int[])
"""

UPSERT_LAST_VALUES = """
INSERT INTO sparkplug_last_values AS v (group_id, edge_node, device, metric, value, text, ts)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::float8[], $6::text[],
                     $7::timestamptz[])
ON CONFLICT (group_id, edge_node, device, metric) DO UPDATE
SET value = EXCLUDED.value, text = EXCLUDED.text, ts = EXCLUDED.ts
"""

# --- the rebirth sweep -----------------------------------------------------------------------

# Nodes that need a rebirth (data no birth explains, or a seq gap older than reorder_s) and
# were not asked within reorder_s. SKIP LOCKED: a node a drain holds is claimed next sweep,
# and the claim never waits behind a drain (nor takes locks out of the drains' key order).
CLAIM_REBIRTHS = """
WITH due AS (
    SELECT group_id, edge_node FROM sparkplug_nodes
    WHERE (rebirth_wanted OR gap_since < now() - make_interval(secs => $1))
      AND (rebirth_at IS NULL OR rebirth_at < now() - make_interval(secs => $1))
    ORDER BY group_id, edge_node
    FOR UPDATE SKIP LOCKED
)
UPDATE sparkplug_nodes AS n SET rebirth_at = now(), rebirths = n.rebirths + 1
FROM due WHERE n.group_id = due.group_id AND n.edge_node = due.edge_node
RETURNING n.group_id, n.edge_node
"""


def _columns(rows: Sequence[tuple[Any, ...]], width: int) -> list[list[Any]]:
    return [list(c) for c in zip(*rows, strict=True)] if rows else [[] for _ in range(width)]


async def insert_nodes(conn: Connection, *, keys: Sequence[tuple[str, str]]) -> None:
    """Create the edge nodes (group, node) not stored yet."""
    if keys:
        await conn.execute(INSERT_NODES, *_columns(keys, 2))


async def lock_nodes(conn: Connection, *, keys: Sequence[tuple[str, str]]) -> list[asyncpg.Record]:
    """Lock the edge nodes (group, node) for the transaction, in key order; their rows."""
    return await conn.fetch(LOCK_NODES, *_columns(keys, 2))


async def node_context(
    conn: Connection, *, keys: Sequence[tuple[str, str]], reload: Sequence[tuple[str, str]]
) -> list[asyncpg.Record]:
    """Devices, mapping rows and last values of the nodes `keys`, and the birth metric
    tables of the nodes `reload` (rows tagged by `kind`)."""
    return await conn.fetch(NODE_CONTEXT, *_columns(keys, 2), *_columns(reload, 2))


async def update_nodes(conn: Connection, *, nodes: Sequence[tuple[Any, ...]]) -> None:
    """Write locked nodes' state: (group, node, online, bd_seq, birth_version, last_seq,
    missing (as an array literal), gap_since, rebirth_wanted, birth_at, death_at, last_seen,
    birth_ts, pending death's bd_seq, pending death's received time)."""
    if nodes:
        await conn.execute(UPDATE_NODES, *_columns(nodes, 15))


async def upsert_devices(conn: Connection, *, devices: Sequence[tuple[Any, ...]]) -> None:
    """(group, node, device, online, birth_at, death_at, last_seen, birth_ts); last_seen never
    goes back."""
    if devices:
        await conn.execute(UPSERT_DEVICES, *_columns(devices, 8))


async def replace_metrics(
    conn: Connection,
    *,
    nodes: Sequence[tuple[str, str]],
    devices: Sequence[tuple[str, str, str]],
    rows: Sequence[tuple[str, str, str, str, int | None, int]],
) -> None:
    """Births: drop the metric tables of reborn `nodes` (their devices' too) and `devices`,
    then store `rows` (group, node, device, name, alias as signed BIGINT, datatype)."""
    if nodes or devices:
        await conn.execute(DELETE_METRICS, *_columns(nodes, 2), *_columns(devices, 3))
    if rows:
        await conn.execute(INSERT_METRICS, *_columns(rows, 6))


async def upsert_last_values(
    conn: Connection,
    *,
    values: Sequence[tuple[str, str, str, str, float | None, str | None, dt.datetime]],
) -> None:
    """(group, node, device, metric, value, text, ts), one row per key."""
    if values:
        await conn.execute(UPSERT_LAST_VALUES, *_columns(values, 7))


async def claim_rebirths(conn: Connection, *, reorder_s: float) -> list[tuple[str, str]]:
    """Claim the nodes due a rebirth request (rebirth_at = now(), rebirths + 1)."""
    rows = await conn.fetch(CLAIM_REBIRTHS, reorder_s)
    return [(r["group_id"], r["edge_node"]) for r in rows]

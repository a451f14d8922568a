"""SQL of the telemetry query routes: one MES statement per request, at most one Protheus statement.

MES statements are PostgreSQL with asyncpg's `$n` placeholders, each behind a query function
that takes the connection first and keyword arguments (the caller owns the connection);
every value is bound, and only fixed fragments chosen from whitelists (bucket strides,
aggregate expressions) are formatted in. Each machine statement binds the machine as `$1`
and also says whether the machine is registered in the MES (`machines`), so "known
machine" costs nothing.

Protheus statements (named `:parameters`, rendered by the source for its driver) filter
live rows (`shared.protheus.sql.live`) and the FILIAL of every table (SH1, SC2, SB1, SG2,
SH6) with the branch resolver's value; table names come from the company's `Tables`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from functools import lru_cache

import asyncpg

from shared.db.dialect import Dialect
from shared.db.pools import Connection
from shared.protheus.keys import ORDER_KEY_COLUMNS, OrderKeyLayout, order_key_match_sql
from shared.protheus.naming import Tables
from shared.protheus.sql import live, operpad_lookup_sql, routing_sql

BUCKETS = ("1m", "15m", "1h", "1d")
AGGREGATES = ("avg", "min", "max", "last", "count")

Interval = tuple[dt.datetime, dt.datetime]

# Buckets below a day align to the epoch in UTC (date_bin's origin); a day follows the
# plant's calendar (PLANT_TIMEZONE, bound as the time zone), so a day bucket starts at local
# midnight.
_EPOCH = "TIMESTAMPTZ '1970-01-01 00:00:00+00'"
_STRIDES = {"1m": "INTERVAL '1 minute'", "15m": "INTERVAL '15 minutes'", "1h": "INTERVAL '1 hour'"}

# `last`: the value with the greatest ts, as the max of [epoch, value] arrays: constant
# memory per bucket (array_agg would hold every point of a day bucket).
_AGGREGATE_SQL = {
    "avg": "avg(s.value)",
    "min": "min(s.value)",
    "max": "max(s.value)",
    "last": "(max(ARRAY[CAST(extract(epoch FROM s.ts) AS double precision), s.value]))[2]",
    "count": "count(*)",
}

# Every per-machine statement binds the machine as $1.
_REGISTERED = "EXISTS (SELECT 1 FROM machines m WHERE m.machine = CAST($1 AS text))"


def _window(alias: str, start: str, end: str) -> str:
    """`alias.ts` inside [start, end), the bounds being placeholders."""
    return f"{alias}.ts >= CAST({start} AS timestamptz) AND {alias}.ts < CAST({end} AS timestamptz)"


def bucket_expression(bucket: str, column: str, tz: str) -> str:
    """The bucket start of `column` for a whitelisted bucket name; `tz` is the placeholder of
    the plant's zone, used by the day bucket only."""
    if bucket == "1d":
        return f"date_trunc('day', {column}, CAST({tz} AS text))"
    return f"date_bin({_STRIDES[bucket]}, {column}, {_EPOCH})"


def _latest_values(machine: str) -> str:
    """Last value and time of each metric of one machine (telemetry_samples).

    A loose index scan: the recursive part walks the machine's distinct metrics along the
    (machine, metric, ts) key, one probe per partition each, instead of reading every
    sample of the retention period; then one backward probe per metric for its latest point.
    """
    return f"""WITH RECURSIVE metric_names(metric) AS (
        (SELECT s.metric FROM telemetry_samples s WHERE s.machine = {machine}
         ORDER BY s.metric LIMIT 1)
        UNION ALL
        SELECT (SELECT s.metric FROM telemetry_samples s
                WHERE s.machine = {machine} AND s.metric > r.metric ORDER BY s.metric LIMIT 1)
        FROM metric_names r WHERE r.metric IS NOT NULL
    )
    SELECT r.metric, l.ts, l.value FROM metric_names r
    CROSS JOIN LATERAL (
        SELECT s.ts, s.value FROM telemetry_samples s
        WHERE s.machine = {machine} AND s.metric = r.metric ORDER BY s.ts DESC LIMIT 1
    ) l
    WHERE r.metric IS NOT NULL"""


_CURRENT_STATE = """LEFT JOIN LATERAL (
        SELECT s.state, s.reason, s.ts FROM machine_states s
        WHERE s.machine = {machine} ORDER BY s.ts DESC LIMIT 1
    ) st ON true"""


# --- machines --------------------------------------------------------------------------------


@lru_cache(maxsize=16)
def list_machines_sql(*, by_line: bool, by_state: bool, with_values: bool) -> str:
    """Every known machine: the MES's `machines` joined (FULL) with the SH1 codes and
    descriptions bound as arrays ($1, $2), each with its current state (latest
    machine_states row); a header row carries `total`, then the page ($3 rows from offset
    $4) in machine order. Filters, numbered after those: site, area and line (exact), then
    the current state. `with_values` adds each page machine's latest value per metric as
    three parallel arrays.
    """
    filters = []
    number = 4
    if by_line:
        filters.append(
            f"site = CAST(${number + 1} AS text) AND area = CAST(${number + 2} AS text) "
            f"AND line = CAST(${number + 3} AS text)"
        )
        number += 3
    if by_state:
        filters.append(f"state = CAST(${number + 1} AS text)")
    where = f"WHERE {' AND '.join(filters)}" if filters else ""
    values_join = ""
    values_columns = ""
    if with_values:
        values_join = f"""LEFT JOIN LATERAL (
            SELECT array_agg(v.metric ORDER BY v.metric) AS metric_names,
                   array_agg(v.value ORDER BY v.metric) AS metric_values,
                   array_agg(v.ts ORDER BY v.metric) AS metric_times
            FROM ({_latest_values("pg.machine")}) v
        ) lv ON true"""
        values_columns = ", lv.metric_names, lv.metric_values, lv.metric_times"
    return f"""WITH erp AS (
    SELECT e.machine, e.description
    FROM unnest(CAST($1 AS text[]), CAST($2 AS text[])) AS e(machine, description)
), known AS (
    SELECT COALESCE(m.machine, e.machine) AS machine, m.site, m.area, m.line, m.last_seen,
           e.description, (e.machine IS NOT NULL) AS in_erp
    FROM machines m FULL JOIN erp e ON e.machine = m.machine
), stated AS (
    SELECT k.*, st.state, st.reason AS state_reason, st.ts AS state_since
    FROM known k
    {_CURRENT_STATE.format(machine="k.machine")}
), matches AS (
    SELECT * FROM stated {where}
)
SELECT h.total, p.* FROM (SELECT count(*) AS total FROM matches) h
LEFT JOIN LATERAL (
    SELECT pg.*{values_columns}
    FROM (SELECT * FROM matches ORDER BY machine LIMIT $3 OFFSET $4) pg
    {values_join}
) p ON true
ORDER BY p.machine
"""


async def machine_page(
    conn: Connection,
    *,
    erp_codes: Sequence[str],
    erp_descriptions: Sequence[str | None],
    limit: int,
    offset: int,
    line: tuple[str, str, str] | None,
    state: str | None,
    with_values: bool,
) -> list[asyncpg.Record]:
    """A header row with the total, then one page of known machines (list_machines_sql)."""
    sql = list_machines_sql(
        by_line=line is not None, by_state=state is not None, with_values=with_values
    )
    args: list[object] = [list(erp_codes), list(erp_descriptions), limit, offset]
    if line is not None:
        args.extend(line)
    if state is not None:
        args.append(state)
    return await conn.fetch(sql, *args)


LATEST = f"""WITH latest AS (
    {_latest_values("CAST($1 AS text)")}
)
SELECT h.*, l.metric, l.ts, l.value
FROM (
    SELECT (mc.machine IS NOT NULL) AS registered, mc.site, mc.area, mc.line, mc.last_seen,
           st.state, st.reason AS state_reason, st.ts AS state_since
    FROM (SELECT 1) one
    LEFT JOIN machines mc ON mc.machine = CAST($1 AS text)
    {_CURRENT_STATE.format(machine="CAST($1 AS text)")}
) h
LEFT JOIN latest l ON true
ORDER BY l.metric
"""
"""One machine's ($1) `machines` row (if any), its current state (latest machine_states
row) and the last value and time of each of its metrics (telemetry_samples), one row per
metric; a single row with NULL metric columns when it has none."""


async def latest_values(conn: Connection, *, machine: str) -> list[asyncpg.Record]:
    return await conn.fetch(LATEST, machine)


# --- series ----------------------------------------------------------------------------------

RAW_SERIES = f"""
SELECT h.registered, h.points, p.ts, p.value
FROM (
    SELECT {_REGISTERED} AS registered,
           (SELECT count(*) FROM telemetry_samples s
            WHERE s.machine = CAST($1 AS text) AND s.metric = CAST($2 AS text)
              AND {_window("s", "$3", "$4")}) AS points
) h
LEFT JOIN LATERAL (
    SELECT s.ts, s.value FROM telemetry_samples s
    WHERE h.points <= CAST($5 AS bigint)
      AND s.machine = CAST($1 AS text) AND s.metric = CAST($2 AS text)
      AND {_window("s", "$3", "$4")}
) p ON true
ORDER BY p.ts
"""
"""Raw points of one machine's ($1) metric ($2) in [$3, $4) (telemetry_samples), counted
first in the same statement: the header carries `points` and the points themselves are
read only when there are at most $5 of them (the partition key prunes days)."""


async def raw_series(
    conn: Connection,
    *,
    machine: str,
    metric: str,
    start: dt.datetime,
    end: dt.datetime,
    max_points: int,
) -> list[asyncpg.Record]:
    return await conn.fetch(RAW_SERIES, machine, metric, start, end, max_points)


@lru_cache(maxsize=64)
def bucketed_series_sql(bucket: str, aggregates: tuple[str, ...]) -> str:
    """One row per non-empty bucket of one machine's ($1) metric ($2) in [$3, $4) with the
    asked aggregates (telemetry_samples), plus whether the machine is registered; empty
    buckets are never produced (GROUP BY over the points that exist). The day bucket binds
    the plant's zone as $5."""
    columns = ", ".join(f"{_AGGREGATE_SQL[name]} AS {name}" for name in aggregates)
    return f"""
SELECT h.registered, b.*
FROM (SELECT {_REGISTERED} AS registered) h
LEFT JOIN LATERAL (
    SELECT {bucket_expression(bucket, "s.ts", "$5")} AS bucket, {columns}
    FROM telemetry_samples s
    WHERE s.machine = CAST($1 AS text) AND s.metric = CAST($2 AS text)
      AND {_window("s", "$3", "$4")}
    GROUP BY 1
) b ON true
ORDER BY b.bucket
"""


async def bucketed_series(
    conn: Connection,
    *,
    machine: str,
    metric: str,
    start: dt.datetime,
    end: dt.datetime,
    bucket: str,
    aggregates: tuple[str, ...],
    plant_timezone: str,
) -> list[asyncpg.Record]:
    args: list[object] = [machine, metric, start, end]
    if bucket == "1d":
        args.append(plant_timezone)
    return await conn.fetch(bucketed_series_sql(bucket, aggregates), *args)


@lru_cache(maxsize=8)
def counters_sql(bucket: str) -> str:
    """Good and scrap counts of one machine ($1) (machine_counters, counts since the previous
    message, each attributed to its message's ts) summed per non-empty bucket in [$2, $3);
    the day bucket binds the plant's zone as $4."""
    return f"""
SELECT h.registered, b.bucket, b.good, b.scrap
FROM (SELECT {_REGISTERED} AS registered) h
LEFT JOIN LATERAL (
    SELECT {bucket_expression(bucket, "c.ts", "$4")} AS bucket,
           CAST(sum(c.good) AS bigint) AS good, CAST(sum(c.scrap) AS bigint) AS scrap
    FROM machine_counters c
    WHERE c.machine = CAST($1 AS text) AND {_window("c", "$2", "$3")}
    GROUP BY 1
) b ON true
ORDER BY b.bucket
"""


async def counter_buckets(
    conn: Connection,
    *,
    machine: str,
    start: dt.datetime,
    end: dt.datetime,
    bucket: str,
    plant_timezone: str,
) -> list[asyncpg.Record]:
    args: list[object] = [machine, start, end]
    if bucket == "1d":
        args.append(plant_timezone)
    return await conn.fetch(counters_sql(bucket), *args)


# --- states ----------------------------------------------------------------------------------

STATES = f"""
WITH events AS (
    (SELECT s.ts, s.state, s.reason FROM machine_states s
     WHERE s.machine = CAST($1 AS text) AND s.ts < CAST($2 AS timestamptz)
     ORDER BY s.ts DESC LIMIT 1)
    UNION ALL
    SELECT s.ts, s.state, s.reason FROM machine_states s
    WHERE s.machine = CAST($1 AS text) AND {_window("s", "$2", "$3")}
), spans AS (
    SELECT ts, state, reason,
           GREATEST(ts, CAST($2 AS timestamptz)) AS span_start,
           COALESCE(lead(ts) OVER (ORDER BY ts), CAST($3 AS timestamptz)) AS span_end,
           CASE WHEN state IS NOT DISTINCT FROM lag(state) OVER (ORDER BY ts)
                 AND reason IS NOT DISTINCT FROM lag(reason) OVER (ORDER BY ts)
                THEN 0 ELSE 1 END AS opens_run
    FROM events
), runs AS (
    -- By ts, not span_start: the state in force and a message exactly at $2 share a start.
    SELECT *, sum(opens_run) OVER (ORDER BY ts ROWS UNBOUNDED PRECEDING) AS run
    FROM spans
), intervals AS (
    SELECT min(state) AS state, min(reason) AS reason,
           min(span_start) AS span_start, max(span_end) AS span_end
    FROM runs GROUP BY run
)
SELECT h.registered, i.state, i.reason, i.span_start, i.span_end
FROM (SELECT {_REGISTERED} AS registered) h
LEFT JOIN LATERAL (
    SELECT * FROM intervals WHERE span_start < span_end
    ORDER BY span_start LIMIT CAST($4 AS bigint) + 1
) i ON true
ORDER BY i.span_start
"""
"""A machine's ($1) state intervals in [$2, $3) (machine_states): the state in force at $2
(the latest message before it) plus every message inside; each lasts until the next
message, the last until $3 (the caller passes the earlier of `to` and now); consecutive
messages with the same state and reason are one interval; clipped to the window; at most
$4 + 1 rows, so the caller can tell the limit was passed."""


async def state_intervals(
    conn: Connection,
    *,
    machine: str,
    start: dt.datetime,
    end: dt.datetime,
    max_intervals: int,
) -> list[asyncpg.Record]:
    return await conn.fetch(STATES, machine, start, end, max_intervals)


# --- dead letters ----------------------------------------------------------------------------

DEAD_LETTERS = """
SELECT h.total, p.id, p.received_at, p.topic, p.payload, p.payload_size, p.reason
FROM (SELECT count(*) AS total FROM telemetry_dead_letters) h
LEFT JOIN LATERAL (
    SELECT d.id, d.received_at, d.topic,
           substring(d.payload FROM 1 FOR CAST($1 AS integer)) AS payload,
           COALESCE(d.payload_size, octet_length(d.payload)) AS payload_size, d.reason
    FROM telemetry_dead_letters d
    ORDER BY d.received_at DESC, d.id DESC
    LIMIT $2 OFFSET $3
) p ON true
ORDER BY p.received_at DESC, p.id DESC
"""
"""A page ($2 rows from offset $3) of telemetry_dead_letters, newest first (received_at,
then id), with the total; payloads cut at $1 bytes, their full size beside them."""


async def dead_letter_page(
    conn: Connection, *, limit: int, offset: int, max_payload: int
) -> list[asyncpg.Record]:
    return await conn.fetch(DEAD_LETTERS, max_payload, limit, offset)


# --- OEE ---------------------------------------------------------------------------------------

OEE_FACTS = f"""
WITH targets AS (
    SELECT m.machine FROM machines m
    WHERE m.site = CAST($1 AS text) AND m.area = CAST($2 AS text)
      AND m.line = CAST($3 AS text)
    UNION
    SELECT CAST($4 AS text) WHERE CAST($4 AS text) IS NOT NULL
    UNION
    SELECT unnest(CAST($9 AS text[]))
), planned AS (
    SELECT p.p_start, p.p_end
    FROM unnest(CAST($5 AS timestamptz[]), CAST($6 AS timestamptz[])) AS p(p_start, p_end)
), events AS (
    SELECT t.machine, prior.ts, prior.state, prior.reason
    FROM targets t
    CROSS JOIN LATERAL (
        SELECT s.ts, s.state, s.reason FROM machine_states s
        WHERE s.machine = t.machine AND s.ts < CAST($7 AS timestamptz)
        ORDER BY s.ts DESC LIMIT 1
    ) prior
    UNION ALL
    SELECT s.machine, s.ts, s.state, s.reason
    FROM machine_states s JOIN targets t ON t.machine = s.machine
    WHERE {_window("s", "$7", "$8")}
), spans AS (
    SELECT machine, state, reason,
           GREATEST(ts, CAST($7 AS timestamptz)) AS span_start,
           COALESCE(lead(ts) OVER (PARTITION BY machine ORDER BY ts), CAST($8 AS timestamptz))
               AS span_end
    FROM events
), numbered AS (
    SELECT row_number() OVER () AS span_id, sp.* FROM spans sp
), covered AS (
    -- The parts of each non-running span inside a classified MES stop of the machine (stops
    -- of a machine never overlap: the last one started at or before the span's start, and
    -- those starting inside it, are the only candidates; two index probes per span).
    SELECT sp.span_id, sp.machine, sp.state, sp.reason, st.reason_code,
           GREATEST(sp.span_start, st.start_at) AS part_start,
           LEAST(sp.span_end, COALESCE(st.end_at, sp.span_end)) AS part_end
    FROM numbered sp
    CROSS JOIN LATERAL (
        SELECT s.reason_code, s.start_at, s.end_at FROM stops s
        WHERE s.machine = sp.machine AND s.start_at < sp.span_end
          AND s.start_at >= COALESCE(
              (SELECT max(b.start_at) FROM stops b
               WHERE b.machine = sp.machine AND b.start_at <= sp.span_start),
              CAST('-infinity' AS timestamptz))
    ) st
    WHERE sp.state <> 'running' AND st.reason_code IS NOT NULL
      AND (st.end_at IS NULL OR st.end_at > sp.span_start) AND sp.span_start < sp.span_end
), parts AS (
    SELECT machine, state, reason, reason_code, part_start, part_end
    FROM covered WHERE part_start < part_end
    UNION ALL
    -- What no classified stop covers: the span minus its covered parts.
    SELECT sp.machine, sp.state, sp.reason, NULL, lower(u.part), upper(u.part)
    FROM numbered sp
    LEFT JOIN (
        SELECT span_id, range_agg(tstzrange(part_start, part_end)) AS taken
        FROM covered WHERE part_start < part_end GROUP BY span_id
    ) t ON t.span_id = sp.span_id
    CROSS JOIN LATERAL unnest(
        tstzmultirange(tstzrange(sp.span_start, sp.span_end))
        - COALESCE(t.taken, CAST('{{}}' AS tstzmultirange))
    ) AS u(part)
    WHERE sp.span_start < sp.span_end
), state_time AS (
    SELECT pt.machine, pt.state, pt.reason, pt.reason_code,
           sum(extract(epoch FROM LEAST(pt.part_end, p.p_end) - GREATEST(pt.part_start, p.p_start)))
               AS seconds
    FROM parts pt JOIN planned p ON pt.part_start < p.p_end AND p.p_start < pt.part_end
    GROUP BY pt.machine, pt.state, pt.reason, pt.reason_code
), counts AS (
    SELECT c.machine, NULLIF(btrim(c.order_key), '') AS order_key,
           sum(c.good) AS good, sum(c.scrap) AS scrap
    FROM machine_counters c JOIN targets t ON t.machine = c.machine
    WHERE {_window("c", "$7", "$8")}
      AND EXISTS (SELECT 1 FROM planned p WHERE c.ts >= p.p_start AND c.ts < p.p_end)
    GROUP BY 1, 2
)
SELECT 'machine' AS kind, t.machine,
       EXISTS (SELECT 1 FROM machines m WHERE m.machine = t.machine) AS registered,
       NULL::text AS state, NULL::text AS reason, NULL::double precision AS seconds,
       NULL::text AS order_key, NULL::bigint AS good, NULL::bigint AS scrap,
       NULL::text AS protheus_reason
FROM targets t
UNION ALL
SELECT 'state', machine, NULL, state, reason, CAST(seconds AS double precision),
       NULL, NULL, NULL, reason_code
FROM state_time
UNION ALL
SELECT 'counter', machine, NULL, NULL, NULL, NULL, order_key,
       CAST(good AS bigint), CAST(scrap AS bigint), NULL
FROM counts
"""
"""Everything OEE needs from the MES in one statement, as rows of three kinds:
`machine` (each target: the machine asked ($4), every machine of the line $1/$2/$3, or the
machines listed ($9, the hourly rollup's), and whether it is registered), `state` (seconds of each state and reason inside the planned
intervals (starts $5, ends $6), states clipped to [$7, $8), the state in force at $7
included; split by `protheus_reason`, the Protheus reason of the classified MES stop
(`stops`) covering each part of a non-running state, NULL where none does) and `counter`
(good and scrap per machine and order key, counter messages whose ts falls inside planned
time)."""


async def oee_facts(
    conn: Connection,
    *,
    machine: str | None,
    line: tuple[str, str, str] | None,
    start: dt.datetime,
    end: dt.datetime,
    planned: Sequence[Interval],
    machines: Sequence[str] = (),
) -> list[asyncpg.Record]:
    site, area, line_name = line if line is not None else (None, None, None)
    return await conn.fetch(
        OEE_FACTS,
        site,
        area,
        line_name,
        machine,
        [s for s, _ in planned],
        [e for _, e in planned],
        start,
        end,
        list(machines),
    )


# --- Protheus ----------------------------------------------------------------------------------


@lru_cache(maxsize=8)
def sh1_machines(dialect: Dialect, tables: Tables, *, one: bool) -> str:
    """Live SH1 resources of the branch (:sh1_filial): code and description; `one` keeps
    only H1_CODIGO = :machine (the known-machine check)."""
    sh1 = tables.sh1
    condition = " AND h1.h1_codigo = :machine" if one else ""
    return (
        f"SELECT h1.h1_codigo AS machine, h1.h1_descri AS description FROM {sh1} h1 "
        f"WHERE h1.h1_filial = :sh1_filial AND {live('h1')}{condition} ORDER BY h1.h1_codigo"
    )


def _in_list(column: str, prefix: str, count: int) -> str:
    """`column IN (:prefix_0, ...)`, or a false condition for an empty list."""
    if count == 0:
        return "1 = 0"
    return f"{column} IN ({', '.join(f':{prefix}_{n}' for n in range(count))})"


@lru_cache(maxsize=128)
def ideal_times(
    dialect: Dialect, tables: Tables, layout: OrderKeyLayout, numbers: int, machines: int
) -> str:
    """The appointments and orders OEE needs, with the routing standards that apply to them.

    Rows of two sources, each with the order's routing standard (SG2) and the crew
    (H1_MAOOBRA) of the machine it applies to:
    - `appointment`: every live SH6 production appointment (H6_TIPO `P`) on a :machine_n
      whose dates touch [:first_day, :last_day] (plant dates; the caller keeps the exact
      intervals), with its R_E_C_N_O_, start, end, H6_OP and H6_OPERAC; its order (SC2, live,
      whether open or closed now) gives product and routing, and SG2 the operation
      G2_OPERAC = H6_OPERAC (one routing may use a machine for several operations). SC2 and
      SG2 columns are NULL when the order or the operation is missing.
    - `counter`: every live SC2 row whose C2_NUM is one of :num_n (the caller matches the full
      key of the counters' `order`; C2_NUM alone keeps the SC2 index usable), with each SG2
      operation of its routing on a :machine_n (NULL operation columns when there is none).
    Routing: C2_ROTEIRO, else B1_OPERPAD, else '01'; SG2 joined on product and G2_CODIGO.
    SH6 is matched to SC2 by the key's parts (widths of `layout`, the dictionary's), cast back
    to CHAR so the index on (C2_FILIAL, C2_NUM, C2_ITEM, C2_SEQUEN, C2_ITEMGRD) is used.
    """
    sh6, sc2, sg2, sh1 = tables.sh6, tables.sc2, tables.sg2, tables.sh1
    key_match = order_key_match_sql("c2", "h6.h6_op", layout)
    order_key = dialect.cat(*(f"RTRIM(c2.{column})" for column in ORDER_KEY_COLUMNS))
    routing = routing_sql(operpad_lookup_sql(tables, "o.c2_produto"), "o")
    text = dialect.text
    nothing = f"CAST(NULL AS {text})"
    return f"""WITH orders AS (
    SELECT CAST('appointment' AS VARCHAR(12)) AS source, h6.r_e_c_n_o_ AS appointment,
           CAST(h6.h6_recurso AS {text}) AS machine, CAST(h6.h6_operac AS {text}) AS operation,
           CAST(h6.h6_dataini AS {text}) AS start_day, CAST(h6.h6_horaini AS {text}) AS start_hour,
           CAST(h6.h6_datafin AS {text}) AS end_day, CAST(h6.h6_horafin AS {text}) AS end_hour,
           CAST(RTRIM(h6.h6_op) AS {text}) AS order_key, c2.c2_produto, c2.c2_roteiro,
           (CASE WHEN c2.c2_num IS NULL THEN 0 ELSE 1 END) AS order_found
    FROM {sh6} h6
    LEFT JOIN {sc2} c2 ON c2.c2_filial = :sc2_filial AND {key_match} AND {live("c2")}
    WHERE h6.h6_filial = :sh6_filial AND {live("h6")} AND h6.h6_tipo = 'P'
      AND {_in_list("h6.h6_recurso", "machine", machines)}
      AND h6.h6_datafin >= :first_day AND h6.h6_dataini <= :last_day
    UNION ALL
    SELECT 'counter', NULL, {nothing}, {nothing}, {nothing}, {nothing}, {nothing}, {nothing},
           {order_key}, c2.c2_produto, c2.c2_roteiro, 1
    FROM {sc2} c2
    WHERE c2.c2_filial = :sc2_filial AND {live("c2")} AND {_in_list("c2.c2_num", "num", numbers)}
), routed AS (
    SELECT o.*, (CASE WHEN o.order_found = 1 THEN {routing} END) AS routing
    FROM orders o
)
SELECT o.source, o.appointment, o.machine, o.operation, o.start_day, o.start_hour,
       o.end_day, o.end_hour, o.order_key, o.order_found, o.routing,
       g2.g2_operac, g2.g2_recurso, g2.g2_tempad, g2.g2_lotepad, g2.g2_tpoper,
       h1.h1_maoobra
FROM routed o
LEFT JOIN {sg2} g2 ON g2.g2_filial = :sg2_filial AND g2.g2_produto = o.c2_produto
     AND g2.g2_codigo = o.routing AND {live("g2")}
     AND ((o.source = 'appointment' AND g2.g2_operac = o.operation)
          OR (o.source = 'counter' AND {_in_list("g2.g2_recurso", "machine", machines)}))
LEFT JOIN {sh1} h1 ON h1.h1_filial = :sh1_filial AND {live("h1")}
     AND h1.h1_codigo = (CASE WHEN o.source = 'appointment' THEN o.machine ELSE g2.g2_recurso END)
ORDER BY o.source, o.order_key, o.appointment, g2.g2_operac
"""


SPLIT_COUNTS = f"""
WITH segments AS (
    SELECT g.machine, array_agg(g.seg_start ORDER BY g.seg_start) AS starts,
           array_agg(g.seg_end ORDER BY g.seg_start) AS ends,
           array_agg(g.seg_id ORDER BY g.seg_start) AS ids
    FROM unnest(CAST($1 AS text[]), CAST($2 AS timestamptz[]),
                CAST($3 AS timestamptz[]), CAST($4 AS bigint[]))
         AS g(machine, seg_start, seg_end, seg_id)
    GROUP BY g.machine
), planned AS (
    SELECT p.p_start, p.p_end
    FROM unnest(CAST($5 AS timestamptz[]), CAST($6 AS timestamptz[])) AS p(p_start, p_end)
), placed AS (
    -- width_bucket: how many segment starts are at or before ts (a binary search), i.e. the
    -- last segment started at or before the message; it owns the message if ts < its end.
    SELECT c.machine, NULLIF(btrim(c.order_key), '') AS order_key, c.good, c.scrap, c.ts,
           width_bucket(c.ts, g.starts) AS n, g.ends, g.ids
    FROM machine_counters c
    LEFT JOIN segments g ON g.machine = c.machine
    WHERE c.machine = ANY(CAST($7 AS text[])) AND {_window("c", "$8", "$9")}
      AND EXISTS (SELECT 1 FROM planned p WHERE c.ts >= p.p_start AND c.ts < p.p_end)
)
SELECT machine, order_key, (CASE WHEN n > 0 AND ts < ends[n] THEN ids[n] END) AS seg_id,
       CAST(sum(good) AS bigint) AS good, CAST(sum(scrap) AS bigint) AS scrap
FROM placed
GROUP BY 1, 2, 3
"""
"""Counts per machine, order key and attribution segment (machine_counters).

The segments (machines $1, starts $2, ends $3, appointment ids $4, parallel arrays) are the
disjoint pieces of the window each SH6 appointment owns on a machine
(oee.attribution.attribution_segments), gathered per machine into arrays ordered by start;
a counter message belongs to the segment its ts falls in ([start, end)), NULL when none,
found by a binary search (width_bucket) over the machine's starts: no range join of every
message with every segment, no sort of the messages. Same counters as OEE_FACTS's: the
machines asked ($7), ts in [$8, $9) and inside planned time (starts $5, ends $6)."""


async def split_counts(
    conn: Connection,
    *,
    segments: Sequence[tuple[str, dt.datetime, dt.datetime, int]],
    machines: Sequence[str],
    start: dt.datetime,
    end: dt.datetime,
    planned: Sequence[Interval],
) -> list[asyncpg.Record]:
    """SPLIT_COUNTS for the segments (machine, start, end, appointment id)."""
    return await conn.fetch(
        SPLIT_COUNTS,
        [machine for machine, _, _, _ in segments],
        [low for _, low, _, _ in segments],
        [high for _, _, high, _ in segments],
        [ident for _, _, _, ident in segments],
        [s for s, _ in planned],
        [e for _, e in planned],
        list(machines),
        start,
        end,
    )


# --- plant summary ---------------------------------------------------------------------------

PLANT_MACHINES = f"""
SELECT m.machine, m.site, m.area, m.line, m.last_seen,
       st.state, st.reason AS state_reason, st.ts AS state_since,
       NULLIF(btrim(oc.order_key), '') AS order_key
FROM machines m
{_CURRENT_STATE.format(machine="m.machine")}
LEFT JOIN LATERAL (
    SELECT c.order_key FROM machine_counters c
    WHERE c.machine = m.machine ORDER BY c.ts DESC LIMIT 1
) oc ON true
ORDER BY m.site, m.area, m.line, m.machine
"""
"""Every machine that sent data (`machines`) with its line, last message, current state (latest
machine_states row) and current order (the order key of its latest counter message; NULL when
that message names none): two index probes per machine along (machine, ts)."""


async def plant_machines(conn: Connection) -> list[asyncpg.Record]:
    return await conn.fetch(PLANT_MACHINES)


@lru_cache(maxsize=32)
def plant_erp(dialect: Dialect, tables: Tables, numbers: int) -> str:
    """Live SH1 resources of the branch (:sh1_filial, code and description) and, in the same
    statement, the live SC2 orders whose C2_NUM is one of :num_n (:sc2_filial) with their key
    (NUM+ITEM+SEQUEN+ITEMGRD, each part trimmed, as the counters send it) and product; rows
    of kind `machine` and `order`."""
    sh1, sc2 = tables.sh1, tables.sc2
    text = dialect.text
    order_key = dialect.cat(*(f"RTRIM(c2.{column})" for column in ORDER_KEY_COLUMNS))
    return f"""SELECT CAST('machine' AS VARCHAR(8)) AS kind,
       CAST(RTRIM(h1.h1_codigo) AS {text}) AS code,
       CAST(RTRIM(h1.h1_descri) AS {text}) AS description,
       CAST(NULL AS {text}) AS product
FROM {sh1} h1
WHERE h1.h1_filial = :sh1_filial AND {live("h1")}
UNION ALL
SELECT 'order', CAST({order_key} AS {text}), CAST(NULL AS {text}),
       CAST(RTRIM(c2.c2_produto) AS {text})
FROM {sc2} c2
WHERE c2.c2_filial = :sc2_filial AND {live("c2")} AND {_in_list("c2.c2_num", "num", numbers)}"""

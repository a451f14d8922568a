-- The ingestor as a Sparkplug B 3.0 host application (services/telemetry/sparkplug).
-- Everything here is written in the drain transaction that stores the messages it came
-- from, with the spool position: after a crash the state matches what PostgreSQL holds,
-- and the spool replays from there. Several ingestors (shared subscription) share it:
-- a drain locks the rows of the edge nodes its batch touches.

-- One row per edge node ever seen.
CREATE TABLE sparkplug_nodes (
    group_id       TEXT NOT NULL,
    edge_node      TEXT NOT NULL,
    online         BOOLEAN NOT NULL DEFAULT false,
    bd_seq         BIGINT,                  -- the bdSeq of the node's current NBIRTH
    -- +1 on every NBIRTH and DBIRTH of the node: a cached alias table older than this
    -- is read again.
    birth_version  BIGINT NOT NULL DEFAULT 0,
    last_seq       SMALLINT,                -- the latest seq (0..255, in wrapping order)
    missing        SMALLINT[] NOT NULL DEFAULT '{}',  -- skipped seqs not arrived yet
    gap_since      TIMESTAMPTZ,             -- since when a seq is missing
    -- Data came that no birth explains (no birth yet, unknown alias): ask a rebirth.
    rebirth_wanted BOOLEAN NOT NULL DEFAULT false,
    rebirth_at     TIMESTAMPTZ,             -- the last NCMD Node Control/Rebirth sent
    rebirths       BIGINT NOT NULL DEFAULT 0,  -- rebirth requests sent, in all
    birth_at       TIMESTAMPTZ,
    death_at       TIMESTAMPTZ,
    last_seen      TIMESTAMPTZ,
    PRIMARY KEY (group_id, edge_node)
);
-- The rebirth sweep reads only the nodes that need one.
CREATE INDEX sparkplug_nodes_rebirth ON sparkplug_nodes (group_id, edge_node)
    WHERE rebirth_wanted OR gap_since IS NOT NULL;

-- Devices behind an edge node.
CREATE TABLE sparkplug_devices (
    group_id  TEXT NOT NULL,
    edge_node TEXT NOT NULL,
    device    TEXT NOT NULL,
    online    BOOLEAN NOT NULL DEFAULT false,
    birth_at  TIMESTAMPTZ,
    death_at  TIMESTAMPTZ,
    last_seen TIMESTAMPTZ,
    PRIMARY KEY (group_id, edge_node, device),
    FOREIGN KEY (group_id, edge_node) REFERENCES sparkplug_nodes ON DELETE CASCADE
);

-- The current births' metric tables: name, alias and datatype per node ('' device) and
-- per device, so a restarted ingestor decodes alias-only data without a rebirth.
-- An NBIRTH replaces the node's rows and its devices' (devices are born again after it);
-- a DBIRTH replaces its device's. Aliases are uint64: stored as BIGINT two's complement.
CREATE TABLE sparkplug_metrics (
    group_id  TEXT NOT NULL,
    edge_node TEXT NOT NULL,
    device    TEXT NOT NULL DEFAULT '',
    name      TEXT NOT NULL,
    alias     BIGINT,
    datatype  INTEGER NOT NULL,
    PRIMARY KEY (group_id, edge_node, device, name)
);
CREATE INDEX sparkplug_metrics_alias ON sparkplug_metrics (group_id, edge_node, alias)
    WHERE alias IS NOT NULL;

-- The last value of the metrics that feed the state timeline and the counters (State,
-- Reason, Count/Good, Count/Scrap): a Reason alone restates the last State, a counter
-- total counts its increase. Kept across births.
CREATE TABLE sparkplug_last_values (
    group_id  TEXT NOT NULL,
    edge_node TEXT NOT NULL,
    device    TEXT NOT NULL DEFAULT '',
    metric    TEXT NOT NULL,
    value     DOUBLE PRECISION,
    text      TEXT,
    ts        TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (group_id, edge_node, device, metric)
);

-- Where an edge node's or device's data goes; without a row: site = group, area =
-- SPARKPLUG_AREA, line = edge node, machine = device (the edge node for node metrics).
CREATE TABLE sparkplug_mapping (
    group_id   TEXT NOT NULL,
    edge_node  TEXT NOT NULL,
    device     TEXT NOT NULL DEFAULT '',    -- '' maps the node's own metrics
    site       TEXT NOT NULL,
    area       TEXT NOT NULL,
    line       TEXT NOT NULL,
    machine    TEXT NOT NULL,               -- Protheus resource code (SH1 H1_CODIGO)
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (group_id, edge_node, device)
);

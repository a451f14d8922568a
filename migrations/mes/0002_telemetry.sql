-- Telemetry from PLCs and sensors (MQTT): machines, samples, states, counters, dead letters.

CREATE TABLE machines (
    machine    TEXT PRIMARY KEY,      -- Protheus resource code (SH1.H1_CODIGO)
    site       TEXT NOT NULL,
    area       TEXT NOT NULL,
    line       TEXT NOT NULL,
    first_seen TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_seen  TIMESTAMPTZ NOT NULL   -- latest message time (the payload's ts)
);
CREATE INDEX machines_line ON machines (site, area, line);

-- One row per machine, metric and instant; the first stored value wins (a QoS 1
-- redelivery is dropped by the key). Partitioned by day on ts; the key serves
-- "one machine, one metric, a time range".
CREATE TABLE telemetry_samples (
    machine     TEXT NOT NULL,
    metric      TEXT NOT NULL,
    ts          TIMESTAMPTZ NOT NULL,
    value       DOUBLE PRECISION NOT NULL,   -- booleans as 0/1
    received_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (machine, metric, ts)
) PARTITION BY RANGE (ts);

-- A state lasts until the machine's next state message.
CREATE TABLE machine_states (
    machine     TEXT NOT NULL,
    ts          TIMESTAMPTZ NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('running', 'idle', 'setup', 'stopped', 'fault', 'offline')),
    reason      TEXT,
    received_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (machine, ts)
);

-- Counts since the previous counter message of the machine.
CREATE TABLE machine_counters (
    machine     TEXT NOT NULL,
    ts          TIMESTAMPTZ NOT NULL,
    good        BIGINT NOT NULL CHECK (good >= 0),
    scrap       BIGINT NOT NULL CHECK (scrap >= 0),
    order_key   TEXT,
    received_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (machine, ts)
);

CREATE TABLE telemetry_dead_letters (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    received_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    topic       TEXT NOT NULL,
    payload     BYTEA NOT NULL,
    reason      TEXT NOT NULL
);
CREATE INDEX telemetry_dead_letters_received ON telemetry_dead_letters (received_at DESC);

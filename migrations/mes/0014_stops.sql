-- Machine stops (issue 13): detected from the state timeline, classified with a Protheus
-- stop reason (CYN, else SX5 table 44), pushed to Protheus as MATA682 stop reports
-- (SH6 with H6_TIPO = 'I') exactly once through their own outbox.

-- PLC reason -> Protheus stop reason code, managed over the API (PUT /stop-reasons/mapping).
CREATE TABLE stop_reason_mapping (
    plc_reason  TEXT PRIMARY KEY,
    reason_code TEXT NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_by  TEXT                              -- API key name
);

CREATE TABLE stops (
    id              UUID PRIMARY KEY,
    seq             BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
    machine         TEXT NOT NULL,                -- SH1 H1_CODIGO
    branch          TEXT NOT NULL,                -- sent as tenantId
    state           TEXT NOT NULL CHECK (state IN ('setup', 'stopped', 'fault', 'idle', 'offline')),
    plc_reason      TEXT,                         -- the PLC's reason, as sent
    start_at        TIMESTAMPTZ NOT NULL,
    end_at          TIMESTAMPTZ,                  -- NULL while the stop is open
    reason_code     TEXT,                         -- Protheus stop reason (H6_MOTIVO)
    classified_by   TEXT CHECK (classified_by IN ('mapping', 'person', 'default')),
    operator        TEXT,                         -- H6_OPERADO
    note            TEXT,                         -- after the marker in H6_OBSERVA
    -- A person classified, split or edited it: detection leaves its bounds and reason alone.
    manual          BOOLEAN NOT NULL DEFAULT false,
    status          TEXT NOT NULL CHECK (status IN (
                        'open', 'unclassified', 'pending', 'sending', 'retrying',
                        'delivered', 'rejected', 'reversed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ,
    pushed_start    TIMESTAMPTZ,                  -- what was sent, in whole minutes
    pushed_end      TIMESTAMPTZ,
    id_appointment  TEXT,                         -- IntegrationReport (H6_IDENT)
    error           TEXT,                         -- Protheus's message when rejected
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    CHECK (end_at IS NULL OR end_at > start_at),
    CHECK ((status = 'open') = (end_at IS NULL))
);
CREATE INDEX stops_machine_start ON stops (machine, start_at);
CREATE INDEX stops_status ON stops (status, start_at);

-- Machines whose states changed since the detector last looked, and from when: the ingestor
-- marks them in the transaction that stores the states; the detector rebuilds the stops
-- from there and clears the mark in the transaction that writes them.
CREATE TABLE stop_dirty (
    machine TEXT PRIMARY KEY,
    since   TIMESTAMPTZ NOT NULL,
    marked  BIGINT NOT NULL DEFAULT 1             -- bumped on every mark: a clear must match it
);

-- One row per stop still to deliver, as report_outbox: claimed FOR UPDATE SKIP LOCKED with
-- a lease; stops of one machine go in start order.
CREATE TABLE stop_outbox (
    stop_id       UUID PRIMARY KEY REFERENCES stops (id) ON DELETE CASCADE,
    machine       TEXT NOT NULL,
    start_at      TIMESTAMPTZ NOT NULL,
    available_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    leased_until  TIMESTAMPTZ,
    leased_by     TEXT,
    unknown_since TIMESTAMPTZ
);
CREATE INDEX stop_outbox_machine ON stop_outbox (machine, start_at);

CREATE TABLE stop_attempts (
    stop_id     UUID NOT NULL REFERENCES stops (id) ON DELETE CASCADE,
    attempt     INTEGER NOT NULL,
    started_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    finished_at TIMESTAMPTZ,
    outcome     TEXT NOT NULL DEFAULT 'started',
    http_status INTEGER,
    message     TEXT,
    request_id  TEXT,
    PRIMARY KEY (stop_id, attempt)
);

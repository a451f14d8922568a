-- Production reports accepted from the shop floor, their outbox, attempts and idempotency keys.

CREATE TABLE production_reports (
    id              UUID PRIMARY KEY,
    seq             BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,  -- acceptance order
    client          TEXT NOT NULL,                  -- API key name that submitted it
    branch          TEXT NOT NULL,
    order_key       TEXT NOT NULL,                  -- C2 key (NUM+ITEM+SEQUEN+ITEMGRD), trimmed
    operation       TEXT NOT NULL,
    machine         TEXT NOT NULL,
    operator        TEXT NOT NULL,
    start_at        TIMESTAMPTZ NOT NULL,
    end_at          TIMESTAMPTZ NOT NULL,
    good_quantity   NUMERIC NOT NULL CHECK (good_quantity >= 0),
    scrap_quantity  NUMERIC NOT NULL CHECK (scrap_quantity >= 0),
    scrap_reason    TEXT,
    final           BOOLEAN NOT NULL,
    lot             TEXT,
    item_code       TEXT,                           -- C2_PRODUTO, read at acceptance or before sending
    warehouse       TEXT,                           -- C2_LOCAL, likewise
    status          TEXT NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'sending', 'retrying', 'delivered', 'rejected', 'reversed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ,
    id_appointment  TEXT,
    error           TEXT,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    CHECK (end_at > start_at),
    CHECK (good_quantity + scrap_quantity > 0)
);
CREATE INDEX production_reports_order ON production_reports (branch, order_key, operation, seq);
CREATE INDEX production_reports_status ON production_reports (status, seq);

-- One row per report still to deliver; the pusher claims rows with FOR UPDATE SKIP LOCKED
-- and a lease, so a pusher killed mid-delivery leaves a row another pusher takes over.
CREATE TABLE report_outbox (
    report_id     UUID PRIMARY KEY REFERENCES production_reports (id),
    available_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    leased_until  TIMESTAMPTZ,
    leased_by     TEXT,
    unknown_since TIMESTAMPTZ  -- set when an attempt's outcome is unknown: check SH6 before re-sending
);
CREATE INDEX report_outbox_available ON report_outbox (available_at);

CREATE TABLE report_attempts (
    report_id   UUID NOT NULL REFERENCES production_reports (id),
    attempt     INTEGER NOT NULL,
    started_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    finished_at TIMESTAMPTZ,
    outcome     TEXT NOT NULL DEFAULT 'started',  -- started, delivered, rejected, retry, unknown, found, reversed
    http_status INTEGER,
    message     TEXT,
    PRIMARY KEY (report_id, attempt)
);

CREATE TABLE idempotency_keys (
    client        TEXT NOT NULL,
    key           TEXT NOT NULL,
    request_hash  TEXT NOT NULL,
    status        INTEGER NOT NULL,
    body          JSONB NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (client, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

-- Predictive maintenance (issue 16): the anomaly events the analytics service's detector
-- opens and closes, and the alerts it (and the failure-risk scorer) publishes on MQTT.
-- The detector reads committed telemetry by a watermark of its own (anomaly_detector_state,
-- added with the detector); nothing here is written on the ingest path.

-- One event per machine, kind and episode: `ended_at` NULL while it is open. `metrics` lists
-- the metric(s) that misbehave (one for spike/stuck/out_of_range, several for a drift).
CREATE TABLE anomaly_events (
    id         UUID PRIMARY KEY,
    machine    TEXT NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('spike', 'stuck', 'out_of_range', 'drift')),
    metrics    TEXT[] NOT NULL CHECK (cardinality(metrics) >= 1),
    started_at TIMESTAMPTZ NOT NULL,          -- sample time of the first anomalous sample
    ended_at   TIMESTAMPTZ,                   -- sample time it ended; NULL while open
    score      DOUBLE PRECISION NOT NULL,     -- the detector's peak score over the episode
    detail     JSONB NOT NULL DEFAULT '{}',   -- kind-specific: value, limits, baseline...
    detected_at TIMESTAMPTZ NOT NULL DEFAULT now(),  -- wall time the detector opened it
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CHECK (ended_at IS NULL OR ended_at >= started_at)
);
CREATE INDEX anomaly_events_machine_start ON anomaly_events (machine, started_at DESC);
CREATE INDEX anomaly_events_start ON anomaly_events (started_at DESC);
CREATE INDEX anomaly_events_open ON anomaly_events (machine) WHERE ended_at IS NULL;

-- Alerts to publish on mes/v1/<site>/<area>/<line>/<machine>/alert (QoS 1), written in the
-- same transaction as the event (or risk score) they announce, published after commit and
-- marked sent once the broker acknowledged them: an alert is never lost to a broker outage.
CREATE TABLE alert_outbox (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    machine      TEXT NOT NULL,
    payload      JSONB NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    published_at TIMESTAMPTZ
);
CREATE INDEX alert_outbox_unpublished ON alert_outbox (id) WHERE published_at IS NULL;

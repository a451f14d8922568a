-- The anomaly detector's own state (issue 16; services/analytics/anomalies): how far it has
-- read the committed telemetry, and each machine's streaming statistics, written in the same
-- transaction as the anomaly_events and alert_outbox rows they produced, so a restart goes on
-- where the last committed run stopped (no sample scored twice, no event opened twice).
-- Nothing here is touched by ingestion: the detector reads telemetry_samples and
-- machine_states by their primary keys and adds no index or trigger to them.

-- One row: samples and states with ts <= upto have been fed to the detectors.
CREATE TABLE anomaly_watermark (
    id         BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (id),
    upto       TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- One row per machine: its detectors' state (JSON, services/analytics/anomalies/detectors.py
-- MachineDetector.to_state: per metric EWMA, flat run and open episodes; per machine the drift
-- baseline), and the metrics it has seen (the series the detector reads).
CREATE TABLE anomaly_detector_state (
    machine    TEXT PRIMARY KEY,
    metrics    TEXT[] NOT NULL DEFAULT '{}',
    state      JSONB NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- The web app's event poller (services/web/events) reads what changed since its watermark
-- every WEB_EVENTS_POLL_S by change time, so these reads stay index range scans however
-- many reports, stops and anomaly events the plant has kept (the tables only grow).
-- machine_states is read through its existing received_at/ts access path.
CREATE INDEX production_reports_updated ON production_reports (updated_at);
CREATE INDEX stops_updated ON stops (updated_at);
CREATE INDEX anomaly_events_updated ON anomaly_events (updated_at);

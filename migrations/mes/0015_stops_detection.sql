-- Stop detection (issue 13): the detector's deadline sweep and its "waiting for a person"
-- gauges read only the closed, non-offline stops nobody classified (offline stops stay
-- unclassified for good and would otherwise be scanned on every round).
CREATE INDEX stops_waiting ON stops (end_at) WHERE status = 'unclassified' AND state <> 'offline';

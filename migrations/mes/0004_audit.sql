-- Audit trail of authenticated API requests: append-only, partitioned by UTC day (retention
-- drops whole partitions), and the request id on reports and on their Protheus attempts.

CREATE TABLE audit_log (
    at          TIMESTAMPTZ NOT NULL,           -- when the request arrived
    request_id  TEXT NOT NULL,
    key_name    TEXT NOT NULL,                  -- the API key's name (never the key)
    method      TEXT NOT NULL,
    route       TEXT NOT NULL,                  -- aiohttp route name (e.g. production_reports_create)
    path        TEXT NOT NULL,                  -- the path asked for, without the query string
    status      SMALLINT NOT NULL,
    client      TEXT,                           -- client address (X-Real-IP from a trusted proxy)
    peer        TEXT,                           -- the socket's peer address
    duration_ms REAL,
    subject     TEXT,                           -- what a write changed (a report id)
    service     TEXT NOT NULL
) PARTITION BY RANGE (at);
-- Rows arrive in time order: a BRIN index serves time windows at a fraction of a B-tree's
-- insert cost (the key, route and status filters read the window's rows); the B-tree serves
-- "one request" (the link from a report's attempts). Every index is paid on each insert.
CREATE INDEX audit_log_at ON audit_log USING brin (at);
CREATE INDEX audit_log_request ON audit_log (request_id);

-- Append-only: no row is ever changed or deleted (retention drops whole partitions).
CREATE FUNCTION audit_log_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only (% refused)', TG_OP USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_refuse();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse();
REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM PUBLIC;

-- The request that submitted (or last corrected) a report, copied onto each attempt, so
-- every call to Protheus is linked to an audit row.
ALTER TABLE production_reports ADD COLUMN request_id TEXT;
ALTER TABLE report_attempts ADD COLUMN request_id TEXT;

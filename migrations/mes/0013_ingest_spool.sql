-- The ingestor's local spool (issue 11): how far each spool is drained into PostgreSQL,
-- written in the same transaction as the rows, so a restart drains from exactly there.
-- spool_id is the UUID the spool directory was created with (a new directory starts anew).
CREATE TABLE telemetry_spool_positions (
    spool_id   TEXT PRIMARY KEY,
    client_id  TEXT NOT NULL,
    position   BIGINT NOT NULL CHECK (position >= 0),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Dead letters keep at most the first 64 KiB of a payload, and its full size here
-- (NULL on rows stored before: their payload is whole).
ALTER TABLE telemetry_dead_letters ADD COLUMN payload_size BIGINT
    CHECK (payload_size IS NULL OR payload_size >= 0);

-- Found on review of 0020-0023: what the analytics jobs do must never hold a lock the
-- ingestor, the report pushers or the stop detector wait for.

-- The dimension sync mirrors SH6 in one transaction per table that stays open while it reads
-- the ERP; its appointment triggers upserted rollup_dirty_spans (one row per machine), which
-- the ingestor's state trigger upserts too: a state of such a machine waited for the whole
-- sync, and machines locked in another order per page could deadlock with an ingest flush.
-- The appointment triggers now append to a log; the rollup job folds it into the spans
-- (rollup_mark_spans, ordered by machine) in a short transaction of its own.
CREATE TABLE rollup_dirty_spans_log (
    machine  TEXT NOT NULL,
    first_at TIMESTAMPTZ NOT NULL,
    last_at  TIMESTAMPTZ
);

CREATE OR REPLACE FUNCTION rollup_mark_appointments() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO rollup_dirty_spans_log (machine, first_at, last_at)
    SELECT a.machine, LEAST(a.start_at, a.end_at), GREATEST(a.start_at, a.end_at)
    FROM changed a
    WHERE a.machine IS NOT NULL AND COALESCE(a.start_at, a.end_at) IS NOT NULL;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION rollup_mark_changed_appointments() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO rollup_dirty_spans_log (machine, first_at, last_at)
    SELECT a.machine, LEAST(a.start_at, a.end_at), GREATEST(a.start_at, a.end_at)
    FROM (SELECT machine, start_at, end_at FROM changed
          UNION ALL SELECT machine, start_at, end_at FROM changed_before) a
    WHERE a.machine IS NOT NULL AND COALESCE(a.start_at, a.end_at) IS NOT NULL;
    RETURN NULL;
END $$;

-- The lake exports a plant day of these views by their `*_utc` column: the same expression,
-- indexed, so a day's file reads that day, not the whole table.
CREATE INDEX machine_states_ts_utc ON machine_states ((ts AT TIME ZONE 'UTC'));
CREATE INDEX machine_counters_ts_utc ON machine_counters ((ts AT TIME ZONE 'UTC'));
CREATE INDEX stops_start_utc ON stops ((start_at AT TIME ZONE 'UTC'));

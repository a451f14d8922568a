-- The Parquet lake (issue 15): what has been exported (the manifest) and which days of the
-- fact tables changed since (dirty marks), so closed days are written once and rewritten only
-- when late data arrives for them. The export itself lives in services/analytics/lake/.

-- The plant's zone as the export last saw it (PLANT_TIMEZONE): the lake's days are plant
-- days, and the marking triggers below turn a row's timestamp into its plant day with it.
CREATE TABLE lake_settings (
    id             BOOLEAN PRIMARY KEY DEFAULT true CHECK (id),
    plant_timezone TEXT NOT NULL
);
INSERT INTO lake_settings (plant_timezone) VALUES ('America/Sao_Paulo');

-- One row per written file: a day of a partitioned dataset, or the single file of an
-- unpartitioned one (day NULL). Updated only after the file is renamed into place.
CREATE TABLE lake_manifest (
    dataset          TEXT NOT NULL,
    day              DATE,                          -- plant day; NULL: unpartitioned dataset
    rows             BIGINT NOT NULL CHECK (rows >= 0),
    bytes            BIGINT NOT NULL CHECK (bytes >= 0),
    digest           TEXT,                          -- sha256 of the file; NULL: no rows, no file
    newest           TIMESTAMPTZ,                   -- newest timestamp of the day's rows (lag)
    -- Written after the day ended: final unless a later mark says otherwise.
    closed           BOOLEAN NOT NULL,
    -- The marks (lake_dirty.marked per source table) the export's snapshot included.
    source_watermark JSONB NOT NULL DEFAULT '{}',
    written_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE NULLS NOT DISTINCT (dataset, day)
);

-- Days of a fact table whose rows changed: one row per table and plant day, `marked` bumped
-- from one sequence on every change (never reset, so a recreated row still compares higher).
-- A dataset's day is dirty when a mark of one of its source tables is newer than the value
-- its manifest row recorded. Rows are kept (one per table and day).
CREATE SEQUENCE lake_mark_seq;
CREATE TABLE lake_dirty (
    source TEXT NOT NULL,                           -- the fact table
    day    DATE NOT NULL,                           -- plant day
    marked BIGINT NOT NULL,
    PRIMARY KEY (source, day)
);

-- What writers append: (table, plant day) per writing statement, never updated, so writers
-- never wait on each other (an upsert of one hot row per table and day would hold its lock
-- to each writer's commit: the report pushers and the stop detector would queue, and
-- deadlock, on it). The export folds the rows it can see into lake_dirty (a new `marked`
-- for each day) in a transaction of its own before it plans; a row committed later is folded
-- by a later run, so its day is exported again then.
CREATE TABLE lake_dirty_log (
    source TEXT NOT NULL,
    day    DATE NOT NULL
);

-- Statement-level: a few statements per writing statement whatever its size (the ingestor's
-- COPY of a flush included; on a partitioned table the parent's trigger sees every
-- partition's rows). The usual statement (a flush of recent data) falls on one day: min and
-- max say so, and one insert marks it; rows over several days mark each of their days.
-- TG_ARGV[0]: the timestamptz column that places a row in its day.
CREATE FUNCTION lake_mark_dirty() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    zone CONSTANT TEXT := (SELECT plant_timezone FROM lake_settings);
    at_column CONSTANT TEXT := TG_ARGV[0];
    -- TG_ARGV[1], when given: the key whose previous row's extent a change alters (a state
    -- lasts until the machine's next one, so a late state changes the end of the one before).
    key_column CONSTANT TEXT := CASE WHEN TG_NARGS > 1 THEN TG_ARGV[1] END;
    -- The changed rows: an updated row may move out of a day into another.
    changed CONSTANT TEXT := CASE TG_OP
        WHEN 'INSERT' THEN format('SELECT %I AS at, %s AS key FROM new_rows', at_column, COALESCE(quote_ident(key_column), 'NULL'))
        WHEN 'DELETE' THEN format('SELECT %I AS at, %s AS key FROM old_rows', at_column, COALESCE(quote_ident(key_column), 'NULL'))
        ELSE format('SELECT %1$I AS at, %2$s AS key FROM old_rows UNION ALL SELECT %1$I, %2$s FROM new_rows',
                    at_column, COALESCE(quote_ident(key_column), 'NULL'))
    END;
    days TEXT := 'SELECT DISTINCT (at AT TIME ZONE $1)::date AS day FROM changed';
    first_day DATE;
    last_day DATE;
BEGIN
    IF key_column IS NULL THEN
        EXECUTE format('SELECT (min(at) AT TIME ZONE $1)::date, (max(at) AT TIME ZONE $1)::date
                        FROM (%s) AS changed', changed)
            INTO first_day, last_day USING zone;
        IF first_day IS NULL THEN
            RETURN NULL;
        ELSIF first_day = last_day THEN
            INSERT INTO lake_dirty_log (source, day) VALUES (TG_TABLE_NAME, first_day);
            RETURN NULL;
        END IF;
    ELSE
        -- Each key's row just before its earliest changed row (one index probe per key).
        days := days || format(' UNION SELECT (p.at AT TIME ZONE $1)::date FROM (
                SELECT key, min(at) AS first FROM changed GROUP BY key) AS k
            CROSS JOIN LATERAL (
                SELECT t.%1$I AS at FROM %2$I.%3$I AS t
                WHERE t.%4$I = k.key AND t.%1$I < k.first ORDER BY t.%1$I DESC LIMIT 1) AS p',
            at_column, TG_TABLE_SCHEMA, TG_TABLE_NAME, key_column);
    END IF;
    EXECUTE format('WITH changed AS (%s)
        INSERT INTO lake_dirty_log (source, day) SELECT %L, day FROM (%s) AS days',
        changed, TG_TABLE_NAME, days) USING zone;
    RETURN NULL;
END
$$;

CREATE TRIGGER lake_mark_insert AFTER INSERT ON telemetry_samples
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION lake_mark_dirty('ts');

-- A state ends at the machine's next one (analytics.states): a change also alters the end of
-- the machine's state before it, which may lie in an earlier day.
CREATE TRIGGER lake_mark_insert AFTER INSERT ON machine_states
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION lake_mark_dirty('ts', 'machine');
CREATE TRIGGER lake_mark_update AFTER UPDATE ON machine_states
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION lake_mark_dirty('ts', 'machine');
CREATE TRIGGER lake_mark_delete AFTER DELETE ON machine_states
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION lake_mark_dirty('ts', 'machine');

CREATE TRIGGER lake_mark_insert AFTER INSERT ON machine_counters
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION lake_mark_dirty('ts');
CREATE TRIGGER lake_mark_update AFTER UPDATE ON machine_counters
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION lake_mark_dirty('ts');
CREATE TRIGGER lake_mark_delete AFTER DELETE ON machine_counters
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION lake_mark_dirty('ts');

-- Stops change after detection (classification, delivery status): each change re-exports
-- the stop's day.
CREATE TRIGGER lake_mark_insert AFTER INSERT ON stops
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION lake_mark_dirty('start_at');
CREATE TRIGGER lake_mark_update AFTER UPDATE ON stops
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION lake_mark_dirty('start_at');
CREATE TRIGGER lake_mark_delete AFTER DELETE ON stops
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION lake_mark_dirty('start_at');

-- Production (analytics.production, by its start): MES reports change status as they are
-- delivered; the SH6 mirror (the dimension sync) brings appointments in, changed or gone.
CREATE TRIGGER lake_mark_insert AFTER INSERT ON production_reports
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION lake_mark_dirty('start_at');
CREATE TRIGGER lake_mark_update AFTER UPDATE ON production_reports
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION lake_mark_dirty('start_at');
CREATE TRIGGER lake_mark_delete AFTER DELETE ON production_reports
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION lake_mark_dirty('start_at');
CREATE TRIGGER lake_mark_insert AFTER INSERT ON analytics_src.sh6
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION lake_mark_dirty('start_at');
CREATE TRIGGER lake_mark_update AFTER UPDATE ON analytics_src.sh6
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION lake_mark_dirty('start_at');
CREATE TRIGGER lake_mark_delete AFTER DELETE ON analytics_src.sh6
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION lake_mark_dirty('start_at');

-- Rollups for BI (issue 15): telemetry per minute and hour, OEE per machine and hour, kept
-- current incrementally by the analytics service's rollup job (services/analytics/rollups).
--
-- Private tables live in public under `rollup_` names (mes_bi has no access to them); BI
-- reads the views in schema `analytics` (0020 gives mes_bi SELECT on what is created there),
-- instants as `*_utc` and `*_local` timestamps like 0020's views (the zone: analytics_src.plant,
-- written by the service).
-- Ingest marks what it touched: statement-level AFTER INSERT triggers with transition tables
-- (they fire once per COPY or INSERT, also on the partitioned telemetry_samples, and see only
-- the rows really inserted: a redelivery dropped by ON CONFLICT DO NOTHING marks nothing).
-- The job recomputes exactly the marked buckets from the base tables and deletes the marks it
-- used in the same transaction; a mark touched again meanwhile (a new `generation`) stays.
-- Cost on ingest (bench/analytics_oee.py): about x1.25 on a drain flush of 20,000 samples,
-- mostly because PostgreSQL's COPY into a partitioned table that has a transition-table
-- trigger inserts row by row instead of in batches (copyfrom.c).

-- Aggregates of telemetry_samples per machine, metric and bucket (UTC-aligned minute / hour,
-- like the series route's buckets). They outlive the samples' retention: a bucket whose
-- samples are gone keeps its last figures.
CREATE TABLE rollup_telemetry_1m (
    machine   TEXT NOT NULL,
    metric    TEXT NOT NULL,
    bucket    TIMESTAMPTZ NOT NULL,
    min_value DOUBLE PRECISION NOT NULL,
    max_value DOUBLE PRECISION NOT NULL,
    sum_value DOUBLE PRECISION NOT NULL,
    samples   BIGINT NOT NULL,
    PRIMARY KEY (machine, metric, bucket)
);
-- BI filters on the views' bucket_utc: the same expression, indexed.
CREATE INDEX rollup_telemetry_1m_bucket ON rollup_telemetry_1m ((bucket AT TIME ZONE 'UTC'));

CREATE TABLE rollup_telemetry_1h (LIKE rollup_telemetry_1m INCLUDING ALL);

-- OEE per machine and hour, as /api/v1/oee answers for [hour, hour + 1 h) (the same
-- stages: services/telemetry/query/oee). `computed_until` is the window's effective end
-- (never past now): an hour is `closed` once computed up to its end; the job recomputes the
-- open ones on each run, so time passing in the current state counts.
CREATE TABLE rollup_oee_hourly (
    machine        TEXT NOT NULL,
    hour           TIMESTAMPTZ NOT NULL,
    planned_s      DOUBLE PRECISION NOT NULL,
    running_s      DOUBLE PRECISION NOT NULL,
    ideal_s        DOUBLE PRECISION,             -- NULL: some count has no known ideal time
    good           BIGINT NOT NULL,
    scrap          BIGINT NOT NULL,
    availability   DOUBLE PRECISION,
    performance    DOUBLE PRECISION,
    quality        DOUBLE PRECISION,
    oee            DOUBLE PRECISION,
    computed_until TIMESTAMPTZ NOT NULL,
    closed         BOOLEAN NOT NULL,
    computed_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (machine, hour)
);
CREATE INDEX rollup_oee_hourly_hour ON rollup_oee_hourly ((hour AT TIME ZONE 'UTC'));
CREATE INDEX rollup_oee_hourly_open ON rollup_oee_hourly (machine, hour) WHERE NOT closed;

-- The settings the OEE rows were computed with (SHIFT_CALENDAR, PLANT_TIMEZONE,
-- PROTHEUS_TIME_FORMAT, company and branch): when the job runs with others, every machine's
-- hours are marked to be computed again.
CREATE TABLE rollup_oee_basis (
    only_row BOOLEAN PRIMARY KEY DEFAULT true CHECK (only_row),
    basis    TEXT NOT NULL
);

-- Dirty marks. `generation` changes each time a mark is set again, so the job deletes only
-- the marks it recomputed (same generation), never one re-marked by a later ingest.
CREATE SEQUENCE rollup_mark_generation;

CREATE TABLE rollup_dirty_minutes (
    machine    TEXT NOT NULL,
    metric     TEXT NOT NULL,
    bucket     TIMESTAMPTZ NOT NULL,
    generation BIGINT NOT NULL DEFAULT nextval('rollup_mark_generation'),
    PRIMARY KEY (machine, metric, bucket)
);

CREATE TABLE rollup_dirty_hours (
    machine    TEXT NOT NULL,
    hour       TIMESTAMPTZ NOT NULL,
    generation BIGINT NOT NULL DEFAULT nextval('rollup_mark_generation'),
    PRIMARY KEY (machine, hour)
);

-- ON CONFLICT DO UPDATE, not DO NOTHING: updating the mark locks it until the ingest commits,
-- so the job's delete (same generation only) can never drop the mark of rows it did not see.
-- Marks are written in key order: concurrent ingests lock them in the same order.
CREATE FUNCTION rollup_mark_samples() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO rollup_dirty_minutes AS d (machine, metric, bucket)
    SELECT DISTINCT n.machine, n.metric,
           date_bin(INTERVAL '1 minute', n.ts, TIMESTAMPTZ '1970-01-01 00:00:00+00')
    FROM new_samples n
    ORDER BY 1, 2, 3
    ON CONFLICT (machine, metric, bucket) DO UPDATE SET generation = EXCLUDED.generation;
    RETURN NULL;
END $$;

CREATE TRIGGER rollup_mark_samples AFTER INSERT ON telemetry_samples
    REFERENCING NEW TABLE AS new_samples FOR EACH STATEMENT EXECUTE FUNCTION rollup_mark_samples();

-- A state lasts until the machine's next state: a new one changes every hour from its own to
-- the next state's, or up to the hour in progress for the latest one. Those can be many hours
-- (a state that arrives late): one span per machine, widened by later marks, instead of a mark
-- per hour. One index probe per inserted state.
CREATE TABLE rollup_dirty_spans (
    machine    TEXT PRIMARY KEY,
    first_hour TIMESTAMPTZ NOT NULL,
    last_hour  TIMESTAMPTZ,                      -- NULL: up to the hour in progress
    generation BIGINT NOT NULL DEFAULT nextval('rollup_mark_generation')
);

CREATE FUNCTION rollup_mark_states() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO rollup_dirty_spans AS d (machine, first_hour, last_hour)
    SELECT n.machine,
           min(date_bin(INTERVAL '1 hour', n.ts, TIMESTAMPTZ '1970-01-01 00:00:00+00')),
           CASE WHEN bool_and(u.until IS NOT NULL)
                THEN max(date_bin(INTERVAL '1 hour', u.until, TIMESTAMPTZ '1970-01-01 00:00:00+00'))
           END
    FROM new_states n
    CROSS JOIN LATERAL (
        SELECT min(s.ts) AS until FROM machine_states s WHERE s.machine = n.machine AND s.ts > n.ts
    ) u
    GROUP BY n.machine
    ORDER BY n.machine
    ON CONFLICT (machine) DO UPDATE
        SET first_hour = LEAST(d.first_hour, EXCLUDED.first_hour),
            last_hour = CASE WHEN d.last_hour IS NOT NULL AND EXCLUDED.last_hour IS NOT NULL
                             THEN GREATEST(d.last_hour, EXCLUDED.last_hour) END,
            generation = EXCLUDED.generation;
    RETURN NULL;
END $$;

CREATE TRIGGER rollup_mark_states AFTER INSERT ON machine_states
    REFERENCING NEW TABLE AS new_states FOR EACH STATEMENT EXECUTE FUNCTION rollup_mark_states();

-- Protheus SH6 appointments own the counts without an order (their ideal times): when the sync
-- mirrors one that is new, changed or gone (analytics_src.sh6, 0020), the hours it spans on its
-- machine change, before and after an update.
CREATE FUNCTION rollup_mark_spans(machines TEXT[], firsts TIMESTAMPTZ[], lasts TIMESTAMPTZ[])
RETURNS void LANGUAGE sql AS $$
    INSERT INTO rollup_dirty_spans AS d (machine, first_hour, last_hour)
    SELECT m.machine,
           min(date_bin(INTERVAL '1 hour', m.first_at, TIMESTAMPTZ '1970-01-01 00:00:00+00')),
           max(date_bin(INTERVAL '1 hour', m.last_at, TIMESTAMPTZ '1970-01-01 00:00:00+00'))
    FROM unnest(machines, firsts, lasts) AS m(machine, first_at, last_at)
    WHERE m.machine IS NOT NULL AND m.first_at IS NOT NULL
      -- Machines the MES knows: a resource with no telemetry has no OEE to keep.
      AND EXISTS (SELECT 1 FROM machines k WHERE k.machine = m.machine)
    GROUP BY m.machine
    ORDER BY m.machine
    ON CONFLICT (machine) DO UPDATE
        SET first_hour = LEAST(d.first_hour, EXCLUDED.first_hour),
            last_hour = CASE WHEN d.last_hour IS NOT NULL
                             THEN GREATEST(d.last_hour, EXCLUDED.last_hour) END,
            generation = EXCLUDED.generation;
$$;

-- LEAST/GREATEST skip NULLs: an appointment with one readable end marks that end's hour.
CREATE FUNCTION rollup_mark_appointments() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM rollup_mark_spans(array_agg(a.machine), array_agg(LEAST(a.start_at, a.end_at)),
                              array_agg(GREATEST(a.start_at, a.end_at)))
    FROM changed a;
    RETURN NULL;
END $$;

CREATE FUNCTION rollup_mark_changed_appointments() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM rollup_mark_spans(array_agg(a.machine), array_agg(LEAST(a.start_at, a.end_at)),
                              array_agg(GREATEST(a.start_at, a.end_at)))
    FROM (SELECT machine, start_at, end_at FROM changed
          UNION ALL SELECT machine, start_at, end_at FROM changed_before) a;
    RETURN NULL;
END $$;

CREATE TRIGGER rollup_mark_new_appointments AFTER INSERT ON analytics_src.sh6
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION rollup_mark_appointments();
CREATE TRIGGER rollup_mark_gone_appointments AFTER DELETE ON analytics_src.sh6
    REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION rollup_mark_appointments();
CREATE TRIGGER rollup_mark_changed_appointments AFTER UPDATE ON analytics_src.sh6
    REFERENCING NEW TABLE AS changed OLD TABLE AS changed_before
    FOR EACH STATEMENT EXECUTE FUNCTION rollup_mark_changed_appointments();

-- A counter message counts in the hour of its ts.
CREATE FUNCTION rollup_mark_counters() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO rollup_dirty_hours AS d (machine, hour)
    SELECT DISTINCT n.machine,
           date_bin(INTERVAL '1 hour', n.ts, TIMESTAMPTZ '1970-01-01 00:00:00+00')
    FROM new_counters n
    ORDER BY 1, 2
    ON CONFLICT (machine, hour) DO UPDATE SET generation = EXCLUDED.generation;
    RETURN NULL;
END $$;

CREATE TRIGGER rollup_mark_counters AFTER INSERT ON machine_counters
    REFERENCING NEW TABLE AS new_counters FOR EACH STATEMENT EXECUTE FUNCTION rollup_mark_counters();

-- What BI sees: instants as UTC and plant wall-clock timestamps (0020's convention), the plant
-- date for the calendar dimension, avg = sum / count. The zone is a scalar subquery (run
-- once, only when a local column is asked), not a join the planner would have to estimate.
CREATE VIEW analytics.telemetry_1m AS
SELECT r.machine, r.metric,
       r.bucket AT TIME ZONE 'UTC' AS bucket_utc,
       (r.bucket AT TIME ZONE (SELECT COALESCE(max(timezone), 'UTC') FROM analytics_src.plant)) AS bucket_local,
       CAST(r.bucket AT TIME ZONE (SELECT COALESCE(max(timezone), 'UTC') FROM analytics_src.plant) AS date) AS date_local,
       r.min_value AS min, r.max_value AS max, r.sum_value / r.samples AS avg, r.samples AS count
FROM rollup_telemetry_1m r;

CREATE VIEW analytics.telemetry_1h AS
SELECT r.machine, r.metric,
       r.bucket AT TIME ZONE 'UTC' AS bucket_utc,
       (r.bucket AT TIME ZONE (SELECT COALESCE(max(timezone), 'UTC') FROM analytics_src.plant)) AS bucket_local,
       CAST(r.bucket AT TIME ZONE (SELECT COALESCE(max(timezone), 'UTC') FROM analytics_src.plant) AS date) AS date_local,
       r.min_value AS min, r.max_value AS max, r.sum_value / r.samples AS avg, r.samples AS count
FROM rollup_telemetry_1h r;

CREATE VIEW analytics.oee_hourly AS
SELECT r.machine,
       r.hour AT TIME ZONE 'UTC' AS hour_utc,
       (r.hour AT TIME ZONE (SELECT COALESCE(max(timezone), 'UTC') FROM analytics_src.plant)) AS hour_local,
       CAST(r.hour AT TIME ZONE (SELECT COALESCE(max(timezone), 'UTC') FROM analytics_src.plant) AS date) AS date_local,
       r.planned_s, r.running_s, r.ideal_s, r.good, r.scrap,
       r.availability, r.performance, r.quality, r.oee,
       r.closed
FROM rollup_oee_hourly r;

COMMENT ON VIEW analytics.telemetry_1m IS
    'Telemetry per machine, metric and minute (UTC-aligned): min, max, avg, count of the samples.';
COMMENT ON VIEW analytics.telemetry_1h IS
    'Telemetry per machine, metric and hour (UTC-aligned): min, max, avg, count of the samples.';
COMMENT ON VIEW analytics.oee_hourly IS
    'OEE per machine and hour, the figures /api/v1/oee gives for [hour, hour + 1 h): planned and '
    'running seconds, ideal seconds (NULL when some count has no standard), good, scrap, ratios in '
    '[0, 1]. closed = false for the hour in progress (recomputed on each run).';

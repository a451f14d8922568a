-- The lake exports the rollups too (telemetry_1m, telemetry_1h, oee_hourly): the rollup job
-- rewrites buckets as data arrives late, and each rewrite marks its plant day for the
-- export like a fact table's change (lake_mark_dirty of 0022: appended, never waited on).
CREATE TRIGGER lake_mark_insert AFTER INSERT ON rollup_telemetry_1m
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION lake_mark_dirty('bucket');
CREATE TRIGGER lake_mark_update AFTER UPDATE ON rollup_telemetry_1m
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION lake_mark_dirty('bucket');
CREATE TRIGGER lake_mark_delete AFTER DELETE ON rollup_telemetry_1m
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION lake_mark_dirty('bucket');

CREATE TRIGGER lake_mark_insert AFTER INSERT ON rollup_telemetry_1h
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION lake_mark_dirty('bucket');
CREATE TRIGGER lake_mark_update AFTER UPDATE ON rollup_telemetry_1h
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION lake_mark_dirty('bucket');
CREATE TRIGGER lake_mark_delete AFTER DELETE ON rollup_telemetry_1h
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION lake_mark_dirty('bucket');

CREATE TRIGGER lake_mark_insert AFTER INSERT ON rollup_oee_hourly
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION lake_mark_dirty('hour');
CREATE TRIGGER lake_mark_update AFTER UPDATE ON rollup_oee_hourly
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION lake_mark_dirty('hour');
CREATE TRIGGER lake_mark_delete AFTER DELETE ON rollup_oee_hourly
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION lake_mark_dirty('hour');

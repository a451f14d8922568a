-- The anomaly detector's progress per machine, in the machine's own time (issue 16 fix;
-- services/analytics/anomalies/job.py). One global watermark in sample time skipped
-- samples for good: a backlog drained after an MES database outage or a device's buffer
-- forwarded after a network loss (stamped in the past, committed after the watermark passed
-- them), and every sample of a PLC whose clock is behind by more than ANOMALY_LAG_S.
-- Now each machine's row says how far its detectors were fed (`upto`, the machine's sample
-- time), written with their state in the same transaction, and a run reads each machine up
-- to its committed front (machines.last_seen, moved by the ingestor in the transaction of
-- the samples) minus ANOMALY_LAG_S.

ALTER TABLE anomaly_detector_state ADD COLUMN upto TIMESTAMPTZ;
-- A machine fed so far was fed up to the global watermark.
UPDATE anomaly_detector_state
SET upto = coalesce((SELECT w.upto FROM anomaly_watermark w), updated_at);
ALTER TABLE anomaly_detector_state ALTER COLUMN upto SET NOT NULL;

-- The one-row table stays as the run's lock (two runs, e.g. two replicas or the bench beside
-- the job, never feed the same samples twice: each run locks it first). Its watermark goes;
-- read_at is when the last run read the machines' fronts (the database's clock), the bound
-- of the samples it could see: a sample received after it, behind a machine's upto, came
-- too late to be fed (counted, see the job).
ALTER TABLE anomaly_watermark RENAME TO anomaly_detector_run;
ALTER TABLE anomaly_detector_run RENAME CONSTRAINT anomaly_watermark_id_check
    TO anomaly_detector_run_id_check;
ALTER INDEX anomaly_watermark_pkey RENAME TO anomaly_detector_run_pkey;
ALTER TABLE anomaly_detector_run DROP COLUMN upto;
ALTER TABLE anomaly_detector_run ADD COLUMN read_at TIMESTAMPTZ;
INSERT INTO anomaly_detector_run (id) VALUES (TRUE) ON CONFLICT (id) DO NOTHING;

-- The outbox's heads: per branch, order and operation, the earliest report still to deliver.
-- Only a head may be sent (reports of one operation reach Protheus in the order accepted),
-- so the pusher's claim walks the heads in acceptance order instead of checking every
-- outbox row against every earlier one: its cost follows the batch, not the backlog.
--
-- Triggers keep the heads in the same transaction as every insert into and delete from the
-- outbox. Each change to a key first locks the key's head row (an upsert on insert, FOR
-- UPDATE on delete), so concurrent changes to one key take turns, and the next head is
-- read by a later statement, which sees what the previous holder committed. A transaction
-- that queues reports of several keys (the service queues one per transaction) takes the
-- keys' locks in the order of its rows: concurrent ones should queue in key order.

-- The report's key and acceptance order, copied onto its outbox row (fixed while queued:
-- only a rejected report, out of the outbox, can be corrected).
ALTER TABLE report_outbox
    ADD COLUMN seq       BIGINT,
    ADD COLUMN branch    TEXT,
    ADD COLUMN order_key TEXT,
    ADD COLUMN operation TEXT;
UPDATE report_outbox o
SET seq = r.seq, branch = r.branch, order_key = r.order_key, operation = r.operation
FROM production_reports r WHERE r.id = o.report_id;
ALTER TABLE report_outbox
    ALTER COLUMN seq SET NOT NULL,
    ALTER COLUMN branch SET NOT NULL,
    ALTER COLUMN order_key SET NOT NULL,
    ALTER COLUMN operation SET NOT NULL;
CREATE INDEX report_outbox_key ON report_outbox (branch, order_key, operation, seq);

CREATE TABLE report_outbox_heads (
    branch    TEXT NOT NULL,
    order_key TEXT NOT NULL,
    operation TEXT NOT NULL,
    -- No foreign key: its check at commit would lock the head's outbox row while another
    -- transaction deleting that row waits for this key's lock (a deadlock); the triggers
    -- below keep the head, and the tests check it against the outbox under concurrency.
    report_id UUID NOT NULL,
    seq       BIGINT NOT NULL,   -- the head's production_reports.seq
    depth     INTEGER NOT NULL,  -- the key's reports in the outbox (the depth gauge sums it)
    PRIMARY KEY (branch, order_key, operation)
) WITH (
    -- Small and rewritten on every queue and delivery: room on each page for in-place
    -- (HOT) updates, and vacuumed often, so the claim's walk meets few dead versions.
    fillfactor = 50,
    autovacuum_vacuum_scale_factor = 0,
    autovacuum_vacuum_threshold = 500,
    autovacuum_analyze_scale_factor = 0,
    autovacuum_analyze_threshold = 500
);
CREATE INDEX report_outbox_heads_seq ON report_outbox_heads (seq);

INSERT INTO report_outbox_heads (branch, order_key, operation, report_id, seq, depth)
SELECT DISTINCT ON (branch, order_key, operation)
       branch, order_key, operation, report_id, seq,
       count(*) OVER (PARTITION BY branch, order_key, operation)
FROM report_outbox
ORDER BY branch, order_key, operation, seq;

CREATE FUNCTION report_outbox_fill_key() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    SELECT r.seq, r.branch, r.order_key, r.operation
    INTO NEW.seq, NEW.branch, NEW.order_key, NEW.operation
    FROM production_reports r WHERE r.id = NEW.report_id;
    RETURN NEW;
END
$$;

CREATE FUNCTION report_outbox_enqueued() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Always an update on conflict (never a no-op), so the key's row is locked until commit.
    INSERT INTO report_outbox_heads AS h (branch, order_key, operation, report_id, seq, depth)
    VALUES (NEW.branch, NEW.order_key, NEW.operation, NEW.report_id, NEW.seq, 1)
    ON CONFLICT (branch, order_key, operation) DO UPDATE SET
        report_id = CASE WHEN EXCLUDED.seq < h.seq THEN EXCLUDED.report_id ELSE h.report_id END,
        seq = LEAST(EXCLUDED.seq, h.seq),
        depth = h.depth + 1;
    RETURN NULL;
END
$$;

CREATE FUNCTION report_outbox_dequeued() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    head_id  UUID;
    next_id  UUID;
    next_seq BIGINT;
BEGIN
    SELECT h.report_id INTO head_id FROM report_outbox_heads h
    WHERE h.branch = OLD.branch AND h.order_key = OLD.order_key AND h.operation = OLD.operation
    FOR UPDATE;
    IF NOT FOUND THEN
        RETURN NULL;  -- the key's last reports left in this same statement
    END IF;
    IF head_id <> OLD.report_id THEN
        UPDATE report_outbox_heads SET depth = depth - 1
        WHERE branch = OLD.branch AND order_key = OLD.order_key AND operation = OLD.operation;
        RETURN NULL;
    END IF;
    -- A new statement, so a new snapshot: it sees what the key's previous lock holder committed.
    SELECT o.report_id, o.seq INTO next_id, next_seq FROM report_outbox o
    WHERE o.branch = OLD.branch AND o.order_key = OLD.order_key AND o.operation = OLD.operation
    ORDER BY o.seq LIMIT 1;
    IF next_id IS NULL THEN
        DELETE FROM report_outbox_heads
        WHERE branch = OLD.branch AND order_key = OLD.order_key AND operation = OLD.operation;
    ELSE
        UPDATE report_outbox_heads SET report_id = next_id, seq = next_seq, depth = depth - 1
        WHERE branch = OLD.branch AND order_key = OLD.order_key AND operation = OLD.operation;
    END IF;
    RETURN NULL;
END
$$;

-- The key columns come from the report; they may not change while the report is queued.
CREATE FUNCTION report_outbox_key_fixed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'report_outbox: the key of a queued report cannot change (report %)', OLD.report_id;
END
$$;

CREATE TRIGGER report_outbox_fill_key BEFORE INSERT ON report_outbox
    FOR EACH ROW EXECUTE FUNCTION report_outbox_fill_key();
CREATE TRIGGER report_outbox_enqueued AFTER INSERT ON report_outbox
    FOR EACH ROW EXECUTE FUNCTION report_outbox_enqueued();
CREATE TRIGGER report_outbox_dequeued AFTER DELETE ON report_outbox
    FOR EACH ROW EXECUTE FUNCTION report_outbox_dequeued();
CREATE TRIGGER report_outbox_key_fixed BEFORE UPDATE OF seq, branch, order_key, operation, report_id
    ON report_outbox FOR EACH ROW
    WHEN (ROW(OLD.seq, OLD.branch, OLD.order_key, OLD.operation, OLD.report_id)
          IS DISTINCT FROM ROW(NEW.seq, NEW.branch, NEW.order_key, NEW.operation, NEW.report_id))
    EXECUTE FUNCTION report_outbox_key_fixed();

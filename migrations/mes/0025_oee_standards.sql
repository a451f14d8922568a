-- Found on review of 0021: an hour of rollup_oee_hourly computed before Protheus had its
-- standards (the order in SC2, its routing times) kept ideal_s NULL forever, while
-- /api/v1/oee answers with them once they exist.
--
-- When the dimension sync mirrors an order that is new, gone, or whose product, key or branch
-- changed (analytics_src.sc2, 0020), the hours counted for it change. Like the SH6 mirror's
-- marks (0024), its triggers only append the order keys to a log (the sync's transaction,
-- open while it reads the ERP, never holds a row the ingestor waits for); the rollup job folds
-- the log into rollup_dirty_hours (the hours of the counters naming those orders, upserted in
-- key order like the ingest's trigger does) and into rollup_dirty_spans_log (the spans of the
-- SH6 appointments of those orders, which own the counts without an order), in a short
-- transaction of its own. Updates that change nothing OEE reads (quantities, status, dates:
-- each sync touches them) mark nothing. Routing times (SG2) are not mirrored: the job also
-- recomputes, each run, a bounded number of recent closed hours still without ideal time
-- (services/analytics/rollups/service.py).
CREATE TABLE rollup_dirty_orders_log (
    order_key TEXT NOT NULL
);

CREATE FUNCTION rollup_mark_orders() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO rollup_dirty_orders_log (order_key)
    SELECT DISTINCT o.order_key FROM changed o;
    RETURN NULL;
END $$;

CREATE FUNCTION rollup_mark_changed_orders() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO rollup_dirty_orders_log (order_key)
    SELECT o.order_key
    FROM changed n JOIN changed_before b ON b.recno = n.recno
    CROSS JOIN LATERAL (VALUES (n.order_key), (b.order_key)) AS o(order_key)
    WHERE n.order_key <> b.order_key OR n.product <> b.product OR n.branch <> b.branch
    GROUP BY o.order_key;
    RETURN NULL;
END $$;

CREATE TRIGGER rollup_mark_new_orders AFTER INSERT ON analytics_src.sc2
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION rollup_mark_orders();
CREATE TRIGGER rollup_mark_gone_orders AFTER DELETE ON analytics_src.sc2
    REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION rollup_mark_orders();
CREATE TRIGGER rollup_mark_changed_orders AFTER UPDATE ON analytics_src.sc2
    REFERENCING NEW TABLE AS changed OLD TABLE AS changed_before
    FOR EACH STATEMENT EXECUTE FUNCTION rollup_mark_changed_orders();

-- The fold finds an order's counters and appointments by key (the ingestor stores the key
-- trimmed, the sync trims H6_OP the same way as SC2's key).
CREATE INDEX machine_counters_order_key ON machine_counters (order_key)
    WHERE order_key IS NOT NULL;
CREATE INDEX sh6_order_key ON analytics_src.sh6 (order_key);

-- The recent closed hours with counts and no ideal time, which the job computes again.
CREATE INDEX rollup_oee_hourly_unknown_ideal ON rollup_oee_hourly (hour)
    WHERE closed AND ideal_s IS NULL AND (good > 0 OR scrap > 0);

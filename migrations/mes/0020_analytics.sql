-- The BI schema (issue 15): `analytics` holds only views, the one place Power BI, Tableau and
-- Qlik connect to as the read-only role mes_bi; `analytics_src` holds the Protheus dimensions
-- mirrored by the analytics service's sync job (services/analytics/sync), which mes_bi cannot
-- see. Views read the MES tables and the mirrors with their owner's rights, so mes_bi needs
-- (and gets) SELECT on the views alone. Codes are trimmed, dates are dates, numbers numeric;
-- every instant is given twice, `*_utc` and `*_local` (plant time, PLANT_TIMEZONE), both as
-- timestamps without zone, which every BI tool reads the same way.

CREATE SCHEMA analytics;
CREATE SCHEMA analytics_src;

REVOKE ALL ON SCHEMA analytics_src FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM PUBLIC;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;

-- The role: cluster-wide, so created once, whichever database migrates first (tests create
-- many). A database user that may not create roles gets a warning, not a failed migration
-- (every service migrates at start): a DBA then creates mes_bi and runs this block again.
-- What a BI tool gets on connecting: the analytics views by their bare names, read-only; the
-- views below (and later ones, 0021...) readable through the default privileges. The
-- password and LOGIN are set by the analytics service at start (ANALYTICS_BI_PASSWORD).
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'mes_bi') THEN
        BEGIN
            CREATE ROLE mes_bi NOLOGIN;
        EXCEPTION
            WHEN duplicate_object OR unique_violation THEN
                NULL;  -- another database's migration created it meanwhile
            WHEN insufficient_privilege THEN
                RAISE WARNING 'role mes_bi not created: % may not create roles; BI tools cannot '
                    'connect until a DBA runs CREATE ROLE mes_bi NOLOGIN and the grants of '
                    'migrations/mes/0020_analytics.sql', current_user;
                RETURN;
        END;
    END IF;
    BEGIN
        ALTER ROLE mes_bi SET search_path = analytics;
        ALTER ROLE mes_bi SET default_transaction_read_only = on;
    EXCEPTION WHEN insufficient_privilege THEN
        RAISE WARNING 'mes_bi''s search_path and read-only default not set: % may not alter roles',
            current_user;
    END;
    GRANT USAGE ON SCHEMA analytics TO mes_bi;
    ALTER DEFAULT PRIVILEGES IN SCHEMA analytics GRANT SELECT ON TABLES TO mes_bi;
END
$$;

-- --- analytics_src: written by the analytics service ---------------------------------------

-- The plant's zone (PLANT_TIMEZONE), written by the service: the views' `*_local` columns.
CREATE TABLE analytics_src.plant (
    id         BOOLEAN PRIMARY KEY DEFAULT true CHECK (id),
    timezone   TEXT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- SHIFT_CALENDAR as rows (the shifts module's parse), written by the service.
CREATE TABLE analytics_src.shifts (
    shift        INTEGER NOT NULL,   -- position of the range in SHIFT_CALENDAR, from 1
    weekday      INTEGER NOT NULL CHECK (weekday BETWEEN 1 AND 7),  -- ISO: 1 Monday
    start_minute INTEGER NOT NULL,   -- after local midnight
    end_minute   INTEGER NOT NULL,   -- beyond 1440 when the shift crosses midnight
    PRIMARY KEY (shift, weekday)
);

-- A Protheus D column ('YYYYMMDD' text, blank when empty) as a date; NULL when blank or not
-- a real day (nested CASEs: each test runs only when the previous one held).
CREATE FUNCTION analytics_src.protheus_day(value TEXT) RETURNS DATE
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
SELECT CASE WHEN btrim(value) ~ '^[0-9]{8}$' THEN
    CASE WHEN substr(btrim(value), 1, 4)::int >= 1 AND substr(btrim(value), 5, 2)::int BETWEEN 1 AND 12 THEN
        CASE WHEN substr(btrim(value), 7, 2)::int BETWEEN 1 AND extract(day FROM
                (make_date(substr(btrim(value), 1, 4)::int, substr(btrim(value), 5, 2)::int, 1)
                 + interval '1 month - 1 day'))::int
        THEN make_date(substr(btrim(value), 1, 4)::int, substr(btrim(value), 5, 2)::int,
                       substr(btrim(value), 7, 2)::int)
        END
    END
END
$$;

-- A Protheus day and 'HH:MM' hour (H6_DATAINI + H6_HORAINI) in the plant's zone; the day at
-- midnight when the hour is blank or not a time, NULL without a day.
CREATE FUNCTION analytics_src.protheus_instant(day TEXT, hour TEXT, zone TEXT) RETURNS TIMESTAMPTZ
LANGUAGE sql STABLE PARALLEL SAFE AS $$
SELECT (analytics_src.protheus_day(day)::timestamp
        + COALESCE(
              CASE WHEN btrim(hour) ~ '^[0-9]{1,2}:[0-9]{2}$' THEN
                  CASE WHEN split_part(btrim(hour), ':', 1)::int <= 24
                            AND split_part(btrim(hour), ':', 2)::int <= 59 THEN
                      make_interval(hours => split_part(btrim(hour), ':', 1)::int,
                                    mins => split_part(btrim(hour), ':', 2)::int)
                  END
              END,
              interval '0')
       ) AT TIME ZONE zone
$$;

-- Mirrors of Protheus rows: one per live row of the synced branch, keyed by the source row's
-- R_E_C_N_O_, with the hash of its source columns (computed by the Protheus server) that
-- tells the sync which rows changed in place. Columns trimmed and typed on the way in.
CREATE TABLE analytics_src.sh1 (
    recno       BIGINT PRIMARY KEY,
    branch      TEXT NOT NULL,
    row_hash    TEXT NOT NULL,
    machine     TEXT NOT NULL,       -- H1_CODIGO
    description TEXT NOT NULL,       -- H1_DESCRI
    work_center TEXT,                -- H1_CTRAB
    cost_center TEXT,                -- H1_CCUSTO
    synced_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX sh1_machine ON analytics_src.sh1 (machine);

CREATE TABLE analytics_src.sb1 (
    recno         BIGINT PRIMARY KEY,
    branch        TEXT NOT NULL,
    row_hash      TEXT NOT NULL,
    product       TEXT NOT NULL,     -- B1_COD
    description   TEXT NOT NULL,     -- B1_DESC
    type          TEXT,              -- B1_TIPO
    unit          TEXT,              -- B1_UM
    product_group TEXT,              -- B1_GRUPO
    blocked       BOOLEAN NOT NULL,  -- B1_MSBLQL = '1'
    synced_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX sb1_product ON analytics_src.sb1 (product);

-- `status` is the production service's rule (shared/protheus/orders.py), evaluated by the
-- Protheus server in the sync's query on the plant's date of that run.
CREATE TABLE analytics_src.sc2 (
    recno         BIGINT PRIMARY KEY,
    branch        TEXT NOT NULL,
    row_hash      TEXT NOT NULL,
    order_key     TEXT NOT NULL,     -- C2_NUM+C2_ITEM+C2_SEQUEN+C2_ITEMGRD, trailing blanks trimmed
    order_number  TEXT NOT NULL,     -- C2_NUM
    product       TEXT NOT NULL,     -- C2_PRODUTO
    warehouse     TEXT,              -- C2_LOCAL
    unit          TEXT,              -- C2_UM
    quantity      NUMERIC NOT NULL,  -- C2_QUANT
    produced      NUMERIC NOT NULL,  -- C2_QUJE
    scrap         NUMERIC NOT NULL,  -- C2_PERDA
    planned_start DATE,              -- C2_DATPRI
    planned_end   DATE,              -- C2_DATPRF
    closed_on     DATE,              -- C2_DATRF
    issued_on     DATE,              -- C2_EMISSAO
    order_type    TEXT,              -- C2_TPOP: F firm, P planned
    situation     TEXT,              -- C2_STATUS: normal, suspended, sacramented
    status        TEXT NOT NULL,     -- planned, open, started, idle, partially_closed, closed
    last_activity DATE,              -- latest live SH6 / SD3 of the order
    synced_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX sc2_order_key ON analytics_src.sc2 (order_key);

-- Appointments (SH6): production (H6_TIPO 'P') and stops (MATA682, 'I').
CREATE TABLE analytics_src.sh6 (
    recno         BIGINT PRIMARY KEY,
    branch        TEXT NOT NULL,
    row_hash      TEXT NOT NULL,
    order_key     TEXT NOT NULL,     -- H6_OP, trimmed
    product       TEXT,              -- H6_PRODUTO
    operation     TEXT,              -- H6_OPERAC
    machine       TEXT,              -- H6_RECURSO
    start_at      TIMESTAMPTZ,       -- H6_DATAINI + H6_HORAINI in the plant's zone
    end_at        TIMESTAMPTZ,       -- H6_DATAFIN + H6_HORAFIN
    good_quantity  NUMERIC NOT NULL, -- H6_QTDPROD
    scrap_quantity NUMERIC NOT NULL, -- H6_QTDPERD
    part_total    TEXT,              -- H6_PT: P partial, T total
    kind          TEXT,              -- H6_TIPO
    reason_code   TEXT,              -- H6_MOTIVO
    appointed_on  DATE,              -- H6_DTAPONT
    warehouse     TEXT,              -- H6_LOCAL
    lot           TEXT,              -- H6_LOTECTL
    operator      TEXT,              -- H6_OPERADO
    ident         TEXT,              -- H6_IDENT (the IntegrationReport's id)
    document_id   UUID,              -- the MES report or stop whose marker H6_OBSERVA holds
    synced_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX sh6_document ON analytics_src.sh6 (document_id) WHERE document_id IS NOT NULL;
CREATE INDEX sh6_start ON analytics_src.sh6 (start_at);

-- Stop reasons: CYN (current releases) or SX5 table '44' (older ones), whichever the
-- dictionary has (shared/protheus/stop_reasons.py); `source` says which.
CREATE TABLE analytics_src.stop_reasons (
    recno       BIGINT PRIMARY KEY,
    branch      TEXT NOT NULL,
    row_hash    TEXT NOT NULL,
    source      TEXT NOT NULL CHECK (source IN ('CYN', 'SX5')),
    code        TEXT NOT NULL,
    description TEXT NOT NULL,
    synced_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- --- analytics: what BI sees ----------------------------------------------------------------

-- Dimensions.

-- Every machine: SH1's resources, with site/area/line once the machine has sent telemetry;
-- a machine seen only by the MES appears too (in_protheus false).
CREATE VIEW analytics.machines AS
SELECT COALESCE(h.machine, m.machine) AS machine,
       h.description,
       h.work_center,
       h.cost_center,
       h.branch,
       m.site,
       m.area,
       m.line,
       h.machine IS NOT NULL AS in_protheus,
       m.first_seen AT TIME ZONE 'UTC' AS first_seen_utc,
       m.last_seen AT TIME ZONE 'UTC' AS last_seen_utc
FROM analytics_src.sh1 h
FULL JOIN public.machines m ON m.machine = h.machine;

CREATE VIEW analytics.products AS
SELECT product, description, type, unit, product_group, blocked, branch
FROM analytics_src.sb1;

CREATE VIEW analytics.orders AS
SELECT order_key, order_number, product, warehouse, unit, quantity, produced, scrap, status,
       situation, order_type, planned_start, planned_end, closed_on, issued_on, last_activity,
       branch, synced_at AT TIME ZONE 'UTC' AS synced_utc
FROM analytics_src.sc2;

CREATE VIEW analytics.stop_reasons AS
SELECT code, description, source, branch
FROM analytics_src.stop_reasons;

-- SHIFT_CALENDAR per ISO weekday; a shift crossing midnight belongs to the day it starts on.
CREATE VIEW analytics.shifts AS
SELECT s.shift,
       s.weekday,
       (ARRAY['segunda', 'terça', 'quarta', 'quinta', 'sexta', 'sábado', 'domingo'])[s.weekday]
           AS weekday_name,
       make_interval(mins => s.start_minute)::time AS start_time,
       make_interval(mins => s.end_minute % 1440)::time AS end_time,
       -- Ends at or after the next midnight (end_time is then on the next day).
       s.end_minute >= 1440 AS ends_next_day,
       s.end_minute - s.start_minute AS minutes
FROM analytics_src.shifts s;

-- Plant-local days from the earliest fact to a year ahead.
CREATE VIEW analytics.calendar AS
WITH zone AS (
    SELECT COALESCE(max(timezone), 'UTC') AS tz FROM analytics_src.plant
), bounds AS (
    -- Per machine through the (machine, time) indexes rather than a scan of each table.
    SELECT LEAST(
               (SELECT min(start_at) FROM public.production_reports),
               (SELECT min(start_at) FROM analytics_src.sh6),
               (SELECT min(first_seen) FROM public.machines),
               (SELECT min(LEAST(
                    (SELECT min(s.ts) FROM public.machine_states s WHERE s.machine = m.machine),
                    (SELECT min(c.ts) FROM public.machine_counters c WHERE c.machine = m.machine),
                    (SELECT min(t.start_at) FROM public.stops t WHERE t.machine = m.machine)))
                FROM public.machines m),
               now()
           ) AS first_at
)
SELECT d::date AS date,
       extract(year FROM d)::int AS year,
       extract(quarter FROM d)::int AS quarter,
       extract(month FROM d)::int AS month,
       extract(day FROM d)::int AS day,
       extract(isoyear FROM d)::int AS iso_year,
       extract(week FROM d)::int AS iso_week,
       extract(isodow FROM d)::int AS weekday,
       extract(isodow FROM d) >= 6 AS weekend,
       to_char(d, 'YYYY-MM') AS year_month
FROM zone, bounds,
     generate_series(
         (bounds.first_at AT TIME ZONE zone.tz)::date,
         (now() AT TIME ZONE zone.tz)::date + 365,
         interval '1 day'
     ) AS d;

-- Facts.

-- Production: MES reports with the SH6 appointment they became (by the marker in
-- H6_OBSERVA), and SH6 production appointments made outside the MES (report_id NULL).
CREATE VIEW analytics.production AS
SELECT r.id AS report_id,
       COALESCE(r.order_key, h.order_key) AS order_key,
       COALESCE(r.operation, h.operation) AS operation,
       COALESCE(r.machine, h.machine) AS machine,
       COALESCE(r.item_code, h.product) AS product,
       COALESCE(r.good_quantity, h.good_quantity) AS good_quantity,
       COALESCE(r.scrap_quantity, h.scrap_quantity) AS scrap_quantity,
       COALESCE(r.start_at, h.start_at) AT TIME ZONE 'UTC' AS start_utc,
       COALESCE(r.start_at, h.start_at) AT TIME ZONE z.tz AS start_local,
       COALESCE(r.end_at, h.end_at) AT TIME ZONE 'UTC' AS end_utc,
       COALESCE(r.end_at, h.end_at) AT TIME ZONE z.tz AS end_local,
       r.status AS report_status,
       r.final,
       r.operator,
       r.scrap_reason,
       r.lot,
       COALESCE(r.branch, h.branch) AS branch,
       h.recno AS protheus_recno,
       h.ident AS appointment_id,
       h.part_total,
       h.appointed_on,
       CASE WHEN r.id IS NULL THEN 'protheus' ELSE 'mes' END AS source
FROM public.production_reports r
FULL JOIN (SELECT * FROM analytics_src.sh6 WHERE kind IS DISTINCT FROM 'I') h
       ON h.document_id = r.id
CROSS JOIN (SELECT COALESCE(max(timezone), 'UTC') AS tz FROM analytics_src.plant) z;

CREATE VIEW analytics.stops AS
SELECT s.id AS stop_id,
       s.machine,
       s.branch,
       s.state,
       s.plc_reason,
       s.reason_code,
       sr.description AS reason,
       s.classified_by,
       s.manual,
       s.status,
       s.start_at AT TIME ZONE 'UTC' AS start_utc,
       s.start_at AT TIME ZONE z.tz AS start_local,
       s.end_at AT TIME ZONE 'UTC' AS end_utc,
       s.end_at AT TIME ZONE z.tz AS end_local,
       extract(epoch FROM s.end_at - s.start_at)::numeric AS duration_s,
       s.operator,
       s.note,
       s.id_appointment AS appointment_id
FROM public.stops s
LEFT JOIN analytics_src.stop_reasons sr ON sr.code = s.reason_code
CROSS JOIN (SELECT COALESCE(max(timezone), 'UTC') AS tz FROM analytics_src.plant) z;

-- A state lasts until the machine's next state (end NULL: still in it).
CREATE VIEW analytics.states AS
SELECT s.machine,
       s.state,
       s.reason,
       s.ts AT TIME ZONE 'UTC' AS start_utc,
       s.ts AT TIME ZONE z.tz AS start_local,
       nx.ts AT TIME ZONE 'UTC' AS end_utc,
       nx.ts AT TIME ZONE z.tz AS end_local,
       extract(epoch FROM nx.ts - s.ts)::numeric AS duration_s
FROM public.machine_states s
LEFT JOIN LATERAL (
    SELECT n.ts FROM public.machine_states n
    WHERE n.machine = s.machine AND n.ts > s.ts
    ORDER BY n.ts
    LIMIT 1
) nx ON true
CROSS JOIN (SELECT COALESCE(max(timezone), 'UTC') AS tz FROM analytics_src.plant) z;

-- Counts since the machine's previous counter message.
CREATE VIEW analytics.counters AS
SELECT c.machine,
       c.ts AT TIME ZONE 'UTC' AS ts_utc,
       c.ts AT TIME ZONE z.tz AS ts_local,
       c.good,
       c.scrap,
       c.order_key
FROM public.machine_counters c
CROSS JOIN (SELECT COALESCE(max(timezone), 'UTC') AS tz FROM analytics_src.plant) z;

COMMENT ON SCHEMA analytics IS 'What BI tools read (role mes_bi): documented views, codes trimmed, instants in UTC and plant time.';
COMMENT ON VIEW analytics.machines IS 'Machines: Protheus SH1 resources and machines seen by the MES, with site/area/line.';
COMMENT ON VIEW analytics.products IS 'Products (SB1 subset).';
COMMENT ON VIEW analytics.orders IS 'Production orders (SC2) with the status the production API gives.';
COMMENT ON VIEW analytics.stop_reasons IS 'Protheus stop reasons (CYN, else SX5 table 44).';
COMMENT ON VIEW analytics.shifts IS 'Planned shifts per ISO weekday (SHIFT_CALENDAR).';
COMMENT ON VIEW analytics.calendar IS 'Plant-local days from the earliest fact to a year ahead.';
COMMENT ON VIEW analytics.production IS 'MES production reports and Protheus SH6 production appointments, linked.';
COMMENT ON VIEW analytics.stops IS 'Machine stops detected by the MES, with their reasons.';
COMMENT ON VIEW analytics.states IS 'Machine state intervals (a state lasts until the next one).';
COMMENT ON VIEW analytics.counters IS 'Good and scrap counts per machine message.';

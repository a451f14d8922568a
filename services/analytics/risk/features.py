"""Features per machine and hour, and the label the model learns: one statement per call.

A row is machine M's hour H (UTC-aligned); it is observed at H's end, `as_of` = H + 1 h, from
the data before it: per metric the mean and spread of the last hour and of the last 8 hours,
the 8-hour trend (slope of the hourly means, units per hour) and how far the last hour and the
last 8 hours sit from the last 24 hours (z, in the 24 hours' standard deviations); the same
level under load (samples while `running`, RUN_SETTLE after it started: process values follow
the load, so an idle hour would hide a drift) in the last hour and 8 hours against the 24 hours
before those 8 (z, ratio, trend); the share of the last hour and 8 hours spent running, and of the 8 hours ahead a day and a
week before (the shift pattern: faults come with running time); anomaly
events by kind detected in the last hour and 8 hours (anomaly_events, 0026); `fault` and
`stopped` state entries in the last 24 hours and 7 days and the hours since the last fault
entry (looking back at most FAULT_LOOKBACK); the product of the order the machine's counters
last named (analytics_src.sc2, when mirrored); the plant-local hour of day and weekday.

Label: 1 when a `fault` state starts within RISK_HORIZON_H hours after `as_of`, 0 when none
does, both only when the machine's data reaches that far; None otherwise (the horizon is not
wholly observed yet: keeping its positives alone, the faults already seen, would bias the last
hours of a window towards faults; or the machine is already in fault at `as_of`: nothing to
predict). A row's label looks at the hours after its window: a training set followed by
held-out hours keeps only the rows whose horizon ends before them (`observed`).

The telemetry statistics are computed from telemetry_samples, not the rollups (0021): those
keep no sum of squares (no spread) nor the state, and a bench or a fresh plant loads samples
without the rollup job. One grouped pass over the window's samples (plus 31 hours before it
for the baselines) into 5-minute buckets, those wholly inside running spans picked by an
equality join, then window functions over a dense hourly grid.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import asyncpg

from shared.settings import Settings

HOUR = dt.timedelta(hours=1)
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
FAULT_LOOKBACK = dt.timedelta(days=30)
# Running samples count for the "under load" statistics this long after the machine starts
# running: process values follow the load with a lag (a motor's temperature takes minutes).
RUN_SETTLE = dt.timedelta(minutes=10)
ANOMALY_KINDS = ("spike", "stuck", "out_of_range", "drift")
# Per metric, in the order the statement's stats arrays hold them.
METRIC_STATS = (
    "mean_1h", "std_1h", "mean_8h", "std_8h", "slope_8h", "z_1h", "z_8h",
    "run_z_1h", "run_z_8h", "run_rel_8h", "run_slope_8h",
)  # fmt: skip
EVENT_FEATURES = (
    "faults_24h",
    "faults_7d",
    "stops_24h",
    "hours_since_fault",
    *(f"{kind}_{window}" for kind in ANOMALY_KINDS for window in ("1h", "8h")),
)
CALENDAR_FEATURES = ("hour_sin", "hour_cos", "weekday")
STATE_FEATURES = ("running_1h", "running_8h", "running_ahead_1d", "running_ahead_7d")

MACHINE_HOURS = """
WITH fine AS (
    SELECT machine, metric,
           date_bin(INTERVAL '5 minutes', ts, TIMESTAMPTZ '1970-01-01 00:00:00+00') AS bucket,
           CAST(count(*) AS float8) AS n, sum(value) AS s, sum(value * value) AS ss
    FROM telemetry_samples
    WHERE ts >= CAST($1 AS timestamptz) - INTERVAL '31 hours' AND ts < CAST($2 AS timestamptz)
    GROUP BY 1, 2, 3
),
hourly AS (
    SELECT machine, metric,
           date_bin(INTERVAL '1 hour', bucket, TIMESTAMPTZ '1970-01-01 00:00:00+00') AS hour,
           sum(n) AS n, sum(s) AS s, sum(ss) AS ss
    FROM fine
    GROUP BY 1, 2, 3
),
known AS (SELECT DISTINCT machine FROM hourly),
transitions AS (
    SELECT machine, ts, state, lag(state) OVER (PARTITION BY machine ORDER BY ts) AS previous,
           lead(ts) OVER (PARTITION BY machine ORDER BY ts) AS next_ts
    FROM machine_states
    WHERE machine IN (SELECT machine FROM known)
      AND ts >= CAST($1 AS timestamptz) - CAST($5 AS interval)
      AND ts < CAST($2 AS timestamptz) + make_interval(hours => CAST($3 AS int))
),
running AS (
    SELECT t.machine, g.hour,
           CAST(sum(extract(epoch FROM least(t.until, g.hour + INTERVAL '1 hour')
                                       - greatest(t.ts, g.hour))) / 3600 AS float8) AS share
    FROM (
        SELECT machine, ts, least(COALESCE(next_ts, now()), CAST($2 AS timestamptz)) AS until
        FROM transitions
        WHERE state = 'running'
    ) AS t
    CROSS JOIN LATERAL generate_series(
        date_bin(INTERVAL '1 hour', greatest(t.ts, CAST($1 AS timestamptz) - INTERVAL '8 days'),
                 TIMESTAMPTZ '1970-01-01 00:00:00+00'),
        t.until - INTERVAL '1 microsecond', INTERVAL '1 hour') AS g(hour)
    WHERE t.until > greatest(t.ts, CAST($1 AS timestamptz) - INTERVAL '8 days')
    GROUP BY 1, 2
),
run_spans AS (
    SELECT machine, greatest(ts + CAST($6 AS interval),
                             CAST($1 AS timestamptz) - INTERVAL '31 hours') AS began, until
    FROM (
        SELECT machine, ts, least(COALESCE(next_ts, now()), CAST($2 AS timestamptz)) AS until
        FROM transitions
        WHERE state = 'running'
    ) AS t
    WHERE until > ts + CAST($6 AS interval)
      AND until > CAST($1 AS timestamptz) - INTERVAL '31 hours'
),
run_buckets AS (
    -- The 5-minute buckets wholly inside a running span (after its settling time).
    SELECT DISTINCT r.machine, g.bucket
    FROM run_spans AS r
    CROSS JOIN LATERAL generate_series(
        date_bin(INTERVAL '5 minutes', r.began + INTERVAL '5 minutes' - INTERVAL '1 microsecond',
                 TIMESTAMPTZ '1970-01-01 00:00:00+00'),
        r.until - INTERVAL '5 minutes', INTERVAL '5 minutes') AS g(bucket)
),
run_hourly AS (
    SELECT f.machine, f.metric,
           date_bin(INTERVAL '1 hour', f.bucket, TIMESTAMPTZ '1970-01-01 00:00:00+00') AS hour,
           sum(f.n) AS n, sum(f.s) AS s, sum(f.ss) AS ss
    FROM fine AS f
    JOIN run_buckets AS b ON b.machine = f.machine AND b.bucket = f.bucket
    GROUP BY 1, 2, 3
),
series AS (
    SELECT k.machine, k.metric, g.hour, h.n, h.s, h.ss, h.s / h.n AS mean,
           COALESCE(r.share, 0) AS share, u.n AS rn, u.s AS rs, u.ss AS rss, u.s / u.n AS rmean
    FROM (SELECT DISTINCT machine, metric FROM hourly) AS k
    CROSS JOIN generate_series(CAST($1 AS timestamptz) - INTERVAL '31 hours',
                               CAST($2 AS timestamptz) - INTERVAL '1 hour',
                               INTERVAL '1 hour') AS g(hour)
    LEFT JOIN hourly AS h ON h.machine = k.machine AND h.metric = k.metric AND h.hour = g.hour
    LEFT JOIN running AS r ON r.machine = k.machine AND r.hour = g.hour
    LEFT JOIN run_hourly AS u ON u.machine = k.machine AND u.metric = k.metric AND u.hour = g.hour
),
rolled AS (
    SELECT machine, metric, hour, n, s, ss, mean, share, rn, rmean,
           avg(share) OVER w8 AS share8,
           sum(n) OVER w8 AS n8, sum(s) OVER w8 AS s8, sum(ss) OVER w8 AS ss8,
           sum(n) OVER w24 AS n24, sum(s) OVER w24 AS s24, sum(ss) OVER w24 AS ss24,
           regr_slope(mean, extract(epoch FROM hour) / 3600) OVER w8 AS slope8,
           -- Running samples only (after a settling time): the level a metric holds under
           -- load, the last 8 hours against the 24 hours before them.
           sum(rn) OVER w8 AS rn8, sum(rs) OVER w8 AS rs8,
           sum(rn) OVER before8 AS rnb, sum(rs) OVER before8 AS rsb,
           sum(rss) OVER before8 AS rssb,
           regr_slope(rmean, extract(epoch FROM hour) / 3600) OVER w8 AS rslope8
    FROM series
    WINDOW w8 AS (PARTITION BY machine, metric ORDER BY hour ROWS 7 PRECEDING),
           w24 AS (PARTITION BY machine, metric ORDER BY hour ROWS 23 PRECEDING),
           before8 AS (PARTITION BY machine, metric ORDER BY hour
                       ROWS BETWEEN 31 PRECEDING AND 8 PRECEDING)
),
spread AS (
    SELECT machine, metric, hour, n8, share, share8, mean AS mean_1h,
           sqrt(greatest((ss - s * s / n) / nullif(n - 1, 0), 0)) AS std_1h,
           s8 / nullif(n8, 0) AS mean_8h,
           sqrt(greatest((ss8 - s8 * s8 / nullif(n8, 0)) / nullif(n8 - 1, 0), 0)) AS std_8h,
           slope8,
           s24 / nullif(n24, 0) AS mean_24h,
           sqrt(greatest((ss24 - s24 * s24 / nullif(n24, 0)) / nullif(n24 - 1, 0), 0)) AS std_24h,
           rmean AS run_mean_1h, rs8 / nullif(rn8, 0) AS run_mean_8h,
           rsb / nullif(rnb, 0) AS run_base,
           sqrt(greatest((rssb - rsb * rsb / nullif(rnb, 0)) / nullif(rnb - 1, 0), 0))
               AS run_base_std,
           rslope8
    FROM rolled
    WHERE hour >= CAST($1 AS timestamptz)
),
grid AS (
    SELECT machine, hour, max(share) AS running_1h, max(share8) AS running_8h,
           array_agg(metric ORDER BY metric) AS metrics,
           array_agg(ARRAY[mean_1h, std_1h, mean_8h, std_8h, slope8,
                           (mean_1h - mean_24h) / nullif(std_24h, 0),
                           (mean_8h - mean_24h) / nullif(std_24h, 0),
                           (run_mean_1h - run_base) / nullif(run_base_std, 0),
                           (run_mean_8h - run_base) / nullif(run_base_std, 0),
                           run_mean_8h / nullif(run_base, 0),
                           rslope8 / nullif(run_base_std, 0)] ORDER BY metric) AS stats
    FROM spread
    GROUP BY machine, hour
    HAVING sum(n8) > 0
),
entries AS (
    SELECT machine,
           date_bin(INTERVAL '1 hour', ts, TIMESTAMPTZ '1970-01-01 00:00:00+00') AS hour,
           count(*) FILTER (WHERE state = 'fault') AS faults,
           min(ts) FILTER (WHERE state = 'fault') AS first_fault,
           max(ts) FILTER (WHERE state = 'fault') AS last_fault,
           count(*) FILTER (WHERE state = 'stopped') AS stops
    FROM transitions
    WHERE state IN ('fault', 'stopped') AND previous IS DISTINCT FROM state
    GROUP BY 1, 2
),
anomalies AS (
    SELECT machine,
           date_bin(INTERVAL '1 hour', known_at, TIMESTAMPTZ '1970-01-01 00:00:00+00') AS hour,
           count(*) FILTER (WHERE kind = 'spike') AS spike,
           count(*) FILTER (WHERE kind = 'stuck') AS stuck,
           count(*) FILTER (WHERE kind = 'out_of_range') AS out_of_range,
           count(*) FILTER (WHERE kind = 'drift') AS drift
    FROM (
        -- When the detector knew (detail.detectedAt, a sample time), not when the episode
        -- started: a drift is recognised hours into it, and its start would leak the future.
        SELECT machine, kind,
               COALESCE(CASE WHEN jsonb_typeof(detail -> 'detectedAt') = 'string'
                             THEN CAST(detail ->> 'detectedAt' AS timestamptz) END,
                        started_at) AS known_at
        FROM anomaly_events
        WHERE machine IN (SELECT machine FROM known)
          AND started_at >= CAST($1 AS timestamptz) - INTERVAL '55 hours'
          AND started_at < CAST($2 AS timestamptz)
    ) AS e
    WHERE known_at >= CAST($1 AS timestamptz) - INTERVAL '7 hours'
      AND known_at < CAST($2 AS timestamptz)
    GROUP BY 1, 2
),
timeline AS (
    SELECT k.machine, g.hour, e.faults, e.first_fault, e.last_fault, e.stops,
           a.spike, a.stuck, a.out_of_range, a.drift, COALESCE(r.share, 0) AS share
    FROM known AS k
    CROSS JOIN generate_series(CAST($1 AS timestamptz) - CAST($5 AS interval), CAST($2 AS timestamptz) + make_interval(hours => CAST($3 AS int) - 1),
                               INTERVAL '1 hour') AS g(hour)
    LEFT JOIN entries AS e ON e.machine = k.machine AND e.hour = g.hour
    LEFT JOIN anomalies AS a ON a.machine = k.machine AND a.hour = g.hour
    LEFT JOIN running AS r ON r.machine = k.machine AND r.hour = g.hour
),
events AS (
    SELECT machine, hour,
           -- Faults come with running time: how much the machine ran in the 8 hours ahead,
           -- a day and a week ago (its shift pattern, whatever the calendar).
           avg(share) OVER (PARTITION BY machine ORDER BY hour
                            ROWS BETWEEN 23 PRECEDING AND 16 PRECEDING) AS running_ahead_1d,
           avg(share) OVER (PARTITION BY machine ORDER BY hour
                            ROWS BETWEEN 167 PRECEDING AND 160 PRECEDING) AS running_ahead_7d,
           coalesce(sum(faults) OVER w24, 0) AS faults_24h,
           coalesce(sum(faults) OVER w168, 0) AS faults_7d,
           coalesce(sum(stops) OVER w24, 0) AS stops_24h,
           max(last_fault) OVER (PARTITION BY machine ORDER BY hour ROWS UNBOUNDED PRECEDING)
               AS last_fault,
           min(first_fault) OVER (PARTITION BY machine ORDER BY hour
                                  ROWS BETWEEN 1 FOLLOWING AND CAST($3 AS int) FOLLOWING) AS next_fault,
           coalesce(spike, 0) AS spike_1h, coalesce(sum(spike) OVER w8, 0) AS spike_8h,
           coalesce(stuck, 0) AS stuck_1h, coalesce(sum(stuck) OVER w8, 0) AS stuck_8h,
           coalesce(out_of_range, 0) AS out_of_range_1h,
           coalesce(sum(out_of_range) OVER w8, 0) AS out_of_range_8h,
           coalesce(drift, 0) AS drift_1h, coalesce(sum(drift) OVER w8, 0) AS drift_8h
    FROM timeline
    WINDOW w8 AS (PARTITION BY machine ORDER BY hour ROWS 7 PRECEDING),
           w24 AS (PARTITION BY machine ORDER BY hour ROWS 23 PRECEDING),
           w168 AS (PARTITION BY machine ORDER BY hour ROWS 167 PRECEDING)
),
reach AS (
    SELECT k.machine, greatest(m.last_seen, s.last_state) AS data_end
    FROM known AS k
    LEFT JOIN machines AS m ON m.machine = k.machine
    LEFT JOIN LATERAL (
        SELECT max(ts) AS last_state FROM machine_states AS x WHERE x.machine = k.machine
    ) AS s ON true
)
SELECT g.machine, g.hour, g.metrics, g.stats, g.running_1h, g.running_8h,
       ev.running_ahead_1d, ev.running_ahead_7d, ev.faults_24h, ev.faults_7d, ev.stops_24h, ev.last_fault, ev.next_fault,
       ev.spike_1h, ev.spike_8h, ev.stuck_1h, ev.stuck_8h, ev.out_of_range_1h,
       ev.out_of_range_8h, ev.drift_1h, ev.drift_8h,
       st.state AS state_at_end, p.product, r.data_end,
       CAST(extract(hour FROM g.hour AT TIME ZONE CAST($4 AS text)) AS int) AS local_hour,
       CAST(extract(isodow FROM g.hour AT TIME ZONE CAST($4 AS text)) AS int) AS weekday
FROM grid AS g
JOIN events AS ev ON ev.machine = g.machine AND ev.hour = g.hour
JOIN reach AS r ON r.machine = g.machine
LEFT JOIN LATERAL (
    SELECT s.state FROM machine_states AS s
    WHERE s.machine = g.machine AND s.ts <= g.hour + INTERVAL '1 hour'
    ORDER BY s.ts DESC LIMIT 1
) AS st ON true
LEFT JOIN LATERAL (
    SELECT c.order_key FROM machine_counters AS c
    WHERE c.machine = g.machine AND c.order_key IS NOT NULL
      AND c.ts < g.hour + INTERVAL '1 hour' AND c.ts >= g.hour - INTERVAL '23 hours'
    ORDER BY c.ts DESC LIMIT 1
) AS o ON true
LEFT JOIN LATERAL (
    SELECT o2.product FROM analytics_src.sc2 AS o2 WHERE o2.order_key = o.order_key
    ORDER BY o2.recno LIMIT 1
) AS p ON true
ORDER BY g.hour, g.machine
"""
"""Machine-hours of [$1, $2) (hour-aligned) with samples in their last 8 hours: telemetry
statistics (telemetry_samples), state entries (machine_states: a `fault` or `stopped` row whose
previous row is another state; looked back $5, ahead $3 hours for the label), anomaly events
(anomaly_events, when detected: detail.detectedAt, else started_at), the state at the hour's end, the product of the latest
counter's order in the last 24 hours (machine_counters -> analytics_src.sc2, any branch), the
machine's last data (machines.last_seen, machine_states), the plant-local hour ($4 the zone)."""


@dataclass
class MachineHour:
    """One machine's hour as the model sees it (observed at the hour's end)."""

    machine: str
    hour: dt.datetime
    features: dict[str, float | None] = field(default_factory=dict)
    product: str | None = None
    # 1 fault within the horizon, 0 none; None when the horizon is not wholly observed or the
    # machine is in fault
    label: int | None = None
    in_fault: bool = False  # the machine is in fault at the hour's end
    next_fault: dt.datetime | None = None  # the first fault entry within the horizon

    @property
    def as_of(self) -> dt.datetime:
        return self.hour + HOUR


def floor_hour(value: dt.datetime) -> dt.datetime:
    return EPOCH + (value - EPOCH) // HOUR * HOUR


def ceil_hour(value: dt.datetime) -> dt.datetime:
    floor = floor_hour(value)
    return floor if floor == value else floor + HOUR


def _number(value: object) -> float | None:
    if value is None:
        return None
    number = float(value)  # type: ignore[arg-type]
    return number if math.isfinite(number) else None


def machine_hour(record: asyncpg.Record, *, horizon_h: int) -> MachineHour:
    """A row of MACHINE_HOURS as a MachineHour (features by name, label decided)."""
    features: dict[str, float | None] = {}
    for metric, stats in zip(record["metrics"], record["stats"], strict=True):
        for name, value in zip(METRIC_STATS, stats, strict=True):
            features[f"{metric}_{name}"] = _number(value)
    hour: dt.datetime = record["hour"]
    as_of = hour + HOUR
    last_fault = record["last_fault"]
    for name in EVENT_FEATURES:
        if name == "hours_since_fault":
            features[name] = (
                (as_of - last_fault).total_seconds() / 3600 if last_fault is not None else None
            )
        else:
            features[name] = float(record[name])
    for name in STATE_FEATURES:
        features[name] = _number(record[name])
    angle = 2 * math.pi * record["local_hour"] / 24
    features["hour_sin"] = math.sin(angle)
    features["hour_cos"] = math.cos(angle)
    features["weekday"] = float(record["weekday"])
    in_fault = record["state_at_end"] == "fault"
    next_fault = record["next_fault"]
    data_end = record["data_end"]
    label: int | None
    if in_fault or data_end is None or data_end < as_of + dt.timedelta(hours=horizon_h):
        label = None  # in fault, or the horizon is not wholly observed (positive or not)
    else:
        label = 1 if next_fault is not None else 0
    return MachineHour(
        machine=record["machine"],
        hour=hour,
        features=features,
        product=record["product"],
        label=label,
        in_fault=in_fault,
        next_fault=next_fault,
    )


def observed(rows: Sequence[MachineHour], end: dt.datetime, horizon_h: int) -> list[MachineHour]:
    """The rows whose label horizon (as_of to as_of + horizon_h) ends by `end`: a training set
    purged of the rows whose labels look past it (into held-out hours after it, or past the
    window asked for)."""
    horizon = dt.timedelta(hours=horizon_h)
    return [r for r in rows if r.as_of + horizon <= end]


async def machine_hours(
    pool: asyncpg.Pool,
    settings: Settings,
    start: dt.datetime,
    end: dt.datetime,
    *,
    horizon_h: int | None = None,
) -> list[MachineHour]:
    """Every machine-hour of [start, end) (widened to whole hours) with samples in its last
    8 hours, oldest first, with its features and label (horizon: RISK_HORIZON_H unless given)."""
    horizon = settings.risk.horizon_h if horizon_h is None else horizon_h
    first, stop = floor_hour(start), ceil_hour(end)
    if stop <= first:
        return []
    async with pool.acquire() as conn:
        records: Sequence[asyncpg.Record] = await conn.fetch(
            MACHINE_HOURS,
            first,
            stop,
            horizon,
            settings.plant_timezone,
            FAULT_LOOKBACK,
            RUN_SETTLE,
        )
    return [machine_hour(r, horizon_h=horizon) for r in records]

-- Failure risk (issue 16): the models trained by `python -m services.analytics.risk train`
-- (versioned blobs with their model card) and the latest score of each machine, written by
-- the analytics service's risk job, with the state of its risk alert (alert_outbox, 0026).

-- One row per trained model. `blob` is the fitted scikit-learn estimator as joblib wrote it
-- (only this project writes it: it is unpickled, so never load rows from elsewhere); `card`
-- says what it was trained on and how it measured (features, window, rows, positives,
-- validation figures of each candidate algorithm). At most one is active: the scorer's.
CREATE TABLE risk_models (
    version    TEXT PRIMARY KEY,             -- UTC time of training + short hash of the blob
    trained_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    algorithm  TEXT NOT NULL,                -- gradient_boosting | logistic_regression
    card       JSONB NOT NULL,
    blob       BYTEA NOT NULL,
    active     BOOLEAN NOT NULL DEFAULT false
);
CREATE UNIQUE INDEX risk_models_one_active ON risk_models (active) WHERE active;

-- The latest score per machine: the hour scored (its start, UTC-aligned), the probability of
-- a `fault` within the model's horizon, the features that raise it most, and whether a risk
-- alert is open (opened at RISK_ALERT, closed below RISK_ALERT - RISK_ALERT_HYSTERESIS).
CREATE TABLE machine_risk (
    machine       TEXT PRIMARY KEY,
    hour          TIMESTAMPTZ NOT NULL,
    risk          DOUBLE PRECISION NOT NULL CHECK (risk >= 0 AND risk <= 1),
    top_features  JSONB NOT NULL DEFAULT '[]',
    model_version TEXT NOT NULL REFERENCES risk_models (version),
    scored_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    alert_open    BOOLEAN NOT NULL DEFAULT false
);
CREATE INDEX machine_risk_rank ON machine_risk (risk DESC, machine);

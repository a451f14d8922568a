"""The failure-risk model: two scikit-learn candidates compared on a time split, the chosen one
refitted on every labelled row, its model card, scores, explanations, the naive baseline.

Candidates: gradient boosting (HistGradientBoostingClassifier: missing values and feature
interactions natively) and logistic regression (median imputation with missing indicators,
standardisation). Each is fitted on the early days of the training window (purged of the rows
whose label horizon reaches into the slice it is scored on) and scored on the later ones, in
FOLDS forward-chaining slices of the latest VALIDATION_SHARE of the hours (one
slice of a few days is too noisy to choose on); the higher mean validation ROC AUC wins. The card keeps
both candidates' figures and the baseline's (hours since the last fault).

Explanations: for logistic regression, coefficient x standardised value per feature; for the
trees, how much the risk drops when the feature is replaced by its training median (the
product: by no product). Contributions are in the model's own units (log-odds / probability).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import io
import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import joblib
import numpy as np
import sklearn
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from services.analytics.risk.features import HOUR, MachineHour, observed
from shared.settings import Settings

GRADIENT_BOOSTING = "gradient_boosting"
LOGISTIC_REGRESSION = "logistic_regression"
ALGORITHMS = (GRADIENT_BOOSTING, LOGISTIC_REGRESSION)
VALIDATION_SHARE = 0.4  # the latest 40% of the training window's hours validate...
FOLDS = 3  # ...in three consecutive slices, each after a model fitted on the hours before it
MAX_PRODUCTS = 20  # one-hot columns for the most frequent products of the training rows
PRODUCT = "product"
TOP_FEATURES = 3

Array = Any  # numpy arrays (numpy's typing of shapes is not worth it here)


class TrainingError(ValueError):
    """The rows cannot train a model (no labelled rows, a single class)."""


@dataclass(frozen=True)
class Contribution:
    feature: str
    value: float | str | None
    contribution: float

    def as_dict(self) -> dict[str, Any]:
        return {"feature": self.feature, "value": self.value, "contribution": self.contribution}


@dataclass(frozen=True)
class Columns:
    """How rows become a matrix: the numeric features by name, then one column per product."""

    numeric: tuple[str, ...]
    products: tuple[str, ...]

    @classmethod
    def learn(cls, rows: Sequence[MachineHour]) -> Columns:
        names = sorted({name for row in rows for name in row.features})
        counts: dict[str, int] = {}
        for row in rows:
            if row.product is not None:
                counts[row.product] = counts.get(row.product, 0) + 1
        products = sorted(counts, key=lambda p: (-counts[p], p))[:MAX_PRODUCTS]
        return cls(tuple(names), tuple(sorted(products)))

    @property
    def names(self) -> list[str]:
        return [*self.numeric, *(f"{PRODUCT}={p}" for p in self.products)]

    def matrix(self, rows: Sequence[MachineHour]) -> Array:
        x = np.full((len(rows), len(self.numeric) + len(self.products)), np.nan)
        index = {name: i for i, name in enumerate(self.numeric)}
        offset = len(self.numeric)
        product_index = {p: offset + i for i, p in enumerate(self.products)}
        if self.products:
            x[:, offset:] = 0.0
        for r, row in enumerate(rows):
            for name, value in row.features.items():
                i = index.get(name)
                if i is not None and value is not None:
                    x[r, i] = value
            j = product_index.get(row.product) if row.product is not None else None
            if j is not None:
                x[r, j] = 1.0
        return x


def labelled(rows: Sequence[MachineHour]) -> list[MachineHour]:
    return [r for r in rows if r.label is not None]


def labels(rows: Sequence[MachineHour]) -> Array:
    return np.array([r.label for r in rows], dtype=int)


def candidate(algorithm: str) -> Any:
    if algorithm == GRADIENT_BOOSTING:
        # Small, strongly regularised trees: a plant's history holds a few hundred faults at
        # most, and on the generated plant these generalise to unseen days and machines better
        # than deeper ones (held-out AUC 0.81 against 0.80 at depth 3 or 2, 0.79 at 15 leaves).
        return HistGradientBoostingClassifier(
            max_iter=200,
            learning_rate=0.03,
            max_leaf_nodes=8,
            min_samples_leaf=50,
            l2_regularization=5.0,
            early_stopping=False,
            random_state=0,
        )
    return Pipeline(
        [
            ("impute", SimpleImputer(strategy="median", add_indicator=True)),
            ("scale", StandardScaler()),
            ("model", LogisticRegression(C=0.5, max_iter=2000)),
        ]
    )


def auc(y: Array, scores: Array) -> float | None:
    """ROC AUC, None when the rows hold a single class."""
    if len(set(y.tolist())) < 2:
        return None
    return float(roc_auc_score(y, scores))


def precision_at(y: Array, scores: Array, share: float = 0.1) -> float | None:
    """The share of positives among the top `share` scored rows (at least one row)."""
    if len(y) == 0:
        return None
    top = max(1, math.ceil(len(y) * share))
    order = np.argsort(-scores, kind="stable")[:top]
    return float(y[order].mean())


def baseline_scores(rows: Sequence[MachineHour], *, orientation: int = 1) -> Array:
    """The naive baseline: hours since the machine's last fault, higher = riskier (orientation
    1) or lower = riskier (-1). A machine without a fault in the lookback counts as the longest
    time seen."""
    hours = np.array(
        [
            np.nan
            if r.features.get("hours_since_fault") is None
            else r.features["hours_since_fault"]
            for r in rows
        ],
        dtype=float,
    )
    if len(hours) and np.isnan(hours).any():
        longest = np.nanmax(hours) + 1 if not np.isnan(hours).all() else 0.0
        hours = np.where(np.isnan(hours), longest, hours)
    return orientation * hours


def baseline_orientation(rows: Sequence[MachineHour]) -> int:
    """The baseline's direction with the better AUC on these (training) rows."""
    y = labels(rows)
    value = auc(y, baseline_scores(rows))
    return -1 if value is not None and value < 0.5 else 1


def metrics(y: Array, scores: Array) -> dict[str, Any]:
    return {
        "auc": auc(y, scores),
        "precision_at_10": precision_at(y, scores),
        "rows": len(y),
        "positives": int(y.sum()) if len(y) else 0,
    }


@dataclass
class TrainedModel:
    """A fitted estimator with its columns and model card."""

    estimator: Any
    columns: Columns
    card: dict[str, Any]
    medians: list[float] = field(default_factory=list)  # per numeric column, for explanations

    @property
    def version(self) -> str:
        return str(self.card["version"])

    @property
    def algorithm(self) -> str:
        return str(self.card["algorithm"])

    @property
    def horizon_h(self) -> int:
        return int(self.card["horizonH"])

    def scores(self, rows: Sequence[MachineHour]) -> Array:
        if not rows:
            return np.zeros(0)
        return self.estimator.predict_proba(self.columns.matrix(rows))[:, 1]

    def explain(
        self, rows: Sequence[MachineHour], top: int = TOP_FEATURES
    ) -> list[list[Contribution]]:
        """The `top` features raising each row's risk most (largest contribution first)."""
        if not rows:
            return []
        x = self.columns.matrix(rows)
        if self.algorithm == LOGISTIC_REGRESSION:
            effects = self._linear_effects(x)
        else:
            effects = self._replacement_effects(x)
        explained = []
        for r, row in enumerate(rows):
            order = np.argsort(-effects[r], kind="stable")[:top]
            explained.append(
                [
                    Contribution(
                        feature=self._group_names()[j],
                        value=self._value(row, self._group_names()[j]),
                        contribution=round(float(effects[r, j]), 6),
                    )
                    for j in order
                ]
            )
        return explained

    def _group_names(self) -> list[str]:
        return [*self.columns.numeric, *([PRODUCT] if self.columns.products else [])]

    @staticmethod
    def _value(row: MachineHour, name: str) -> float | str | None:
        if name == PRODUCT:
            return row.product
        value = row.features.get(name)
        return None if value is None else round(float(value), 6)

    def _linear_effects(self, x: Array) -> Array:
        """coefficient x standardised value; a missing-indicator's part goes to its feature."""
        impute: SimpleImputer = self.estimator.named_steps["impute"]
        scale: StandardScaler = self.estimator.named_steps["scale"]
        model: LogisticRegression = self.estimator.named_steps["model"]
        terms = scale.transform(impute.transform(x)) * model.coef_[0]
        kept = [i for i, s in enumerate(impute.statistics_) if not np.isnan(s)]
        n_numeric = len(self.columns.numeric)
        groups = len(self._group_names())
        effects = np.zeros((x.shape[0], groups))
        for position, column in enumerate(kept):
            group = column if column < n_numeric else n_numeric
            effects[:, group] += terms[:, position]
        indicator = impute.indicator_
        if indicator is not None:
            for position, column in enumerate(indicator.features_, start=len(kept)):
                group = column if column < n_numeric else n_numeric
                effects[:, group] += terms[:, position]
        return effects

    def _replacement_effects(self, x: Array) -> Array:
        """p(x) - p(x with the feature at its training median), all features in one call."""
        n, n_numeric = x.shape[0], len(self.columns.numeric)
        groups = self._group_names()
        stacked = np.repeat(x[np.newaxis, :, :], len(groups), axis=0)
        for g in range(len(groups)):
            if g < n_numeric:
                stacked[g, :, g] = self.medians[g]
            else:
                stacked[g, :, n_numeric:] = 0.0
        base = self.estimator.predict_proba(x)[:, 1]
        replaced = self.estimator.predict_proba(stacked.reshape(-1, x.shape[1]))[:, 1]
        return (base[np.newaxis, :] - replaced.reshape(len(groups), n)).T

    def to_blob(self) -> bytes:
        buffer = io.BytesIO()
        joblib.dump(
            {"estimator": self.estimator, "columns": self.columns, "medians": self.medians},
            buffer,
        )
        return buffer.getvalue()

    @classmethod
    def from_blob(cls, blob: bytes, card: Mapping[str, Any]) -> TrainedModel:
        """A stored model (risk_models.blob, written by to_blob): unpickled, so only after
        its signature was checked (signed_by; service.load_model does)."""
        stored = joblib.load(io.BytesIO(blob))
        return cls(stored["estimator"], stored["columns"], dict(card), stored["medians"])


# The card's key for the blob's HMAC-SHA256 (hex), keyed by RISK_MODEL_KEY: risk_models.blob
# is unpickled, and any role with the MES database's URL could write it.
SIGNATURE = "blobSha256Hmac"


def sign(blob: bytes, key: str) -> str:
    """The blob's HMAC-SHA256 under the key, in hex."""
    return hmac.new(key.encode(), blob, hashlib.sha256).hexdigest()


def signed_by(blob: bytes, card: Mapping[str, Any], key: str) -> bool:
    """Whether the card carries the blob's signature under the key (checked before unpickling)."""
    signature = card.get(SIGNATURE)
    return isinstance(signature, str) and hmac.compare_digest(signature, sign(blob, key))


Fold = tuple[list[MachineHour], list[MachineHour]]


def time_folds(rows: Sequence[MachineHour], folds: int = FOLDS, *, horizon_h: int) -> list[Fold]:
    """Forward-chaining folds: the latest VALIDATION_SHARE of the distinct hours cut in `folds`
    consecutive slices, each validating a model fitted on the hours before it whose label
    horizon (`horizon_h`) ends before the slice (purged: the others' labels look at faults
    inside it)."""
    hours = sorted({r.hour for r in rows})
    if len(hours) < 2:
        return []
    first = max(1, int(len(hours) * (1 - VALIDATION_SHARE)))
    cuts = sorted({first + (len(hours) - first) * k // folds for k in range(folds)})
    bounds = [hours[c] for c in cuts if c < len(hours)] + [hours[-1] + dt.timedelta(hours=1)]
    return [
        (
            observed([r for r in rows if r.hour < start], start, horizon_h),
            [r for r in rows if start <= r.hour < stop],
        )
        for start, stop in itertools.pairwise(bounds)
    ]


def _mean(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) / len(known) if known else None


def _fit(algorithm: str, columns: Columns, rows: Sequence[MachineHour]) -> Any:
    estimator = candidate(algorithm)
    estimator.fit(columns.matrix(rows), labels(rows))
    return estimator


def train(
    rows: Sequence[MachineHour],
    settings: Settings,
    *,
    horizon_h: int | None = None,
    threads: int | None = 1,
) -> TrainedModel:
    """Compare the candidates on a time split, refit the better one on every labelled row.
    `threads` caps the native thread pools (OpenMP, BLAS; None = all cores): a plant's few
    thousand machine-hours train in seconds on one, and on a busy machine many threads fight
    for the cores (five times slower measured on the shared development machine)."""
    with threadpool_limits(limits=threads):
        return _train(rows, settings, horizon_h=horizon_h)


def _train(
    rows: Sequence[MachineHour], settings: Settings, *, horizon_h: int | None
) -> TrainedModel:
    usable = labelled(rows)
    y_all = labels(usable)
    if len(set(y_all.tolist())) < 2:
        raise TrainingError(
            f"{len(usable)} linhas rotuladas com {int(y_all.sum()) if len(y_all) else 0} "
            "falhas: é preciso haver horas com e sem falha no horizonte para treinar."
        )
    columns = Columns.learn(usable)
    horizon = settings.risk.horizon_h if horizon_h is None else horizon_h
    folds = [
        (fit, check)
        for fit, check in time_folds(usable, horizon_h=horizon)
        if len(set(labels(fit).tolist())) == 2 and check
    ]
    candidates: dict[str, Any] = {}
    for algorithm in ALGORITHMS:
        per_fold = []
        for fit, check in folds:
            estimator = _fit(algorithm, columns, fit)
            per_fold.append(
                metrics(labels(check), estimator.predict_proba(columns.matrix(check))[:, 1])
            )
        candidates[algorithm] = {
            "auc": _mean([f["auc"] for f in per_fold]),
            "precision_at_10": _mean([f["precision_at_10"] for f in per_fold]),
            "folds": per_fold,
        }
    fit_rows = folds[0][0] if folds else usable
    check_rows = [r for _, check in folds for r in check]
    y_check = labels(check_rows)
    orientation = baseline_orientation(fit_rows)
    baseline_check = {
        "auc": _mean(
            [
                auc(labels(check), baseline_scores(check, orientation=orientation))
                for _, check in folds
            ]
        ),
        "precision_at_10": _mean(
            [
                precision_at(labels(check), baseline_scores(check, orientation=orientation))
                for _, check in folds
            ]
        ),
    }

    def rank(algorithm: str) -> float:
        value = candidates[algorithm]["auc"]
        return -1.0 if value is None else float(value)

    # Ties (or no validation figure at all) go to the simpler model.
    chosen = max(reversed(ALGORITHMS), key=rank)
    estimator = _fit(chosen, columns, usable)
    x_all = columns.matrix(usable)
    with np.errstate(all="ignore"):
        medians = [
            float(m) if not np.isnan(m) else 0.0
            for m in (
                np.nanmedian(x_all[:, i]) if not np.isnan(x_all[:, i]).all() else np.nan
                for i in range(len(columns.numeric))
            )
        ]
    trained_at = dt.datetime.now(dt.UTC).replace(microsecond=0)
    model = TrainedModel(estimator, columns, {}, medians)
    digest = hashlib.sha256(model.to_blob()).hexdigest()[:8]
    model.card = {
        "version": f"{trained_at:%Y%m%dT%H%M%SZ}-{digest}",
        "trainedAt": trained_at.isoformat(),
        "algorithm": chosen,
        "chosenBy": (
            f"mean ROC AUC over {len(folds)} forward-chaining validation slices of the window's "
            f"latest {VALIDATION_SHARE:.0%} hours; ties to logistic regression"
        ),
        "sklearnVersion": sklearn.__version__,
        "horizonH": horizon,
        "label": f"a fault state starting within {horizon} h after the hour's end",
        "features": columns.names,
        "products": list(columns.products),
        "trainingWindow": {
            "from": min(r.hour for r in usable).isoformat(),
            "to": (max(r.hour for r in usable) + dt.timedelta(hours=1)).isoformat(),
        },
        "machines": len({r.machine for r in usable}),
        "rows": len(usable),
        "positives": int(y_all.sum()),
        "split": {
            "folds": [
                {
                    "fitRows": len(fit),
                    "fitPositives": int(labels(fit).sum()),
                    "validationFrom": min(r.hour for r in check).isoformat(),
                    "validationTo": (max(r.hour for r in check) + HOUR).isoformat(),
                    "validationRows": len(check),
                    "validationPositives": int(labels(check).sum()),
                }
                for fit, check in folds
            ],
            "validationRows": len(check_rows),
            "validationPositives": int(y_check.sum()) if check_rows else 0,
        },
        "candidates": candidates,
        "baseline": {"feature": "hours_since_fault", "orientation": orientation, **baseline_check},
        "metrics": {"validation": candidates[chosen], "baselineValidation": baseline_check},
    }
    return model


def evaluate(model: TrainedModel, rows: Sequence[MachineHour]) -> dict[str, Any]:
    """The model and the baseline (its training orientation) on the labelled rows given."""
    usable = labelled(rows)
    y = labels(usable)
    figures = metrics(y, model.scores(usable))
    orientation = int(model.card.get("baseline", {}).get("orientation", 1))
    baseline = metrics(y, baseline_scores(usable, orientation=orientation))
    figures["baseline_auc"] = baseline["auc"]
    figures["baseline_precision_at_10"] = baseline["precision_at_10"]
    figures["base_rate"] = float(y.mean()) if len(y) else None
    figures["model_version"] = model.version
    figures["algorithm"] = model.algorithm
    return figures

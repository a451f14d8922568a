"""The risk job's resource: every RISK_INTERVAL_S seconds, score each machine's last complete
hour with the active model (machine_risk) and queue the alerts of risks crossing RISK_ALERT
(alert_outbox), when ANALYTICS_ENABLED. Without an active model it scores nothing and says so
on /readyz."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Callable

import asyncpg
from aiohttp import web

from services.analytics.jobs import JobMetrics, PeriodicJob, RunResult, running_job
from services.analytics.keys import JOB_METRICS, JOBS
from services.analytics.risk.features import HOUR
from services.analytics.risk.service import ModelCache, score_current, scored_hour
from shared.keys import MES_POOL, SETTINGS
from shared.settings import Settings

JOB = "risk"
# An hour is rescored until this long after it ended (anomalies of its last seconds reach
# the database within ANOMALY_LAG_S + ANOMALY_INTERVAL_S); then its features no longer change.
SETTLE = dt.timedelta(minutes=2)
NO_MODEL = "nenhum modelo ativo: treine com python -m services.analytics.risk train"
REFUSED = (
    "modelo ativo {version} recusado: assinatura inválida para RISK_MODEL_KEY (treine de novo "
    "com python -m services.analytics.risk train)"
)


class RiskJob(PeriodicJob):
    """The periodic scorer; its status names the model in use (or its absence)."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        settings: Settings,
        metrics: JobMetrics,
        *,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        super().__init__(JOB, settings.risk.interval_s, pool, self.score, metrics)
        self.settings = settings
        self.models = ModelCache(settings.risk.model_key)
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))
        # (model version, hour) scored once its features were final: the runs until the next
        # hour ends would only compute the same features and scores again.
        self.settled: tuple[str, dt.datetime] | None = None

    async def score(self) -> RunResult:
        model = await self.models.active(self.pool)
        if model is None:
            return {}
        now = self.clock()
        hour = scored_hour(now)
        if self.settled == (model.version, hour):
            return {}
        rows = await score_current(self.pool, self.settings, model, now=now)
        if now - (hour + HOUR) >= SETTLE:
            self.settled = (model.version, hour)
        return rows

    def status(self) -> dict[str, object]:
        status = super().status()
        model = self.models.model
        status["model"] = model.version if model is not None else None
        if model is None and self.models.refused is not None:
            status["note"] = REFUSED.format(version=self.models.refused)
        elif model is None and self.runs:
            status["note"] = NO_MODEL
        return status


async def risk_job(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    if not settings.analytics.enabled:
        yield
        return
    job = RiskJob(app[MES_POOL], settings, app[JOB_METRICS])
    async with running_job(app[JOBS], job):
        yield

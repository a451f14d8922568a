"""The analytics service as it runs: its app starts, answers /healthz, /readyz and /metrics
and its API (anomalies), runs the dimension sync as a job, and is part of `make run`'s
composed app."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from deploy.stack import SERVICES, start_service
from deploy.supervisor import Supervisor, free_port
from services.analytics.app import create_app
from services.analytics.keys import JOBS
from services.analytics.sync.job import JOB
from shared.keys import HEALTH_CHECKS, SETTINGS
from shared.settings import AnalyticsSettings, ConfigError
from tests.support.analytics import BI_PASSWORD, analytics_settings


async def test_the_service_starts_runs_its_sync_job_and_reports_it(
    analytics_app: Any, mes_dsn: str
) -> None:
    client = await analytics_app(
        analytics=AnalyticsSettings(enabled=True, sync_min=60, bi_password=BI_PASSWORD)
    )
    assert (await client.get("/healthz")).status == 200
    job = client.app[JOBS][JOB]
    await asyncio.wait_for(job.succeeded.wait(), 30)  # the first run starts with the app
    await asyncio.wait_for(client.app[JOBS]["risk"].succeeded.wait(), 30)
    ready = await client.get("/readyz")
    assert ready.status == 200
    body = await ready.json()
    text = str(body)
    assert "analytics_jobs" in text
    assert "dimension_sync" in text
    assert job.last_rows["orders"] > 0

    metrics = await (await client.get("/metrics")).text()
    assert 'analytics_job_last_success_timestamp{job="dimension_sync"}' in metrics
    assert 'analytics_rows_total{dataset="orders",job="dimension_sync"}' in metrics
    assert "analytics_job_duration_seconds_count" in metrics

    # Its API: what the jobs compute, with its OpenAPI document.
    paths = {resource.canonical for resource in client.app.router.resources()}
    assert {"/healthz", "/readyz", "/metrics", "/api/v1/analytics/openapi.json"} <= paths
    assert {"/api/v1/anomalies", "/api/v1/machines/{machine}/anomalies"} <= paths
    assert "anomalies" in client.app[JOBS]
    assert "alert_publisher" in text
    # The risk job runs too; without a trained model it scores nothing and says so.
    risk = body["data"]["checks"]["analytics_jobs"]["risk"]
    assert risk["model"] is None
    assert "train" in risk["note"]
    assert {"/api/v1/machines/{machine}/risk", "/api/v1/maintenance/risk"} <= paths


async def test_a_disabled_service_runs_no_job(analytics_app: Any) -> None:
    client = await analytics_app()  # ANALYTICS_ENABLED=false in the tests' settings
    assert client.app[SETTINGS].analytics.enabled is False
    assert client.app[JOBS] == {}
    assert (await client.get("/readyz")).status == 200


def test_make_run_composes_the_analytics_service(demo_protheus_dsn: str) -> None:
    from devserver.launcher import compose_app

    app = compose_app(analytics_settings(demo_protheus_dsn, "postgresql://127.0.0.1/unused"))
    assert JOBS in app
    checks = {check.name for check in app[HEALTH_CHECKS]}
    assert {"analytics_jobs", "telemetry_ingestor", "mes_db", "protheus_db"} <= checks
    paths = {resource.canonical for resource in app.router.resources()}
    assert {"/api/v1/anomalies", "/api/v1/machines/{machine}/anomalies"} <= paths
    assert "/api/v1/analytics/openapi.json" in paths


def test_a_bad_shift_calendar_stops_the_service_before_it_opens_anything() -> None:
    settings = analytics_settings("postgresql://127.0.0.1/x", "postgresql://127.0.0.1/y")
    with pytest.raises(ConfigError) as raised:
        create_app(dataclasses.replace(settings, shift_calendar="mon-fri 25:00-26:00"))
    assert raised.value.variable == "SHIFT_CALENDAR"


def test_python_m_services_analytics_serves_as_make_stack_starts_it(
    demo_protheus_dsn: str, mes_dsn: str, tmp_path: Path
) -> None:
    """The process `make stack` and compose run: ready on its port, mes_bi's login set."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("MES_", "PROTHEUS_", "ANALYTICS_"))
    }
    env.update(
        {
            "MES_DB_URL": mes_dsn,
            "PROTHEUS_DB_URL": demo_protheus_dsn,
            "HTTP_HOST": "127.0.0.1",
            "ANALYTICS_BI_PASSWORD": BI_PASSWORD,
            "ANALYTICS_SYNC_MIN": "60",
        }
    )
    (spec,) = [s for s in SERVICES if s.name == "analytics"]
    supervisor = Supervisor()
    try:
        port = free_port()
        start_service(supervisor, spec, env, port=port, log=tmp_path / "analytics.log")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as answer:
            assert answer.status == 200
            assert b"dimension_sync" in answer.read()
    finally:
        supervisor.stop()

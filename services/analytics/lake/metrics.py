"""The lake's Prometheus figures: lake_lag_seconds{dataset} (now minus the newest exported
timestamp, computed at scrape time) and lake_last_run_timestamp."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Gauge
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector


class LakeMetrics(Collector):
    def __init__(self, registry: CollectorRegistry) -> None:
        self.newest: dict[str, float] = {}  # dataset -> newest exported timestamp (Unix)
        self.last_run = Gauge(
            "lake_last_run_timestamp",
            "Unix time the lake export last finished a run without error.",
            registry=registry,
        )
        registry.register(self)

    def update(self, newest: dict[str, dt.datetime | None]) -> None:
        for dataset, value in newest.items():
            if value is not None:
                self.newest[dataset] = value.timestamp()
        self.last_run.set_to_current_time()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "lake_lag_seconds",
            "Seconds between now and the newest data the lake holds, per dataset.",
            labels=["dataset"],
        )
        now = time.time()
        for dataset, newest in sorted(self.newest.items()):
            family.add_metric([dataset], max(0.0, now - newest))
        yield family

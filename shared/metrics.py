"""Prometheus metrics (prometheus_client): one registry per app, request counts and latency."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)


class HttpMetrics:
    """Request counts by route and status, and latency histograms by route."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "http_requests_total",
            "HTTP requests answered, by route and status.",
            ("method", "route", "status"),
            registry=registry,
        )
        self.latency = Histogram(
            "http_request_duration_seconds",
            "Time to answer an HTTP request, by route.",
            ("method", "route"),
            registry=registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)


HTTP_METRICS = web.AppKey("http_metrics", HttpMetrics)


async def metrics_handler(request: web.Request) -> web.Response:
    """GET /metrics: the app's registry in the Prometheus text format."""
    from shared.keys import METRICS

    body = generate_latest(request.app[METRICS])
    response = web.Response(body=body)
    response.content_type = CONTENT_TYPE_LATEST.split(";")[0]
    response.charset = "utf-8"
    return response

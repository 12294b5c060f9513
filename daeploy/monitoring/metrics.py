"""``GET /~metrics``: what any Prometheus scrapes, from the official client library.

Per entrypoint: calls by status code, failures, and a latency histogram; and the last value of
every numeric variable the service stored (``service.store``, ``add_parameter(monitor=True)``),
as a gauge, set by the monitoring store's writer (a scrape flushes it first, so it is current).
Each Service has a registry of its own, so two in one process (tests) never share counts.
Scraping needs the right to call the service, like any other path (a bearer token).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client import generate_latest as render
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from daeploy.contract import METRICS_PATH

# From 1 ms: a warm entrypoint answers in a few; up to 10 s: a call_service chain may wait.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class StoredValues(Collector):
    """The last number stored under each variable name."""

    def __init__(self) -> None:
        self._values: dict[str, float] = {}
        self._lock = threading.Lock()

    def update(self, values: dict[str, Any]) -> None:
        self.update_all([values])

    def update_all(self, batch: list[dict[str, Any]]) -> None:
        """Values as stored, oldest first (the monitoring store's writer hands a batch)."""
        numbers = {
            name: float(value)
            for values in batch
            for name, value in values.items()
            if isinstance(value, int | float) and not isinstance(value, bool)
        }
        if numbers:
            with self._lock:
                self._values.update(numbers)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "daeploy_stored_value",
            "Last numeric value stored under each variable (service.store, monitor=True).",
            labels=["variable"],
        )
        with self._lock:
            for name, value in sorted(self._values.items()):
                family.add_metric([name], value)
        yield family


class ServiceMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.calls = Counter(
            "daeploy_entrypoint_calls",
            "Entrypoint calls by entrypoint and HTTP status code.",
            ["entrypoint", "code"],
            registry=self.registry,
        )
        self.failures = Counter(
            "daeploy_entrypoint_failures",
            "Entrypoint calls that raised: an HTTPException of 5xx or any other exception.",
            ["entrypoint"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "daeploy_entrypoint_duration_seconds",
            "Time inside the entrypoint function, by entrypoint.",
            ["entrypoint"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.stored = StoredValues()
        self.registry.register(self.stored)

    def record(self, entrypoint: str, code: int, seconds: float) -> None:
        self.calls.labels(entrypoint, str(code)).inc()
        self.latency.labels(entrypoint).observe(seconds)
        if code >= 500:
            self.failures.labels(entrypoint).inc()


def add_metrics_route(
    app: FastAPI, metrics: ServiceMetrics, before: Callable[[], Any] | None = None
) -> None:
    """``before`` runs ahead of each scrape: the store's flush, as its writer sets the gauges."""

    @app.get(METRICS_PATH, tags=["Monitoring"], include_in_schema=False)
    def scrape() -> Response:
        if before is not None:
            before()
        return Response(render(metrics.registry), media_type=CONTENT_TYPE_LATEST)

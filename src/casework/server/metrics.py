"""Prometheus metrics: the HTTP API's requests and their latency, by route and status;
and, read from the database at each scrape, what waits for the workers (jobs by status,
due jobs and how late the oldest is, search documents behind).

Each app has its own registry (tests build many apps in one process). Labels use the
route template (`/api/v1/users/{username}`), never the path, so ids do not explode the
number of series; requests that match no route share the label `unmatched`.

With several worker processes (`casework serve --workers N`), each keeps its own
counters; `casework serve` then sets PROMETHEUS_MULTIPROC_DIR and /metrics adds up the
files every process writes there (prometheus_client's multiprocess mode).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from casework.services.backlog import Backlog

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "casework_http_requests",
            "HTTP requests handled, by method, route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "casework_http_request_duration_seconds",
            "Time to handle an HTTP request, by method and route template.",
            ["method", "route"],
            buckets=BUCKETS,
            registry=self.registry,
        )

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)

    def render(self, backlog: Backlog | None = None) -> tuple[bytes, str]:
        """The exposition text and its content type; with the backlog's gauges when
        given (they are the database's, the same from every process)."""
        if os.environ.get(MULTIPROC_ENV):
            registry = CollectorRegistry()
            MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # untyped upstream
            body = generate_latest(registry)
        else:
            body = generate_latest(self.registry)
        if backlog is not None:
            gauges = CollectorRegistry()
            gauges.register(_BacklogGauges(backlog))
            body += generate_latest(gauges)
        return body, CONTENT_TYPE_LATEST


class _BacklogGauges(Collector):
    def __init__(self, backlog: Backlog) -> None:
        self.backlog = backlog

    def collect(self) -> Iterator[Metric]:
        jobs = GaugeMetricFamily(
            "casework_jobs", "Jobs by status (finished ones are not counted).", labels=["status"]
        )
        for status, count in sorted(self.backlog.jobs.items()):
            jobs.add_metric([status], count)
        yield jobs
        yield GaugeMetricFamily(
            "casework_jobs_due",
            "Pending jobs whose time has come: what the workers should be running now.",
            value=self.backlog.due,
        )
        yield GaugeMetricFamily(
            "casework_jobs_oldest_due_seconds",
            "How long the oldest due job has waited (0 when none is due).",
            value=self.backlog.oldest_due_seconds,
        )
        yield GaugeMetricFamily(
            "casework_search_documents_behind",
            "Cases whose search document waits for a batch (the worker's or a search's).",
            value=self.backlog.search_behind,
        )

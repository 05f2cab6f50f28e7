"""Prometheus metrics: one registry per application, scraped at `/metrics`.

Counters and histograms are updated where things happen (HTTP middleware,
submit route, runner); gauges that describe the whole system (queue depth,
oldest queued job) are read from Postgres when scraped, so every replica
reports the same truth.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

#: companies named in the queue gauges; the others are summed as `other`
TOP_COMPANIES = 20
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
DURATION_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        # the process (CPU, memory, open files) and the interpreter (GC, version)
        for collector in (PROCESS_COLLECTOR, GC_COLLECTOR, PLATFORM_COLLECTOR):
            r.register(collector)
        self.http_requests = Counter(
            "content_jobs_http_requests", "HTTP requests", ["method", "route", "status"], registry=r
        )
        self._counted: dict[tuple[str, str, int], Any] = {}
        self._timed: dict[tuple[str, str], Any] = {}
        self.http_latency = Histogram(
            "content_jobs_http_request_duration_seconds",
            "Time to answer a request (for streams: to its end)",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.jobs_submitted = Counter(
            "content_jobs_jobs_submitted", "Jobs accepted", ["job_type"], registry=r
        )
        self.jobs_started = Counter(
            "content_jobs_jobs_started", "Runs started by this replica", ["job_type"], registry=r
        )
        self.jobs_finished = Counter(
            "content_jobs_jobs_finished",
            "Runs ended by this replica, by outcome (done, failed, cancelled, shutdown)",
            ["job_type", "outcome"],
            registry=r,
        )
        self.job_duration = Histogram(
            "content_jobs_job_duration_seconds",
            "Run time of a job on this replica",
            ["job_type", "outcome"],
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.job_retries = Counter(
            "content_jobs_job_retries",
            "Failed attempts queued again with backoff, by type",
            ["job_type"],
            registry=r,
        )
        self.callback_deliveries = Counter(
            "content_jobs_callback_deliveries",
            "Completion callback attempts by outcome (delivered, retry, failed)",
            ["outcome"],
            registry=r,
        )
        self.queue_depth = Gauge(
            "content_jobs_queue_depth",
            f"Jobs ready to run, by company (the top {TOP_COMPANIES}; the rest as `other`)",
            ["company"],
            registry=r,
        )
        self.oldest_ready = Gauge(
            "content_jobs_oldest_ready_age_seconds",
            "How long the oldest ready job has waited, by company (as queue_depth)",
            ["company"],
            registry=r,
        )
        self.delayed = Gauge(
            "content_jobs_jobs_waiting_run_at", "Queued jobs whose runAt has not come", registry=r
        )

    def http_request(self, method: str, route: str, status: int, seconds: float | None) -> None:
        """Count a request (and time it, unless `seconds` is None). The labelled children are
        looked up once per (method, route, status) and kept: `labels()` takes a lock and
        builds a key on every call, which showed in the request profile."""
        key = (method, route, status)
        counter = self._counted.get(key)
        if counter is None:
            counter = self._counted[key] = self.http_requests.labels(method, route, str(status))
        counter.inc()
        if seconds is None:
            return
        timer = self._timed.get((method, route))
        if timer is None:
            timer = self._timed[(method, route)] = self.http_latency.labels(method, route)
        timer.observe(seconds)

    def queue_seen(self, stats: list[tuple[str, int, int, float]]) -> None:
        """Set the queue gauges from `Store.queue_stats`: label values stay bounded (the
        companies with the most ready jobs by name, the others summed as `other`)."""
        ranked = sorted(stats, key=lambda row: row[1], reverse=True)
        self.queue_depth.clear()
        self.oldest_ready.clear()
        for company, ready, _, oldest in ranked[:TOP_COMPANIES]:
            self.queue_depth.labels(company).set(ready)
            self.oldest_ready.labels(company).set(oldest)
        rest = ranked[TOP_COMPANIES:]
        if rest:
            self.queue_depth.labels("other").set(sum(row[1] for row in rest))
            self.oldest_ready.labels("other").set(max(row[3] for row in rest))
        self.delayed.set(sum(row[2] for row in stats))

    def watch(self, name: str, read: Callable[[], float], kind: str = "gauge") -> None:
        """Expose a value some component keeps (open streams, reconnects), read when scraped."""
        self.registry.register(_Reading(name, read, kind))

    def job_finished(self, job_type: str, outcome: str, seconds: float) -> None:
        self.jobs_finished.labels(job_type, outcome).inc()
        self.job_duration.labels(job_type, outcome).observe(seconds)


class _Reading(Collector):
    def __init__(self, name: str, read: Callable[[], float], kind: str) -> None:
        self._name, self._read, self._kind = name, read, kind

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily if self._kind == "counter" else GaugeMetricFamily
        yield family(self._name, self._name.replace("_", " "), value=self._read())

"""Prometheus metrics: one registry per application, scraped at `/metrics`.

Counters and histograms are updated where things happen (HTTP middleware,
submit route, runner); gauges that describe the whole system (queue depth,
oldest queued job) are read from Postgres when scraped, so every replica
reports the same truth: at most once per `QUEUE_STATS_MAX_AGE_SECONDS`, with concurrent
scrapes sharing one query (the query groups the whole queue; scrapers must not be able to
load the database by scraping often).

Company ids appear in labels only with `METRICS_COMPANY_LABELS=true`: a scrape is often
readable by more people than the job data, and a label per customer is a series per
customer. Off (the default), the queue gauges are one total for all companies (depth
summed, oldest age the maximum); dashboards written for the labelled form keep working
with `sum()` / `max()`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
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

from service import __version__

#: companies named in the queue gauges (with company labels on); the others are summed as `other`
TOP_COMPANIES = 20
#: the queue statistics are read again at most this often
QUEUE_STATS_MAX_AGE_SECONDS = 5.0
#: per company: (company, ready jobs, jobs waiting on run_at, oldest ready age)
QueueStats = list[tuple[str, int, int, float]]
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
DURATION_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600)
#: a schedule tick submitted later than this after its time counts as late
LATE_TICK_SECONDS = 1.0


class Metrics:
    def __init__(
        self,
        *,
        company_labels: bool = False,
        queue_max_age: float = QUEUE_STATS_MAX_AGE_SECONDS,
    ) -> None:
        self.company_labels = company_labels
        self.queue_max_age = queue_max_age
        #: the labelled children of the per-run metrics, by their labels: `labels()` costs a
        #: lock and a tuple of strings each time, three times per job on a worker's path
        self._started: dict[str, Any] = {}
        self._finished: dict[tuple[str, str], tuple[Any, Any]] = {}
        self._queue_read_at = float("-inf")
        self._queue_reading: asyncio.Future[None] | None = None
        self.registry = CollectorRegistry()
        r = self.registry
        # the process (CPU, memory, open files) and the interpreter (GC, version)
        for collector in (PROCESS_COLLECTOR, GC_COLLECTOR, PLATFORM_COLLECTOR):
            r.register(collector)
        # which release each replica runs (the usual `_info` gauge: always 1)
        build = Gauge("content_jobs_build_info", "The running version", ["version"], registry=r)
        build.labels(__version__).set(1)
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
        by_company = ["company"] if company_labels else []
        self.queue_depth = Gauge(
            "content_jobs_queue_depth",
            f"Jobs ready to run, by company (the top {TOP_COMPANIES}; the rest as `other`)"
            if company_labels
            else "Jobs ready to run, all companies",
            by_company,
            registry=r,
        )
        self.oldest_ready = Gauge(
            "content_jobs_oldest_ready_age_seconds",
            "How long the oldest ready job has waited, by company (as queue_depth)"
            if company_labels
            else "How long the oldest ready job has waited, all companies",
            by_company,
            registry=r,
        )
        self.delayed = Gauge(
            "content_jobs_jobs_waiting_run_at", "Queued jobs whose runAt has not come", registry=r
        )
        self.schedule_ticks = Counter(
            "content_jobs_schedule_ticks",
            "Schedule ticks this replica submitted a job for",
            registry=r,
        )
        self.schedule_late_ticks = Counter(
            "content_jobs_schedule_late_ticks",
            f"Ticks submitted more than {LATE_TICK_SECONDS:g} s after their time",
            registry=r,
        )
        self.schedule_tick_lateness = Histogram(
            "content_jobs_schedule_tick_lateness_seconds",
            "How long after its time each tick's job was submitted",
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.paused = Gauge(
            "content_jobs_job_type_paused",
            "1 for each job type an admin paused (read with the queue gauges)",
            ["job_type"],
            registry=r,
        )
        self.rate_limited_waits = Counter(
            "content_jobs_rate_limited_waits",
            "Idle waits of this replica's worker timed by a rate limit's window (a limited "
            "type held back)",
            registry=r,
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

    async def refresh_queue(self, read: Callable[[], Awaitable[QueueStats | None]]) -> None:
        """Set the queue gauges from `read()` unless they were read less than
        `queue_max_age` ago. Concurrent scrapes share one read (single flight); a read that
        gives None (the database is away) keeps the last values until the next one."""
        if time.monotonic() - self._queue_read_at < self.queue_max_age:
            return
        if self._queue_reading is None:
            self._queue_reading = asyncio.ensure_future(self._read_queue(read))
        # shielded: a scraper that hangs up does not cancel the read the others wait on
        await asyncio.shield(self._queue_reading)

    async def _read_queue(self, read: Callable[[], Awaitable[QueueStats | None]]) -> None:
        try:
            stats = await read()
            if stats is not None:
                self.queue_seen(stats)
        finally:
            self._queue_read_at = time.monotonic()
            self._queue_reading = None

    def queue_seen(self, stats: QueueStats) -> None:
        """Set the queue gauges from `Store.queue_stats`: with company labels, label values
        stay bounded (the companies with the most ready jobs by name, the others summed as
        `other`); without, one total."""
        self.delayed.set(sum(row[2] for row in stats))
        if not self.company_labels:
            self.queue_depth.set(sum(row[1] for row in stats))
            self.oldest_ready.set(max((row[3] for row in stats), default=0.0))
            return
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

    def paused_seen(self, job_types: set[str]) -> None:
        """Set the paused gauge: one series per paused type, none for the others."""
        self.paused.clear()
        for name in sorted(job_types):
            self.paused.labels(name).set(1)

    def watch(self, name: str, read: Callable[[], float], kind: str = "gauge") -> None:
        """Expose a value some component keeps (open streams, reconnects), read when scraped."""
        self.registry.register(_Reading(name, read, kind))

    def tick_submitted(self, lateness: float) -> None:
        """A schedule's tick gave its job, `lateness` seconds after the tick's time."""
        self.schedule_ticks.inc()
        self.schedule_tick_lateness.observe(max(lateness, 0.0))
        if lateness > LATE_TICK_SECONDS:
            self.schedule_late_ticks.inc()

    def job_started(self, job_type: str) -> None:
        child = self._started.get(job_type)
        if child is None:
            child = self._started[job_type] = self.jobs_started.labels(job_type)
        child.inc()

    def job_finished(self, job_type: str, outcome: str, seconds: float) -> None:
        children = self._finished.get((job_type, outcome))
        if children is None:
            children = self._finished[job_type, outcome] = (
                self.jobs_finished.labels(job_type, outcome),
                self.job_duration.labels(job_type, outcome),
            )
        children[0].inc()
        children[1].observe(seconds)


class _Reading(Collector):
    def __init__(self, name: str, read: Callable[[], float], kind: str) -> None:
        self._name, self._read, self._kind = name, read, kind

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily if self._kind == "counter" else GaugeMetricFamily
        yield family(self._name, self._name.replace("_", " "), value=self._read())

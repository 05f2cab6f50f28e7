"""`COMPANY_MAX_QUEUED`: a company with that many waiting jobs gets `429` at submit.

Approximate by design: a quota against runaway backlogs, not a counter. Counting a
company's queued jobs (up to the limit) scans that many index entries: ~2 ms for 10,000,
~0.3-0.5 s for 1,000,000 on a small machine. So no submit counts. Each replica keeps, per
company, the last count plus the jobs it admitted since, and counts again in the
background:

- **One count per company in flight per replica.** The first submit for a company (on
  this replica, or after the table of counts was reset) waits for a count; submits that
  arrive meanwhile wait for that same count rather than starting their own. Once a count
  exists, no submit waits: a stale one starts a count in a task of its own (unless one is
  running) and is admitted against the last figure plus this replica's own additions.
- **The interval adapts to what a count costs.** A figure is stale, and the next submit
  starts a count, `REFRESH_SECONDS` after the last count started, or the last count's
  duration divided by `COUNT_SHARE` if that is longer (so counting takes at most that
  share, 2 %, of one connection's time per company and replica, whether the limit is
  10,000 or 1,000,000), but never more than `MAX_REFRESH_SECONDS` (a count slowed once
  by a stall does not freeze the figure for long). A company that submits nothing is not
  counted at all.
- **What it misses.** A figure is the count (a snapshot taken when it started) plus what
  this replica admitted since; it misses what other replicas admitted and what workers
  claimed since that snapshot, for up to one interval (1 s for small backlogs, up to a
  minute for a backlog of millions) and the count after it. A refused company's
  `Retry-After` is at least the time until its figure is stale.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import time
from collections.abc import Callable
from typing import Protocol

import structlog

from service.domain.errors import OverQuota

#: the shortest interval between two counts of one company (per replica)
REFRESH_SECONDS = 1.0
#: the share of one connection's time a company's counts may take per replica: the next
#: count waits at least the last count's duration divided by it (50 times as long)
COUNT_SHARE = 0.02
#: and never longer than this
MAX_REFRESH_SECONDS = 60.0
#: a refused submit's `Retry-After`, at least
RETRY_AFTER_SECONDS = 5
#: companies remembered per replica; past it the table is reset (each counted again once)
MAX_COMPANIES = 100_000

log = structlog.get_logger("service.quota")


class QueuedCounts(Protocol):
    async def queued_count(self, company_id: str, up_to: int) -> int: ...


@dataclasses.dataclass(slots=True)
class _Figure:
    """A company's waiting jobs as this replica knows them."""

    #: the last count plus the jobs admitted here since it started
    queued: int
    #: when the last count started (monotonic seconds)
    counted_at: float
    #: how long after `counted_at` the next count may start
    interval: float
    #: the count in flight, if any, and what was admitted here since it started
    counting: asyncio.Task[None] | None = None
    admitted_since: int = 0


class QueueQuota:
    def __init__(
        self, store: QueuedCounts, limit: int, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._store = store
        self._limit = limit
        self._clock = clock
        self._figures: dict[str, _Figure] = {}
        #: first counts in flight, shared by every submit that waits for one
        self._first: dict[str, asyncio.Task[_Figure]] = {}
        #: background counts (the loop keeps only weak references to tasks)
        self._tasks: set[asyncio.Task[None]] = set()

    async def admit(self, company_id: str, jobs: int = 1) -> None:
        """Count `jobs` more waiting jobs for the company, or refuse them all with 429."""
        figure = self._figures.get(company_id)
        if figure is None:
            figure = await self._first_count(company_id)
        elif figure.counting is None and self._clock() - figure.counted_at >= figure.interval:
            self._count_in_background(company_id, figure)
        if figure.queued + jobs > self._limit:
            wait = figure.counted_at + figure.interval - self._clock()
            raise OverQuota(
                f"company has {self._limit} or more jobs waiting (COMPANY_MAX_QUEUED)",
                retry_after=max(RETRY_AFTER_SECONDS, math.ceil(wait)),
            )
        figure.queued += jobs
        if figure.counting is not None:
            figure.admitted_since += jobs

    async def _first_count(self, company_id: str) -> _Figure:
        """The company's first figure: one count, however many submits wait for it (a
        submit that gives up does not cancel it for the others)."""
        first = self._first.get(company_id)
        if first is None:
            first = asyncio.create_task(self._count_first(company_id))
            self._first[company_id] = first
            first.add_done_callback(lambda task: self._first_done(company_id, task))
        return await asyncio.shield(first)

    async def _count_first(self, company_id: str) -> _Figure:
        started = self._clock()
        queued = await self._store.queued_count(company_id, self._limit)
        figure = _Figure(queued, started, self._interval(self._clock() - started))
        if len(self._figures) >= MAX_COMPANIES:  # a bound on memory: forget and count again
            self._figures.clear()
        self._figures[company_id] = figure
        return figure

    def _first_done(self, company_id: str, task: asyncio.Task[_Figure]) -> None:
        if self._first.get(company_id) is task:
            del self._first[company_id]
        if not task.cancelled():
            task.exception()  # retrieved: a failed count is its waiters' error (503), if any

    def _count_in_background(self, company_id: str, figure: _Figure) -> None:
        figure.admitted_since = 0
        figure.counting = task = asyncio.create_task(self._recount(company_id, figure))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _recount(self, company_id: str, figure: _Figure) -> None:
        """Count again; the new figure is the count plus what was admitted meanwhile (the
        count's snapshot, taken as it started, has none of those). Should it fail, the last
        figure stands until the next interval."""
        started = self._clock()
        try:
            queued = await self._store.queued_count(company_id, self._limit)
        except Exception as exc:
            log.warning("queue_count_failed", company=company_id, error=str(exc) or repr(exc))
            figure.counted_at = started
            return
        finally:
            figure.counting = None
        figure.queued = queued + figure.admitted_since
        figure.counted_at = started
        figure.interval = self._interval(self._clock() - started)

    @staticmethod
    def _interval(count_seconds: float) -> float:
        return min(MAX_REFRESH_SECONDS, max(REFRESH_SECONDS, count_seconds / COUNT_SHARE))

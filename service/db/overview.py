"""A company's jobs counted by type and status, read at most once a second per company.

The page polls its overview every second or two, and every open page of a company asks the
same question; the answer is one GROUP BY over the company's jobs (`job_overview`). So each
replica keeps a company's last answer for `ttl` seconds, and when it has gone stale the
callers that ask at the same time share one read (single flight): a hundred pages open on
one company cost the database one query a second per replica, not a hundred.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import asyncpg

from service.db.queries import QUERIES
from service.domain.jobs import TERMINAL, Status

#: how long a company's counts are served from memory (seconds)
OVERVIEW_TTL = 1.0
#: answers kept before the stale ones are dropped (companies no page asks about any more)
MAX_CACHED = 1024


@dataclasses.dataclass(frozen=True)
class Overview:
    """A company's jobs at `at`: `by_type[job_type][status]` is how many (0s left out)."""

    by_type: Mapping[str, Mapping[str, int]]
    at: datetime

    @property
    def by_status(self) -> dict[str, int]:
        """Every status, in the enum's order, with its count (0 when none)."""
        counts = {status.value: 0 for status in Status}
        for statuses in self.by_type.values():
            for status, jobs in statuses.items():
                counts[status] = counts.get(status, 0) + jobs
        return counts

    @property
    def submitted(self) -> int:
        """Every job the company has (a pruned job is no longer counted)."""
        return sum(self.by_status.values())

    @property
    def finished(self) -> int:
        """The jobs that have ended (a retried one counts again once it ends again)."""
        return sum(jobs for status, jobs in self.by_status.items() if status in TERMINAL)


async def read_overview(pool: asyncpg.Pool[Any], company_id: str) -> Overview:
    rows = await pool.fetch(QUERIES["job_overview"], company_id)
    by_type: dict[str, dict[str, int]] = {}
    for row in rows:
        by_type.setdefault(row["job_type"], {})[row["status"]] = row["jobs"]
    return Overview({name: by_type[name] for name in sorted(by_type)}, datetime.now(UTC))


class Overviews:
    """Each company's last overview for `ttl` seconds, and one read in flight per company.

    A read that fails is not kept: every caller waiting on it gets its error (a `503` while
    the database is away), and the next call reads again. A caller that goes away (its
    client disconnected) does not cancel the read the others wait on.
    """

    def __init__(
        self, ttl: float = OVERVIEW_TTL, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl = ttl
        self.clock = clock
        self._kept: dict[str, tuple[float, Overview]] = {}
        self._reads: dict[str, asyncio.Task[Overview]] = {}

    async def get(self, company_id: str, read: Callable[[], Awaitable[Overview]]) -> Overview:
        kept = self._kept.get(company_id)
        if kept is not None and self.clock() - kept[0] < self.ttl:
            return kept[1]
        task = self._reads.get(company_id)
        if task is None:
            task = asyncio.create_task(self._read(company_id, read))
            task.add_done_callback(_retrieve)
            self._reads[company_id] = task
        return await asyncio.shield(task)

    async def _read(self, company_id: str, read: Callable[[], Awaitable[Overview]]) -> Overview:
        started = self.clock()
        try:
            overview = await read()
        finally:
            del self._reads[company_id]
        if len(self._kept) >= MAX_CACHED:
            self._forget_stale()
        self._kept[company_id] = (started, overview)
        return overview

    def _forget_stale(self) -> None:
        now = self.clock()
        for company_id, (at, _) in list(self._kept.items()):
            if now - at >= self.ttl:
                del self._kept[company_id]


def _retrieve(task: asyncio.Task[Overview]) -> None:
    """Reads the outcome of a read whose callers all went away: no "never retrieved" noise."""
    if not task.cancelled():
        task.exception()

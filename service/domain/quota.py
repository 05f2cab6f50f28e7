"""`COMPANY_MAX_QUEUED`: a company with that many waiting jobs gets `429` at submit.

Counting a company's queued jobs on every submit would put a scan on the hot path.
Instead each replica reads the count (bounded by the limit) at most once per
`REFRESH_SECONDS` per company and adds its own submissions in between, so the
limit holds within what other replicas accepted during the last second: a quota
against runaway backlogs, approximate by design.
"""

from __future__ import annotations

import time
from typing import Protocol

from service.domain.errors import OverQuota

REFRESH_SECONDS = 1.0
RETRY_AFTER_SECONDS = 5


class QueuedCounts(Protocol):
    async def queued_count(self, company_id: str, up_to: int) -> int: ...


class QueueQuota:
    def __init__(self, store: QueuedCounts, limit: int) -> None:
        self._store = store
        self._limit = limit
        self._counts: dict[str, tuple[int, float]] = {}

    async def admit(self, company_id: str, jobs: int = 1) -> None:
        """Count `jobs` more waiting jobs for the company, or refuse them all with 429."""
        count, read_at = self._counts.get(company_id, (0, 0.0))
        now = time.monotonic()
        if now - read_at >= REFRESH_SECONDS:
            count, read_at = await self._store.queued_count(company_id, self._limit), now
        if count + jobs > self._limit:
            self._counts[company_id] = (count, read_at)
            raise OverQuota(
                f"company has {self._limit} or more jobs waiting (COMPANY_MAX_QUEUED)",
                retry_after=RETRY_AFTER_SECONDS,
            )
        self._counts[company_id] = (count + jobs, read_at)
        if len(self._counts) > 100_000:  # a bound on memory: forget and read again
            self._counts.clear()

"""`RunLeases` in memory: the runner's side of the store, for tests of its lifecycle that
need no Postgres.

It models what the runner relies on, and nothing else (no companies' fair share, no
priorities: the claim takes jobs in the order they were added; those stay covered
against Postgres in tests/integration):

- a claim gives each run a token of its own and a lease that expires;
- every write of a run is fenced by its token: once the job was cancelled, reaped or
  claimed again, the old run's writes change nothing (False / None, as the SQL);
- an expired lease is reaped: queued again with attempts + 1, failed at the limit.
"""

from __future__ import annotations

import dataclasses
import itertools
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from service.domain.flow import NO_FLOW_CONTROL, FlowControl
from service.domain.jobs import Ended, Job, Status


@dataclasses.dataclass(frozen=True)
class Claim:
    """One call of `claim`, as the runner made it (the tests check its bounds)."""

    limit: int
    cpu_types: tuple[str, ...]
    cpu_free: int
    taken: int


class FakeLeases:
    def __init__(self) -> None:
        #: every job, as its row is now
        self.jobs: dict[uuid.UUID, Job] = {}
        #: the lease of each running job: when it expires (time.monotonic)
        self.leases: dict[uuid.UUID, float] = {}
        self.claims: list[Claim] = []
        #: every output write that a run made and its job took: (job, chunk, truncated)
        self.outputs: list[tuple[uuid.UUID, str, bool]] = []
        self._tokens = itertools.count(1)

    def add(self, job_type: str = "echo", max_attempts: int = 1, **job_input: Any) -> Job:
        """A queued job, ready now."""
        now = datetime.now(UTC)
        job = Job(
            id=uuid.uuid4(),
            company_id="acme",
            job_type=job_type,
            status=Status.QUEUED,
            input=job_input,
            source_task_id=None,
            progress_percent=0,
            progress_message=None,
            result=None,
            result_asset_id=None,
            error_message=None,
            attempts=1,
            max_attempts=max_attempts,
            priority=0,
            run_at=now,
            callback_url=None,
            event_seq=1,
            created_at=now,
            started_at=None,
            finished_at=None,
            updated_at=now,
        )
        self.jobs[job.id] = job
        return job

    def status(self, job: Job) -> Status:
        return self.jobs[job.id].status

    def cancel(self, job_id: uuid.UUID) -> None:
        """A client's cancel: the job's run no longer holds it."""
        self._change(job_id, status=Status.CANCELLED)

    # --- RunLeases ---------------------------------------------------------------

    async def claim(
        self,
        worker_id: str,
        lease_seconds: float,
        limit: int,
        company_max_running: int | None = None,
        cpu_types: Sequence[str] = (),
        cpu_free: int = 0,
        flow: FlowControl = NO_FLOW_CONTROL,
    ) -> list[Job]:
        claimed: list[Job] = []
        cpu_taken = 0
        for job in list(self.jobs.values()):
            if len(claimed) >= limit:
                break
            if job.status is not Status.QUEUED:
                continue
            if job.job_type in cpu_types:
                if cpu_taken >= cpu_free:
                    continue
                cpu_taken += 1
            claimed.append(
                self._change(job.id, status=Status.RUNNING, run_token=next(self._tokens))
            )
            self.leases[job.id] = time.monotonic() + lease_seconds
        self.claims.append(Claim(limit, tuple(cpu_types), cpu_free, len(claimed)))
        return claimed

    async def set_progress(self, job: Job, percent: int, message: str | None) -> None:
        if self._holds(job):
            self._change(job.id, progress_percent=percent, progress_message=message)

    async def append_output(self, job: Job, chunk: str, truncated: bool) -> int | None:
        if not self._holds(job):
            return None
        self.outputs.append((job.id, chunk, truncated))
        current = self.jobs[job.id]
        size = current.output_bytes + len(chunk.encode())
        self.jobs[job.id] = dataclasses.replace(
            current, output_bytes=size, output_truncated=current.output_truncated or truncated
        )
        return size

    async def finish(
        self,
        job: Job,
        status: Ended,
        *,
        result: Any = None,
        result_asset_id: uuid.UUID | None = None,
        error_message: str | None = None,
    ) -> bool:
        if not self._holds(job):
            return False
        self._change(
            job.id,
            status=status,
            result=result,
            result_asset_id=result_asset_id,
            error_message=error_message,
        )
        return True

    async def fail_attempt(self, job: Job, error_message: str, retry_in: float) -> Job | None:
        if not self._holds(job):
            return None
        return self._attempt_ended(job.id, error_message)

    async def requeue(self, job: Job) -> Job | None:
        if not self._holds(job):
            return None
        return self._change(job.id, status=Status.QUEUED)

    async def rate_limit_wait(self, flow: FlowControl) -> float | None:
        return None  # no rate limits here: they are the claim's, tested against Postgres

    async def seconds_to_next_run(self) -> float | None:
        return None

    async def renew_leases(self, runs: Sequence[Job], lease_seconds: float) -> set[int]:
        held = {job.run_token for job in runs if self._holds(job)}
        for job in runs:
            if job.run_token in held:
                self.leases[job.id] = time.monotonic() + lease_seconds
        return {token for token in held if token is not None}

    async def still_running(self, runs: Sequence[Job]) -> set[int]:
        return {job.run_token for job in runs if job.run_token is not None and self._holds(job)}

    async def reap_expired_leases(self, limit: int = 100) -> list[Job]:
        now = time.monotonic()
        expired = [
            job_id
            for job_id, expires in self.leases.items()
            if expires < now and self.jobs[job_id].status is Status.RUNNING
        ]
        return [self._attempt_ended(job_id, "worker lost") for job_id in expired[:limit]]

    # --- the rows ------------------------------------------------------------------

    def _holds(self, run: Job) -> bool:
        """The fence: the run's token is the job's, and the job is still running."""
        job = self.jobs[run.id]
        return job.status is Status.RUNNING and job.run_token == run.run_token

    def _attempt_ended(self, job_id: uuid.UUID, error: str) -> Job:
        job = self.jobs[job_id]
        if job.attempts >= job.max_attempts:
            return self._change(job_id, status=Status.FAILED, error_message=error)
        return self._change(job_id, status=Status.QUEUED, attempts=job.attempts + 1)

    def _change(self, job_id: uuid.UUID, **values: Any) -> Job:
        job = dataclasses.replace(
            self.jobs[job_id], event_seq=self.jobs[job_id].event_seq + 1, **values
        )
        self.jobs[job_id] = job
        if job.status is not Status.RUNNING:
            self.leases.pop(job_id, None)
        return job

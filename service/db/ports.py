"""The store as each of its callers sees it: three small interfaces, one per need.

`Store` (service/db/store.py) implements all three on Postgres. Callers are typed by
the one they use, so what each depends on is visible, and a caller can be tested
against a fake of its interface alone (tests/unit/fake_leases.py is the runner's):

- `Commands`: the API's client commands (submit, read, list, cancel, retry, quota).
- `EventLog`: the event streams and the listener (snapshots, events after a seq).
- `RunLeases`: the runner and its run contexts (claims, leases, a run's writes).

Every write of a run is fenced by its run token (`Job.run_token`, from its claim): a
run whose job was cancelled, reaped or retried can no longer change it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from service.db.store import ItemResult, ListFilter, Submitted
from service.domain.flow import NO_FLOW_CONTROL, FlowControl
from service.domain.jobs import Ended, Event, Job, NewJob


class Commands(Protocol):
    """What clients ask of jobs (the HTTP API)."""

    async def submit(self, new: NewJob) -> Submitted:
        """Insert a job; with an idempotency key, the key's job (created=False)."""
        ...

    async def submit_batch(self, batch: list[NewJob]) -> list[ItemResult]:
        """Insert jobs in one transaction; each item's `Submitted` or its error."""
        ...

    async def existing_jobs(self, company_id: str, ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        """Which of `ids` are jobs of the company (what `dependsOn` may name)."""
        ...

    async def get(self, company_id: str, job_id: uuid.UUID) -> Job | None: ...

    async def output(self, company_id: str, job_id: uuid.UUID) -> tuple[str, bool] | None:
        """The job's whole output so far and whether some was dropped; None: no such job."""
        ...

    async def list_jobs(self, company_id: str, where: ListFilter, limit: int) -> list[Job]:
        """A page of the company's jobs matching `where`."""
        ...

    async def cancel(self, company_id: str, job_id: uuid.UUID) -> Job | None:
        """Cancel a queued or running job; None when it is missing or already terminal."""
        ...

    async def retry(self, company_id: str, job_id: uuid.UUID) -> Job | None:
        """Queue a failed or cancelled job again; None when missing or not retryable."""
        ...

    async def queued_count(self, company_id: str, up_to: int) -> int:
        """The company's waiting jobs, counted up to `up_to` (the queue quota)."""
        ...

    async def queue_stats(self) -> list[tuple[str, int, int, float]]:
        """Per company: (company, ready jobs, delayed jobs, oldest ready age) (metrics)."""
        ...


class EventLog(Protocol):
    """A job's history as its event streams read it."""

    async def snapshot(self, company_id: str, job_id: uuid.UUID) -> Event | None:
        """The job's current state as a `status` event numbered with its newest seq."""
        ...

    async def events_after(self, job_id: uuid.UUID, seq: int) -> list[Event]: ...

    async def events_after_many(
        self, after: dict[uuid.UUID, int]
    ) -> dict[uuid.UUID, list[Event]]: ...

    async def event_seqs(self, job_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, int]:
        """Each job's newest event seq (the listener's sweep for lost notifications)."""
        ...


class RunLeases(Protocol):
    """What a worker does with the jobs it runs: claim them under a lease, keep the lease,
    write the run's progress and its end. A write of a run that no longer holds its job
    changes nothing (and says so: False or None)."""

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
        """Up to `limit` ready jobs, now running under this worker's lease, each with a
        run token of its own; of the `cpu_types`, at most `cpu_free` jobs."""
        ...

    async def set_progress(self, job: Job, percent: int, message: str | None) -> None: ...

    async def append_output(self, job: Job, chunk: str, truncated: bool) -> int | None:
        """Append a chunk of output (cut by the run to fit the cap) and its event; the output's
        bytes after it, or None if the job is no longer this run's."""
        ...

    async def finish(
        self,
        job: Job,
        status: Ended,
        *,
        result: Any = None,
        result_asset_id: uuid.UUID | None = None,
        error_message: str | None = None,
    ) -> bool:
        """End the run as done or failed; False if the job is no longer this run's."""
        ...

    async def fail_attempt(self, job: Job, error_message: str, retry_in: float) -> Job | None:
        """A transient failure: queued again after `retry_in` seconds, or failed at the
        attempt limit; None if the job is no longer this run's."""
        ...

    async def requeue(self, job: Job) -> Job | None:
        """Give the job back to the queue (shutdown), its attempt not counted."""
        ...

    async def seconds_to_next_run(self) -> float | None:
        """Seconds until the earliest waiting job that is not ready yet may start."""
        ...

    async def rate_limit_wait(self, flow: FlowControl) -> float | None:
        """Seconds until a rate limit with no free slot frees one; None when none waits."""
        ...

    # The watch: renewals, cancellation checks and the reaper. The Postgres store runs them
    # on a connection of its own, so a pool saturated by requests or runs cannot hold up
    # the renewals that keep those runs alive.

    async def renew_leases(self, runs: Sequence[Job], lease_seconds: float) -> set[int]:
        """Extend these runs' leases; the tokens of the runs still holding theirs."""
        ...

    async def still_running(self, runs: Sequence[Job]) -> set[int]:
        """The tokens of the runs whose job is still theirs (not cancelled, reaped...)."""
        ...

    async def reap_expired_leases(self, limit: int = 100) -> list[Job]:
        """Requeue (or fail, at the attempt limit) the jobs whose lease ran out."""
        ...


@runtime_checkable
class Pipelines(Protocol):
    """What a run does with other jobs (`ctx.submit`, `ctx.dependencies`): the Postgres
    store has it; a runner on a store without it (a test's fake) gives handlers neither."""

    async def submit_child(self, parent: Job, key: str, new: NewJob) -> uuid.UUID | None:
        """The child of `parent`'s run under `key`: created, or the one a previous run of
        the parent created; None when the run no longer holds its job and made no child."""
        ...

    async def dependency_results(self, job: Job) -> dict[uuid.UUID, Any]:
        """The result of each of the job's dependencies, by id."""
        ...

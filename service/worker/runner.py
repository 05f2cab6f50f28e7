"""The worker: claims ready jobs, runs their handlers, keeps their leases, stops cleanly.

Up to `RUNNER_CONCURRENCY` handlers run at once; a run whose handler has returned gives up
its slot while its terminal write commits (group commit), so the next claim overlaps the
last finish instead of waiting for it (the company cap still counts it: it is `running` in
the table until that commit). An idle runner sleeps until the
listener hears `content_jobs_queued`, until the earliest delayed job's `run_at`,
or until a slow poll fires. A watch loop (the store runs it on a connection of its own,
so a pool saturated by requests cannot starve it) renews leases, notices cancelled jobs
within a quarter second, stops a handler whose lease it could not renew in time
(another worker may have its job by now), and requeues or fails jobs whose
replica died.

Fencing: each claim gives its run a token that never repeats (a sequence), runs
are kept by that token, and every write of a run is guarded by it, so a run
that lost its job (cancelled, reaped, retried) can no longer change it — even
when this same worker claims the job again and both runs are alive for a moment.

Outcomes: a result is `done`; a `PermanentError`, a timeout, input that no
longer fits or a result Postgres cannot store is `failed` at once; any other
exception (a crashed CPU process included) is a failed attempt, queued again
after the type's backoff until `maxAttempts`, then `failed`. A job's timeout
counts its handler's time, not the wait for a CPU process, and a worker claims
no more CPU-bound jobs than it has free processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Literal

import asyncpg
import structlog
from aiohttp import web

from service.assets.store import AssetStore
from service.db.pool import DB_ERRORS, database_unavailable
from service.db.ports import Pipelines, RunLeases
from service.domain.codec import dumps, has_nul, without_nul
from service.domain.flow import FlowControl
from service.domain.jobs import Ended, Job, Status
from service.jobtypes import InvalidInput, JobTypes, validate_input
from service.metrics import Metrics
from service.sdk import Asset, JobType, PermanentError
from service.settings import Settings
from service.tracing import NO_TRACING, Span, Tracing
from service.worker.context import RunContext, RunPipelines
from service.worker.cpu import CpuPool

log = structlog.get_logger(__name__)

#: how often running jobs are checked for cancellation
CANCEL_CHECK_INTERVAL = 0.25
#: how long a run keeps retrying its final write while the database is away; then the run
#: is forgotten and its lease runs out, so another worker takes the job over
FINAL_WRITE_RETRY_SECONDS = 60.0

StopReason = Literal["cancelled", "shutdown", "lease_lost"]


class JobTimedOut(Exception):
    pass


@dataclasses.dataclass(frozen=True)
class Outcome:
    """How a run ended: `Status.DONE` with a result, `Status.FAILED`, or a failed attempt
    (`retry`: queued again after the type's backoff, `Status.FAILED` at the attempt limit)."""

    status: Ended
    result: Any = None
    error: str | None = None
    retry: bool = False

    @property
    def name(self) -> str:
        """As the runner counts it (`Runner.finished`, metrics): done, failed or retry."""
        return "retry" if self.retry else self.status.value


def new_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclasses.dataclass
class Run:
    job: Job
    job_type: JobType[Any] | None
    context: RunContext
    started: float = dataclasses.field(default_factory=time.monotonic)
    #: when the database last confirmed our lease (monotonic)
    renewed: float = dataclasses.field(default_factory=time.monotonic)
    handler_task: asyncio.Task[Any] | None = None
    stop_reason: StopReason | None = None
    #: the handler has returned or raised: only the run's last write is left
    handler_done: bool = False
    #: when the claim that took the job began and ended (`time.time_ns`: the run's span
    #: starts at the claim)
    claimed: tuple[int, int] | None = None

    @property
    def token(self) -> int:
        """The run's token from its claim: its key here and the fence of its writes."""
        assert self.job.run_token is not None, "a claimed job carries its run token"
        return self.job.run_token


class Runner:
    def __init__(
        self,
        store: RunLeases,
        settings: Settings,
        job_types: JobTypes,
        worker_id: str | None = None,
        metrics: Metrics | None = None,
        assets: AssetStore | None = None,
        tracing: Tracing = NO_TRACING,
    ) -> None:
        self.store = store
        #: the store, if it can submit child jobs (a runtime Protocol check: ~10 us a job when
        #: it was made per run)
        self._pipelines: Pipelines | None = store if isinstance(store, Pipelines) else None
        self.tracing = tracing
        #: when the latest claim began and ended (the runs it started share it)
        self._last_claim: tuple[int, int] | None = None
        self.job_types = job_types
        self.assets = assets
        self.settings = settings
        self.metrics = metrics or Metrics()
        self.worker_id = worker_id or new_worker_id()
        #: the runs in progress, by run token (one job may have two for a moment: a stopped
        #: run finishing while the same job, retried, runs again here)
        self.runs: dict[int, Run] = {}
        self._run_tasks: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._slot_free = asyncio.Event()
        self._stopping = False
        self._tasks: list[asyncio.Task[None]] = []
        self.cpu = CpuPool(settings.cpu_workers)
        #: the rate limits in force (the setting's, else the types' own) and the weights
        self.flow = FlowControl.of(
            settings.job_type_rate_limits, job_types.rate_limits(), settings.company_weights
        )
        #: jobs this runner finished, by outcome (metrics)
        self.finished: dict[str, int] = {}
        #: called when a run ends (the callback sender looks for a due delivery)
        self.on_end: Callable[[], None] | None = None

    def run_of(self, job_id: uuid.UUID) -> Run | None:
        """This worker's newest run of a job, if one is in progress."""
        runs = [run for run in self.runs.values() if run.job.id == job_id]
        return max(runs, key=lambda run: run.token, default=None)

    def wake(self) -> None:
        """A job was queued (the listener heard it): look for work now."""
        self._wake.set()

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._claim_forever(), name="runner-claim"),
            asyncio.create_task(self._watch_forever(), name="runner-watch"),
        ]

    async def stop(self) -> None:
        """Stop claiming, let running jobs finish within the grace, requeue the rest."""
        self._stopping = True
        self._wake.set()
        self._slot_free.set()
        await self._tasks[0]  # a claim in flight completes, so no claimed job is orphaned
        if self._run_tasks:
            _, pending = await asyncio.wait(
                self._run_tasks, timeout=self.settings.shutdown_grace_seconds
            )
            for run in list(self.runs.values()):
                self._stop_run(run, "shutdown")
            if pending:
                await asyncio.wait(pending)
        self._tasks[1].cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._tasks[1]
        await self.cpu.close()
        log.info("runner_stopped", worker_id=self.worker_id)

    async def _claim_forever(self) -> None:
        concurrency = self.settings.runner_concurrency
        while not self._stopping:
            # handler slots, and at most as many runs again waiting for their last write (a
            # database that takes claims but stalls finishes must not pile runs up)
            handlers = sum(1 for run in self.runs.values() if not run.handler_done)
            free = min(concurrency - handlers, 2 * concurrency - len(self.runs))
            if free <= 0:
                self._slot_free.clear()
                await self._slot_free.wait()
                continue
            self._wake.clear()
            jobs = await self._claim(free, self._cpu_free())
            for job in jobs:
                self._start_run(job)
            if len(jobs) < free:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(await self._idle_seconds()):
                        await self._wake.wait()

    def _cpu_free(self) -> int:
        """CPU processes no run of ours is using or about to use."""
        cpu_runs = sum(
            1
            for run in self.runs.values()
            if not run.handler_done and run.job_type is not None and run.job_type.cpu_bound
        )
        return max(self.cpu.size - cpu_runs, 0)

    async def _claim(self, limit: int, cpu_free: int) -> list[Job]:
        started = time.time_ns()
        try:
            return await self.store.claim(
                self.worker_id,
                self.settings.job_lease_seconds,
                limit,
                self.settings.company_max_running,
                self.job_types.cpu_bound_names(),
                cpu_free,
                flow=self.flow,
            )
        except DB_ERRORS as exc:
            log.warning("claim_failed", error=str(exc))
            return []
        finally:
            self._last_claim = (started, time.time_ns())

    async def _idle_seconds(self) -> float:
        """How long to sleep when there is nothing to do: until the earliest delayed job may
        start (a timer, not a poll), at most the poll interval."""
        wait = self.settings.poll_interval_seconds
        with contextlib.suppress(*DB_ERRORS):
            seconds = await self.store.seconds_to_next_run()
            if seconds is not None:
                wait = min(wait, max(seconds, 0.0) + 0.001)
        if self.flow.rate_limits:  # a limited type waits for its window, not for the poll
            with contextlib.suppress(*DB_ERRORS):
                seconds = await self.store.rate_limit_wait(self.flow)
                if seconds is not None:
                    self.metrics.rate_limited_waits.inc()
                    wait = min(wait, max(seconds, 0.0) + 0.001)
        return wait

    def _start_run(self, job: Job) -> None:
        job_type = self.job_types.get(job.job_type)
        context = RunContext(
            job,
            None,
            self.worker_id,
            self.store,
            self.assets,
            output_max_bytes=self.settings.job_output_max_bytes,
        )
        if self._pipelines is not None:
            context.pipelines = RunPipelines(
                self._pipelines, self.job_types, self.settings.job_max_attempts
            )
        run = Run(job, job_type, context, claimed=self._last_claim)
        self.runs[run.token] = run
        self.metrics.job_started(job.job_type)
        task = asyncio.create_task(self._run(run), name=f"job-{job.id}")
        self._run_tasks.add(task)
        task.add_done_callback(self._run_tasks.discard)

    async def _run(self, run: Run) -> None:
        """The run in its span (tracing on), which continues the trace stored with the job:
        a child span for its claim, its handler and its final write, its progress writes as
        events. Off, the spans are the one no-op object."""
        job = run.job
        claimed = run.claimed
        with self.tracing.span(
            f"run {job.job_type}",
            parent=job.trace_context,
            kind="consumer",
            start_ns=claimed[0] if claimed else None,
            attributes={
                "content_jobs.job_id": str(job.id),
                "content_jobs.job_type": job.job_type,
                "content_jobs.company_id": job.company_id,
                "content_jobs.attempt": job.attempts,
                "content_jobs.worker_id": self.worker_id,
            },
        ) as span:
            run.context.span = span
            if claimed is not None:
                self.tracing.record("claim", *claimed)
            await self._run_once(run, span)

    async def _run_once(self, run: Run, span: Span) -> None:
        """One run from start to its final write; the run is forgotten whatever happens."""
        outcome_name = "lost"
        try:
            with self.tracing.span("handler") as handler_span:
                outcome = await self._outcome(run)
                if outcome is not None and outcome.error is not None:
                    handler_span.fail(outcome.error)
            self._handler_ended(run)
            if outcome is None:  # stopped: cancelled, shutdown or lease lost
                outcome_name = run.stop_reason or "cancelled"
                if run.stop_reason == "shutdown":
                    await self._final_write(lambda: self.store.requeue(run.job))
                return
            ended = outcome
            with self.tracing.span("finish"):
                await run.context.flush()
                refused = await self._final_write(lambda: self._record(run, ended))
                if refused is not None:  # e.g. a result Postgres cannot hold: the job fails
                    error = f"the result could not be stored: {refused}"
                    ended = Outcome(Status.FAILED, error=error)
                    await self._final_write(lambda: self._record(run, ended))
            outcome_name = ended.name
        finally:
            self._forget(run, outcome_name)
            span.set_attribute("content_jobs.outcome", outcome_name)
            if outcome_name in ("failed", "retry", "lost"):
                span.fail(outcome_name)

    async def _outcome(self, run: Run) -> Outcome | None:
        run.handler_task = asyncio.create_task(self._call_handler(run))
        try:
            result = await run.handler_task
            return Outcome(Status.DONE, _encodable(result))
        except asyncio.CancelledError:
            run.context.discard()
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise
            return None
        except (PermanentError, JobTimedOut, InvalidInput, ResultNotJson) as exc:
            return Outcome(Status.FAILED, error=without_nul(str(exc) or type(exc).__name__))
        except Exception as exc:  # a handler's failure is the job's, never the runner's
            error = without_nul(str(exc) or type(exc).__name__)
            run.context.log.info("job_attempt_failed", error=error)
            return Outcome(Status.FAILED, error=error, retry=True)

    async def _record(self, run: Run, outcome: Outcome) -> None:
        job = run.job
        if outcome.retry:
            policy = run.job_type.retry if run.job_type is not None else None
            delay = policy.delay(job.attempts) if policy is not None else 0.0
            recorded = await self.store.fail_attempt(job, outcome.error or "", delay)
            if recorded is not None and recorded.status is Status.QUEUED:
                self.metrics.job_retries.labels(job.job_type).inc()
            return
        await self.store.finish(
            job,
            outcome.status,
            result=outcome.result,
            result_asset_id=run.context.result_asset_id,
            error_message=outcome.error,
        )

    async def _call_handler(self, run: Run) -> Any:
        job_type = run.job_type
        if job_type is None:
            raise InvalidInput(f"unknown job type {run.job.job_type!r}")
        run.context.input = validate_input(job_type, run.job.input)
        await run.context.load_dependencies()
        seconds = self.settings.timeout_for(job_type.name, job_type.timeout_seconds)
        if not job_type.cpu_bound:
            try:
                async with asyncio.timeout(seconds):
                    return await job_type.handler(run.context)
            except TimeoutError:
                raise JobTimedOut(f"timed out after {seconds:g} seconds") from None
        async with self.cpu.slot() as slot:  # the wait for a process is not the job's time
            await slot.start(job_type.handler)
            deadline = asyncio.get_running_loop().time() + seconds
            try:
                async with asyncio.timeout_at(deadline):
                    result = await slot.run(job_type.handler, run.context.input)
            except TimeoutError:
                raise JobTimedOut(f"timed out after {seconds:g} seconds") from None
        if not isinstance(result, Asset):
            return result
        try:
            async with asyncio.timeout_at(deadline):
                asset_id = await run.context.store_asset(
                    result.data, result.content_type, result.filename
                )
        except TimeoutError:
            raise JobTimedOut(f"timed out after {seconds:g} seconds") from None
        return {"assetId": asset_id, "bytes": len(result.data), "contentType": result.content_type}

    def _handler_ended(self, run: Run) -> None:
        """The run's slot is free for the next claim; its last write still holds the lease."""
        run.handler_done = True
        self._slot_free.set()

    def _forget(self, run: Run, outcome: str) -> None:
        if self.runs.get(run.token) is run:
            del self.runs[run.token]
        self.finished[outcome] = self.finished.get(outcome, 0) + 1
        self.metrics.job_finished(run.job.job_type, outcome, time.monotonic() - run.started)
        self._slot_free.set()
        if self.on_end is not None:
            self.on_end()

    def _stop_run(self, run: Run, reason: StopReason) -> None:
        run.context.cancel()
        if run.handler_task is not None and not run.handler_task.done():
            run.stop_reason = reason
            run.handler_task.cancel()

    async def _watch_forever(self) -> None:
        last_renew = last_reap = time.monotonic()
        lease = self.settings.job_lease_seconds
        while True:
            await asyncio.sleep(min(CANCEL_CHECK_INTERVAL, lease / 3))
            now = time.monotonic()
            try:
                await self._stop_cancelled()
                if now - last_renew >= lease / 3:
                    last_renew = now
                    await self._renew(lease)
                if now - last_reap >= min(1.0, lease / 2):
                    last_reap = now
                    await self.store.reap_expired_leases()
            except DB_ERRORS as exc:
                log.warning("watch_failed", error=str(exc))
            self._stop_expired(lease)

    async def _renew(self, lease: float) -> None:
        if not self.runs:
            return
        asked = time.monotonic()
        held = await self.store.renew_leases([run.job for run in self.runs.values()], lease)
        for token, run in list(self.runs.items()):
            if token in held:
                run.renewed = asked

    def _stop_expired(self, lease: float) -> None:
        """Stop handlers whose lease we could not renew in time: past it, the reaper may have
        handed the job to another worker, and two runs must not both go on."""
        deadline = time.monotonic() - lease
        for run in list(self.runs.values()):
            if run.renewed < deadline and run.stop_reason is None:
                run.context.log.warning("lease_lost")
                self._stop_run(run, "lease_lost")

    async def _stop_cancelled(self) -> None:
        """Stop the handlers of runs whose job is no longer theirs (cancelled by a client)."""
        if not self.runs:
            return
        runs = list(self.runs.values())
        alive = await self.store.still_running([run.job for run in runs])
        for run in runs:
            if run.token not in alive:
                self._stop_run(run, "cancelled")

    async def _final_write(
        self, operation: Callable[[], Awaitable[object]]
    ) -> asyncpg.PostgresError | None:
        """Retry a run's last write through a database restart; the lease is kept meanwhile.

        If it still fails, the run is forgotten (its caller's `finally`), the lease expires
        and the reaper requeues the job: never lost, never stuck `running`. A write the
        database refuses (not a database that is away: e.g. a value it cannot store) is not
        retried: the error is returned, for the caller to record why the job failed.
        """
        delay = 0.2
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(FINAL_WRITE_RETRY_SECONDS):
                while True:
                    try:
                        await operation()
                        return None
                    except DB_ERRORS as exc:
                        if isinstance(exc, asyncpg.PostgresError) and not database_unavailable(exc):
                            log.warning("job_write_refused", error=str(exc))
                            return exc
                        log.warning("job_write_failed", error=str(exc), retry_in=delay)
                        await asyncio.sleep(delay)
                        delay = min(delay * 2, 2.0)
        log.error("job_write_abandoned", seconds=FINAL_WRITE_RETRY_SECONDS)
        return None


class ResultNotJson(Exception):
    """The handler returned something JSON cannot hold: the job fails (a retry would too)."""


def _encodable(result: Any) -> Any:
    """The result, if Postgres can store it as jsonb: JSON, and no NUL character (`\\u0000`)
    in any string, which JSON allows and Postgres refuses."""
    try:
        encoded = dumps(result)
    except TypeError as exc:
        raise ResultNotJson(f"result is not JSON: {exc}") from None
    if b"\\u0000" in encoded and has_nul(result):
        raise ResultNotJson("result holds a NUL character (\\u0000), which Postgres cannot store")
    return result


#: the app's runner, on replicas whose role runs jobs (declared here: the HTTP face never
#: imports the worker)
RUNNER = web.AppKey("runner", Runner)

"""The worker: claims queued jobs, runs their handlers, keeps their leases, stops cleanly.

Up to `RUNNER_CONCURRENCY` jobs run at once. An idle runner sleeps until the
listener hears `content_jobs_queued` (or a slow poll fires). A watch loop
renews leases, notices cancelled jobs within a quarter second, and requeues
or fails jobs whose replica died (expired leases), wherever they ran. Every
write of a run is guarded by (worker id, attempt), so a run that lost its
job to cancellation or the reaper can no longer change it.
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

import structlog

from service.assets import AssetStore
from service.db import DB_ERRORS
from service.jobs import Job, Status
from service.jobtypes import REGISTRY, InvalidInput
from service.metrics import Metrics
from service.settings import Settings
from service.store import Store

log = structlog.get_logger(__name__)

#: progress is written at most this often per job; the latest value wins
PROGRESS_INTERVAL = 0.1
#: how often running jobs are checked for cancellation
CANCEL_CHECK_INTERVAL = 0.25
#: how long a run keeps retrying its final write while the database is away
FINAL_WRITE_RETRY_SECONDS = 60.0


class JobTimedOut(Exception):
    pass


def new_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class RunContext:
    """What a handler gets: progress reporting (coalesced) and result storage."""

    def __init__(self, job: Job, worker_id: str, store: Store, assets: AssetStore | None) -> None:
        self.job = job
        self._worker_id = worker_id
        self._store = store
        self._assets = assets
        self._latest: tuple[int, str | None] | None = None
        self._written: tuple[int, str | None] | None = None
        self._last_write = 0.0
        self._delayed: asyncio.Task[None] | None = None
        self._writing = asyncio.Lock()
        self.result_asset_id: uuid.UUID | None = None

    async def progress(self, percent: int, message: str | None = None) -> None:
        self._latest = (max(0, min(100, int(percent))), message)
        wait = self._last_write + PROGRESS_INTERVAL - time.monotonic()
        if wait <= 0 and self._delayed is None:
            await self._write()
        elif self._delayed is None:
            self._delayed = asyncio.create_task(self._write_later(max(wait, 0)))

    async def store_asset(self, data: bytes, content_type: str, filename: str | None = None) -> str:
        """Store a result file; the job's `resultAssetId` is set when it is marked done."""
        if self._assets is None:
            raise RuntimeError("asset storage is not configured for this runner")
        asset = await self._assets.put(
            self.job.company_id, self.job.id, data, content_type, filename
        )
        self.result_asset_id = asset.id
        return str(asset.id)

    async def flush(self) -> None:
        """Write the last reported progress before the job ends, so its event comes first."""
        self.discard()
        await self._write()

    def discard(self) -> None:
        """Drop a pending delayed write: nothing may be written after the job ended."""
        if self._delayed is not None:
            self._delayed.cancel()
            self._delayed = None

    async def _write_later(self, delay: float) -> None:
        await asyncio.sleep(delay)
        self._delayed = None
        await self._write()

    async def _write(self) -> None:
        async with self._writing:  # flush() waits for a write in flight
            latest = self._latest
            if latest is None or latest == self._written:
                return
            self._written = latest
            self._last_write = time.monotonic()
            try:
                await self._store.set_progress(self.job, self._worker_id, *latest)
            except Exception as exc:
                log.warning("progress_write_failed", job_id=str(self.job.id), error=str(exc))


@dataclasses.dataclass
class Run:
    job: Job
    context: RunContext
    started: float = dataclasses.field(default_factory=time.monotonic)
    handler_task: asyncio.Task[Any] | None = None
    stop_reason: Literal["cancelled", "shutdown"] | None = None


class Runner:
    def __init__(
        self,
        store: Store,
        settings: Settings,
        worker_id: str | None = None,
        metrics: Metrics | None = None,
        assets: AssetStore | None = None,
    ) -> None:
        self.store = store
        self.assets = assets
        self.settings = settings
        self.metrics = metrics or Metrics()
        self.worker_id = worker_id or new_worker_id()
        self.runs: dict[uuid.UUID, Run] = {}
        self._run_tasks: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._slot_free = asyncio.Event()
        self._stopping = False
        self._tasks: list[asyncio.Task[None]] = []
        #: jobs this runner finished, by outcome (metrics)
        self.finished: dict[str, int] = {}

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
        log.info("runner_stopped", worker_id=self.worker_id)

    async def _claim_forever(self) -> None:
        concurrency = self.settings.runner_concurrency
        while not self._stopping:
            free = concurrency - len(self.runs)
            if free <= 0:
                self._slot_free.clear()
                await self._slot_free.wait()
                continue
            self._wake.clear()
            try:
                jobs = await self.store.claim(self.worker_id, self.settings.job_lease_seconds, free)
            except DB_ERRORS as exc:
                log.warning("claim_failed", error=str(exc))
                jobs = []
            for job in jobs:
                self._start_run(job)
            if len(jobs) < free:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.settings.poll_interval_seconds):
                        await self._wake.wait()

    def _start_run(self, job: Job) -> None:
        run = Run(job, RunContext(job, self.worker_id, self.store, self.assets))
        self.runs[job.id] = run
        self.metrics.jobs_started.labels(job.job_type).inc()
        task = asyncio.create_task(self._run(run), name=f"job-{job.id}")
        self._run_tasks.add(task)
        task.add_done_callback(self._run_tasks.discard)

    async def _run(self, run: Run) -> None:
        job = run.job
        run.handler_task = asyncio.create_task(self._call_handler(run))
        status, result, error = Status.DONE, None, None
        try:
            result = await run.handler_task
        except asyncio.CancelledError:
            run.context.discard()
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise
            if run.stop_reason == "shutdown":
                await self._final_write(lambda: self.store.requeue(job, self.worker_id))
            self._forget(run, run.stop_reason or "cancelled")
            return
        except JobTimedOut as exc:
            status, error = Status.FAILED, str(exc)
        except Exception as exc:  # a handler's failure is the job's, never the runner's
            status, error = Status.FAILED, str(exc) or type(exc).__name__
            log.info("job_failed", job_id=str(job.id), job_type=job.job_type, error=error)
        await run.context.flush()
        await self._final_write(
            lambda: self.store.finish(
                job,
                self.worker_id,
                status.value,
                result=result,
                result_asset_id=run.context.result_asset_id,
                error_message=error,
            )
        )
        self._forget(run, status.value)

    async def _call_handler(self, run: Run) -> Any:
        job_type = REGISTRY.get(run.job.job_type)
        if job_type is None:
            raise InvalidInput(f"unknown job type {run.job.job_type!r}")
        data = job_type.validate(run.job.input)
        seconds = self.settings.timeout_for(job_type.name, job_type.timeout)
        try:
            async with asyncio.timeout(seconds):
                return await job_type.handler(run.context, data)
        except TimeoutError:
            raise JobTimedOut(f"timed out after {seconds:g} seconds") from None

    def _forget(self, run: Run, outcome: str) -> None:
        self.runs.pop(run.job.id, None)
        self.finished[outcome] = self.finished.get(outcome, 0) + 1
        self.metrics.job_finished(run.job.job_type, outcome, time.monotonic() - run.started)
        self._slot_free.set()

    def _stop_run(self, run: Run, reason: Literal["cancelled", "shutdown"]) -> None:
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
                    if self.runs:
                        await self.store.renew_leases(self.worker_id, list(self.runs), lease)
                if now - last_reap >= min(1.0, lease / 2):
                    last_reap = now
                    await self.store.reap_expired_leases()
            except DB_ERRORS as exc:
                log.warning("watch_failed", error=str(exc))

    async def _stop_cancelled(self) -> None:
        """Stop the handlers of jobs that are no longer ours (cancelled by a client)."""
        if not self.runs:
            return
        ids = list(self.runs)
        alive = await self.store.still_running(self.worker_id, ids)
        for job_id in ids:
            run = self.runs.get(job_id)
            if job_id not in alive and run is not None:
                self._stop_run(run, "cancelled")

    async def _final_write(self, operation: Callable[[], Awaitable[Job | None]]) -> None:
        """Retry a run's last write through a database restart; the lease is kept meanwhile.

        If it still fails, the lease expires and the reaper requeues the job: never lost.
        """
        delay = 0.2
        async with asyncio.timeout(FINAL_WRITE_RETRY_SECONDS):
            while True:
                try:
                    await operation()
                    return
                except DB_ERRORS as exc:
                    log.warning("job_write_failed", error=str(exc), retry_in=delay)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 2.0)

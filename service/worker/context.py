"""The `JobContext` a handler gets: what it may know about its run and what it may do.

Progress writes are coalesced (at most one per `PROGRESS_INTERVAL` per job, the
latest value wins), so a handler may report as often as it likes. Output is
coalesced too (at most one write per `OUTPUT_INTERVAL` per job, the chunks in
between joined into one `output` event), and cut at the job's byte cap. Every
write is guarded by the run's token in the store: a run that lost its job can no
longer change it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid
from collections.abc import AsyncIterable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

import asyncpg
import structlog
from pydantic import BaseModel

from service.assets.store import AssetStore
from service.db.ports import Pipelines, RunLeases
from service.domain.codec import without_nul
from service.domain.jobs import Job, NewJob
from service.domain.limits import MAX_CHILD_KEY
from service.jobtypes import JobTypes, validate_input
from service.tracing import NO_SPAN, Span

log = structlog.get_logger(__name__)

#: progress is written at most this often per job; the latest value wins
PROGRESS_INTERVAL = 0.1
#: output is written at most this often per job; the chunks reported meanwhile are joined
OUTPUT_INTERVAL = 0.05
#: characters of output per write (one event) at most; the rest waits for the next write, so
#: a stream never gets one event too big to pass its slow-client limit
OUTPUT_EVENT_MAX_CHARS = 16_384
#: characters of output waiting unwritten at most: past it `ctx.output()` waits for the writes
OUTPUT_BACKLOG_CHARS = 4 * OUTPUT_EVENT_MAX_CHARS


@dataclasses.dataclass(frozen=True)
class RunPipelines:
    """What a run needs to create children and read its dependencies."""

    store: Pipelines
    job_types: JobTypes
    #: `JOB_MAX_ATTEMPTS`, for a child whose type and call set none
    default_max_attempts: int


class RunContext:
    """One run of one job, as its handler sees it (implements `service.sdk.JobContext`)."""

    def __init__(
        self,
        job: Job,
        input: Any,
        worker_id: str,
        store: RunLeases,
        assets: AssetStore | None,
        *,
        output_max_bytes: int,
    ) -> None:
        self.job = job
        #: the input as the type's model (set once validated)
        self.input = input
        self._worker_id = worker_id
        self._store = store
        self._assets = assets
        self._cancelled = asyncio.Event()
        self.log = log.bind(
            job_id=str(job.id), job_type=job.job_type, company=job.company_id, attempt=job.attempts
        )
        self._latest: tuple[int, str | None] | None = None
        self._written: tuple[int, str | None] | None = None
        self._last_write = 0.0
        self._delayed: asyncio.Task[None] | None = None
        self._writing = asyncio.Lock()
        self.result_asset_id: uuid.UUID | None = None
        #: the run's span (set by the runner; its progress writes are the span's events)
        self.span: Span = NO_SPAN
        #: how this run creates children and reads its dependencies (set by the runner when
        #: its store has pipelines)
        self.pipelines: RunPipelines | None = None
        self._dependencies: dict[str, Any] = {}
        self._output = _Output(job, store, self.log, output_max_bytes)

    @property
    def job_id(self) -> str:
        return str(self.job.id)

    @property
    def company_id(self) -> str:
        return self.job.company_id

    @property
    def attempt(self) -> int:
        return self.job.attempts

    @property
    def max_attempts(self) -> int:
        return self.job.max_attempts

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    async def wait_cancelled(self) -> None:
        await self._cancelled.wait()

    def cancel(self) -> None:
        """The runner's word that this run must stop (cancelled, lease lost, shutdown)."""
        self._cancelled.set()

    async def progress(self, percent: int, message: str | None = None) -> None:
        text = None if message is None else without_nul(str(message))
        self._latest = (max(0, min(100, int(percent))), text)
        wait = self._last_write + PROGRESS_INTERVAL - time.monotonic()
        if wait <= 0 and self._delayed is None:
            await self._write()
        elif self._delayed is None:
            self._delayed = asyncio.create_task(self._write_later(max(wait, 0)))

    async def output(self, text: str) -> None:
        """Stream `text` as the job's next output (coalesced; see the module's docstring)."""
        await self._output.add(text)

    async def store_asset(
        self,
        data: bytes | AsyncIterable[bytes],
        content_type: str,
        filename: str | None = None,
    ) -> str:
        """Store a result file; the job's `resultAssetId` is set when it is marked done."""
        if self._assets is None:
            raise RuntimeError("asset storage is not configured for this runner")
        asset = await self._assets.put(
            self.job.company_id, self.job.id, data, content_type, filename
        )
        self.result_asset_id = asset.id
        return str(asset.id)

    @property
    def dependencies(self) -> Mapping[str, Any]:
        """Each dependency's id to its result (loaded before the handler starts)."""
        return MappingProxyType(self._dependencies)

    async def load_dependencies(self) -> None:
        """Read the dependencies' results, once, before the handler starts (the runner's)."""
        if self.job.depends_on and self.pipelines is not None:
            results = await self.pipelines.store.dependency_results(self.job)
            self._dependencies = {str(job_id): result for job_id, result in results.items()}

    async def submit(
        self,
        job_type: str,
        input: Mapping[str, Any] | BaseModel,
        *,
        key: str,
        priority: int = 0,
        max_attempts: int | None = None,
        depends_on: Sequence[str] = (),
    ) -> str:
        """Create a child job of the same company (`parentJobId`: this job); returns its id.

        `key` names the child among this job's children: a rerun of this job (at least once)
        that submits the same key gets the child the earlier run created, never a second.
        """
        if self.pipelines is None:
            raise RuntimeError("this runner's store cannot create child jobs")
        if not isinstance(key, str) or not 1 <= len(key) <= MAX_CHILD_KEY:
            raise ValueError(f"key must be a string of 1 to {MAX_CHILD_KEY} characters")
        declared = self.pipelines.job_types.get(job_type)
        if declared is None:
            raise ValueError(f"unknown job type {job_type!r}")
        data = input.model_dump(mode="json") if isinstance(input, BaseModel) else dict(input)
        validate_input(declared, data)
        new = NewJob(
            company_id=self.job.company_id,
            job_type=job_type,
            input=data,
            source_task_id=None,
            max_attempts=max_attempts
            or declared.max_attempts
            or self.pipelines.default_max_attempts,
            priority=priority,
            depends_on=tuple(dict.fromkeys(uuid.UUID(str(job_id)) for job_id in depends_on)),
        )
        try:
            child = await self.pipelines.store.submit_child(self.job, key, new)
        except asyncpg.InvalidParameterValueError as exc:  # a dependency not of this company
            raise ValueError(str(exc)) from None
        if child is None:
            raise RuntimeError("this run no longer holds its job: no child was created")
        return str(child)

    async def flush(self) -> None:
        """Write the last reported progress and output before the job ends, so their events
        come before its end."""
        self.discard()
        await self._write()
        await self._output.flush()

    def discard(self) -> None:
        """Drop pending delayed writes: nothing may be written after the job ended."""
        if self._delayed is not None:
            self._delayed.cancel()
            self._delayed = None
        self._output.discard()

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
                await self._store.set_progress(self.job, *latest)
            except Exception as exc:
                self.log.warning("progress_write_failed", error=str(exc))
                return
            self.span.add_event("progress", {"percent": latest[0], "message": latest[1]})


class _Output:
    """A run's output on its way to the job: chunks wait in `pending` for the next write, made
    by a task of its own at most once per `OUTPUT_INTERVAL`, `OUTPUT_EVENT_MAX_CHARS` each,
    one at a time, in order. The handler does not wait for the database, so a slow write
    makes the next event bigger rather than the handler slower, until `OUTPUT_BACKLOG_CHARS`
    wait unwritten: then `add` waits for the writes to catch up. What does not fit under the
    job's byte cap is dropped, and the job is marked truncated once."""

    def __init__(
        self, job: Job, store: RunLeases, log: structlog.typing.FilteringBoundLogger, max_bytes: int
    ) -> None:
        self._job = job
        self._store = store
        self._log = log
        self._max_bytes = max_bytes
        #: the job's output bytes so far (its earlier attempts' included)
        self._bytes = job.output_bytes
        self._cut = job.output_truncated
        self._pending: list[str] = []
        self._pending_chars = 0
        self._room = asyncio.Event()  # set while the backlog is under OUTPUT_BACKLOG_CHARS
        self._room.set()
        self._last_write = 0.0
        self._delayed: asyncio.Task[None] | None = None
        self._sleeping = False  # the delayed write is waiting for its turn, not writing
        self._closed = False  # the run ended: no more delayed writes
        self._writing = asyncio.Lock()

    async def add(self, text: str) -> None:
        chunk = without_nul(str(text))
        if not chunk or self._cut:
            return
        self._pending.append(chunk)
        self._pending_chars += len(chunk)
        self._schedule()
        if self._pending_chars > OUTPUT_BACKLOG_CHARS:
            self._room.clear()
            await self._room.wait()

    def discard(self) -> None:
        """No more delayed writes; one waiting for its turn is dropped, one in flight ends
        (cancelling it could not take back a statement already sent)."""
        self._closed = True
        if self._delayed is not None and self._sleeping:
            self._delayed.cancel()
            self._delayed = None

    def _schedule(self) -> None:
        if self._delayed is None and self._pending and not self._closed:
            wait = max(self._last_write + OUTPUT_INTERVAL - time.monotonic(), 0.0)
            self._delayed = asyncio.create_task(self._write_later(wait))

    async def _write_later(self, delay: float) -> None:
        self._sleeping = True
        try:
            await asyncio.sleep(delay)
        finally:
            self._sleeping = False
        await self.write()
        self._delayed = None
        self._schedule()  # what came meanwhile, no sooner than OUTPUT_INTERVAL after this one

    async def flush(self) -> None:
        """Write everything pending now (the run ends), in as many writes as it takes."""
        while self._pending and not self._cut:
            await self.write()

    async def write(self) -> None:
        async with self._writing:
            if not self._pending or self._cut:
                return
            text = "".join(self._pending)
            rest = text[OUTPUT_EVENT_MAX_CHARS:]
            text = text[:OUTPUT_EVENT_MAX_CHARS]
            self._pending, self._pending_chars = ([rest] if rest else []), len(rest)
            self._last_write = time.monotonic()
            chunk, cut = self._fit(text)
            try:
                size = await self._store.append_output(self._job, chunk, cut)
            except Exception as exc:
                self._log.warning("output_write_failed", error=str(exc))
                size = None
            if size is not None:
                self._bytes = size
                self._cut = cut
            if self._cut:
                self._pending, self._pending_chars = [], 0
            if self._pending_chars <= OUTPUT_BACKLOG_CHARS:
                self._room.set()

    def _fit(self, text: str) -> tuple[str, bool]:
        """`text`, or as much of it as fits under the cap (whole characters) and True."""
        data = text.encode()
        room = max(self._max_bytes - self._bytes, 0)
        if len(data) <= room:
            return text, False
        return data[:room].decode(errors="ignore"), True

"""Every operation on jobs and their events, through the named queries.

The store owns `content_jobs` and `content_job_events`. Each state change is
one statement (one transaction) that updates the job and appends its event;
after the commit the store hands the change to the notifier, so no caller can
forget to announce one.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeAlias

import asyncpg
import uuid6

from service.db.group_commit import GroupCommit
from service.db.pool import DB_ERRORS, connect
from service.db.queries import QUERIES
from service.domain.errors import InvalidRequest
from service.domain.flow import NO_FLOW_CONTROL, FlowControl
from service.domain.jobs import Ended, Event, Job, NewJob, Status
from service.events.notifier import Notifier

#: what runs a query: the pool, or one connection of one's own
Executor: TypeAlias = (
    "asyncpg.Pool[Any] | asyncpg.Connection[Any] | asyncpg.pool.PoolConnectionProxy[Any]"
)
#: a pooled connection, for work in one transaction
Conn: TypeAlias = "asyncpg.pool.PoolConnectionProxy[Any]"


@dataclasses.dataclass(frozen=True, slots=True)
class Submitted:
    """A submitted job as its submitter is answered (a `202`, a batch item): not the whole
    row, whose input is the submitter's own. Decoded back for a full batch it was up to a
    million objects alive at once (and the garbage collector's pauses, walking them, stalled
    the event loop); for one submit, an input as large as its limit sent back and decoded
    for nothing."""

    id: uuid.UUID
    status: Status
    created_at: datetime
    #: False: the idempotency key's job, inserted earlier
    created: bool

    @classmethod
    def from_row(cls, row: asyncpg.Record, created: bool) -> Submitted:
        return cls(row["id"], Status(row["status"]), row["created_at"], created)


#: rows of a batch inserted (and read back) per statement, all in the batch's transaction
BATCH_INSERT_ROWS = 100


@dataclasses.dataclass(frozen=True)
class Progress:
    """A run's progress: `set_progress` records many at once."""

    job: Job
    percent: int
    message: str | None


@dataclasses.dataclass(frozen=True)
class Finish:
    """A run's terminal write: `finish_jobs` applies many at once."""

    job: Job
    status: Ended
    result: Any
    result_asset_id: uuid.UUID | None
    error_message: str | None


def new_job_id() -> uuid.UUID:
    """A UUIDv7: time-ordered, so a day's jobs are one range of ids, which is how the events
    table is partitioned (sql/0005.event-partitions.sql), and new rows land at the right end
    of the primary key's index; its 74 random bits keep ids unguessable."""
    return uuid6.uuid7()


class IdempotencyConflict(Exception):
    """The idempotency key was used before with a different request body."""


class Refused(Exception):
    """Postgres refused a batch item's values (a data exception) that the submit checks let
    through: that item's error, not the batch's."""


class DependencyFailed(Exception):
    """A batch item names an earlier item (`"@<index>"`) that was not submitted."""

    def __init__(self, index: int) -> None:
        super().__init__(index)
        self.index = index


#: what a batch item ends as
ItemResult: TypeAlias = "Submitted | IdempotencyConflict | Refused | DependencyFailed"


def _dependencies(new: NewJob) -> list[uuid.UUID] | None:
    return list(new.depends_on) if new.depends_on else None


def _array_literal(ids: list[uuid.UUID] | None) -> str | None:
    return None if ids is None else "{" + ",".join(str(i) for i in ids) + "}"


async def insert_many(db: Executor, batch: list[NewJob]) -> list[asyncpg.Record]:
    """New jobs without idempotency keys in one statement; their rows in `batch`'s order."""
    ids = [new.job_id or new_job_id() for new in batch]
    rows = await db.fetch(
        QUERIES["insert_jobs"],
        ids,
        [new.company_id for new in batch],
        [new.job_type for new in batch],
        [new.input for new in batch],
        [new.source_task_id for new in batch],
        [new.max_attempts for new in batch],
        [new.priority for new in batch],
        [new.run_at for new in batch],
        [new.delay_seconds for new in batch],
        [new.callback_url for new in batch],
        [new.trace_context for new in batch],
        [_array_literal(_dependencies(new)) for new in batch],
    )
    by_id = {row["id"]: row for row in rows}
    return [by_id[job_id] for job_id in ids]


@dataclasses.dataclass(frozen=True)
class Output:
    """A chunk of a run's output: `append_outputs` writes many at once."""

    job: Job
    chunk: str
    truncated: bool


async def _by_run(
    db: Executor, query: str, jobs: list[Job], *arrays: list[Any]
) -> list[asyncpg.Record | None]:
    """A statement that writes for many runs at once (its first arrays the jobs' ids and the
    runs' tokens, then `arrays`): each run's returned row, or None where the job is no longer
    that run's, in `jobs`' order. Rows are matched by job and token: when a stale run and the
    job's current run write in one statement, the stale one must not get the other's row."""
    rows = await db.fetch(query, [job.id for job in jobs], [job.run_token for job in jobs], *arrays)
    found = {(row["id"], row["run_token"]): row for row in rows}
    return [found.get((job.id, job.run_token)) for job in jobs]


async def append_many(db: Executor, batch: list[Output]) -> list[tuple[int, int] | None]:
    """Output writes of many runs in one statement; each one's (new event seq, output bytes),
    or None where the job is no longer that run's, in `batch`'s order."""
    rows = await _by_run(
        db, QUERIES["append_outputs"], [o.job for o in batch],
        [o.chunk for o in batch], [o.truncated for o in batch],
    )  # fmt: skip
    return [None if row is None else (row["event_seq"], row["output_bytes"]) for row in rows]


async def progress_many(db: Executor, batch: list[Progress]) -> list[int | None]:
    """Progress of many runs in one statement; each run's new event seq, or None where its
    progress was unchanged or the job is no longer that run's, in `batch`'s order."""
    rows = await _by_run(
        db, QUERIES["set_progress"], [p.job for p in batch],
        [p.percent for p in batch], [p.message for p in batch],
    )  # fmt: skip
    return [None if row is None else row["event_seq"] for row in rows]


async def finish_many(db: Executor, batch: list[Finish]) -> list[int | None]:
    """Terminal writes in one statement; each run's new event seq, or None where the job is
    no longer that run's (cancelled, reaped), in `batch`'s order."""
    rows = await _by_run(
        db, QUERIES["finish_jobs"], [f.job for f in batch],
        [f.status.value for f in batch], [f.result for f in batch],
        [f.result_asset_id for f in batch], [f.error_message for f in batch],
    )  # fmt: skip
    return [None if row is None else row["event_seq"] for row in rows]


def _resolved(
    new: NewJob, results: list[ItemResult | None], pending: dict[int, NewJob]
) -> NewJob | DependencyFailed:
    """`new` with its `"@<index>"` dependencies as job ids: of the items inserted already
    (`results`) or about to be in the same statement (`pending`, ids chosen)."""
    ids = list(new.depends_on)
    for index in new.depends_on_items:
        done = results[index]
        if isinstance(done, Submitted):
            ids.append(done.id)
        elif index in pending and (chosen := pending[index].job_id) is not None:
            ids.append(chosen)
        else:
            return DependencyFailed(index)
    unique = tuple(dict.fromkeys(ids))
    return dataclasses.replace(new, depends_on=unique, depends_on_items=())


async def _insert_pipeline(conn: Conn, batch: list[NewJob]) -> list[ItemResult]:
    """A batch whose items depend on earlier items: inserted in order (an item's row after
    those it depends on, which the trigger counting its wait must see), consecutive items
    without keys still many to a statement."""
    results: list[ItemResult | None] = [None] * len(batch)
    pending: dict[int, NewJob] = {}

    async def flush() -> None:
        indexes = list(pending)
        for start in range(0, len(indexes), BATCH_INSERT_ROWS):
            part = indexes[start : start + BATCH_INSERT_ROWS]
            rows = await insert_many(conn, [pending[i] for i in part])
            for i, row in zip(part, rows, strict=True):
                results[i] = Submitted.from_row(row, True)
        pending.clear()

    for i, item in enumerate(batch):
        new = _resolved(item, results, pending)
        if isinstance(new, DependencyFailed):
            results[i] = new
        elif new.idempotency_key is None:
            pending[i] = dataclasses.replace(new, job_id=new.job_id or new_job_id())
        else:
            await flush()
            results[i] = await _insert_keyed_item(conn, new)
    await flush()
    return [result for result in results if result is not None]


async def _insert_batch(conn: Conn, batch: list[NewJob]) -> list[ItemResult]:
    if any(new.depends_on_items for new in batch):
        return await _insert_pipeline(conn, batch)
    results: list[ItemResult | None] = [None] * len(batch)
    plain = [i for i, new in enumerate(batch) if new.idempotency_key is None]
    for start in range(0, len(plain), BATCH_INSERT_ROWS):
        part = plain[start : start + BATCH_INSERT_ROWS]
        rows = await insert_many(conn, [batch[i] for i in part])
        for i, row in zip(part, rows, strict=True):
            results[i] = Submitted.from_row(row, True)
    for i, new in enumerate(batch):
        if new.idempotency_key is not None:
            results[i] = await _insert_keyed_item(conn, new)
    return [result for result in results if result is not None]


async def _insert_alone(conn: Conn, item: NewJob, results: list[ItemResult | None]) -> ItemResult:
    """One item of a batch in its own savepoint: a refusal undoes only this item (and fails
    the items that depend on it)."""
    new = _resolved(item, results, {})
    if isinstance(new, DependencyFailed):
        return new
    try:
        async with conn.transaction():
            if new.idempotency_key is not None:
                return await _insert_keyed_item(conn, new)
            return Submitted.from_row((await insert_many(conn, [new]))[0], True)
    except asyncpg.DataError as exc:
        return Refused(str(exc).split("\n")[0])


async def _insert_keyed_item(conn: Conn, new: NewJob) -> Submitted | IdempotencyConflict:
    try:
        row, created = await insert_keyed(conn, new)
    except IdempotencyConflict as exc:
        return exc
    return Submitted.from_row(row, created)


async def insert_keyed(db: Executor, new: NewJob) -> tuple[asyncpg.Record, bool]:
    """A job with an idempotency key: (its row, True), or the key's job (row, False).

    Concurrent submissions with one key meet at the unique constraint: one inserts, the
    others wait for its commit and then read its row. A key past its 24 hours is released.
    """
    for _ in range(3):
        row = await db.fetchrow(
            QUERIES["insert_job"],
            new_job_id(),
            new.company_id,
            new.job_type,
            new.input,
            new.source_task_id,
            new.max_attempts,
            new.idempotency_key,
            new.idempotency_hash,
            new.priority,
            new.run_at,
            new.delay_seconds,
            new.callback_url,
            new.trace_context,
            _dependencies(new),
        )
        if row is not None:
            return row, True
        existing = await db.fetchrow(
            QUERIES["find_by_idempotency_key"], new.company_id, new.idempotency_key
        )
        if existing is None:
            continue  # the key's holder was released meanwhile: insert again
        if existing["key_expired"]:
            await db.execute(
                QUERIES["release_idempotency_key"], new.company_id, new.idempotency_key
            )
            continue
        if existing["idempotency_hash"] != new.idempotency_hash:
            raise IdempotencyConflict
        return existing, False
    raise RuntimeError("idempotency key kept changing hands")  # pragma: no cover


@dataclasses.dataclass(frozen=True)
class ListFilter:
    status: str | None = None
    job_type: str | None = None
    source_task_id: str | None = None
    #: keyset cursor: (createdAt, id) of the last job of the previous page
    after: tuple[datetime, uuid.UUID] | None = None
    #: only the children of this job
    parent_job_id: uuid.UUID | None = None


class Store:
    """Jobs in Postgres, for all three callers (`service.db.ports`): `Commands` (the API),
    `EventLog` (streams, the listener) and `RunLeases` (the runner).

    The lease watch (`renew_leases`, `still_running`, `reap_expired_leases`) runs on a
    connection of its own when `watch_dsn` is given (the application's store), so a pool
    saturated by requests or runs cannot hold up the renewals that keep those runs alive;
    without it (a test's store), on the pool.
    """

    def __init__(
        self,
        pool: asyncpg.Pool[Any],
        notifier: Notifier,
        *,
        watch_dsn: str | None = None,
        statement_cache_size: int = 100,
    ) -> None:
        self.pool = pool
        self.notifier = notifier
        self._watch_dsn = watch_dsn
        self._statement_cache_size = statement_cache_size
        self._watch_conn: asyncpg.Connection[Any] | None = None
        self._watching = asyncio.Lock()  # one statement at a time on that connection
        self._inserts: GroupCommit[NewJob, asyncpg.Record] = GroupCommit(
            lambda batch: insert_many(pool, batch), "insert-batcher"
        )
        self._finishes: GroupCommit[Finish, int | None] = GroupCommit(
            lambda batch: finish_many(pool, batch), "finish-batcher"
        )
        self._outputs: GroupCommit[Output, tuple[int, int] | None] = GroupCommit(
            lambda batch: append_many(pool, batch), "output-batcher"
        )
        self._progress: GroupCommit[Progress, int | None] = GroupCommit(
            lambda batch: progress_many(pool, batch), "progress-batcher"
        )

    async def submit(self, new: NewJob) -> Submitted:
        """Insert a job; with an idempotency key, return the key's job instead (created=False).

        Either way the job is committed when this returns. Concurrent submissions
        with one key meet at the unique constraint: one inserts, the others wait
        for its commit and then read its row.
        """
        try:
            if new.idempotency_key is None and not new.depends_on:
                inserted = await self._inserts.run(new)
                self.notifier.job_queued()
                return Submitted.from_row(inserted, True)
            if new.idempotency_key is None:  # alone: its trigger may refuse it (not a group)
                row, created = (await insert_many(self.pool, [new]))[0], True
            else:
                row, created = await insert_keyed(self.pool, new)
        except asyncpg.InvalidParameterValueError as exc:  # 0010.pipelines.sql's refusal
            raise InvalidRequest(str(exc).split("\n")[0]) from None
        if created:
            self.notifier.job_queued()
        return Submitted.from_row(row, created)

    async def submit_batch(self, batch: list[NewJob]) -> list[ItemResult]:
        """Insert many jobs in one transaction: the ones without a key `BATCH_INSERT_ROWS` to
        a statement, each keyed one as `submit` does (a conflicting key is that item's
        result, not the batch's failure). Results in `batch`'s order.

        Should Postgres refuse some item's values, the transaction is rolled back and the
        batch inserted again item by item, each in a savepoint: that item is `Refused`, the
        others are still committed together."""
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                results = await _insert_batch(conn, batch)
        except asyncpg.DataError:
            async with self.pool.acquire() as conn, conn.transaction():
                alone: list[ItemResult | None] = [None] * len(batch)
                for i, new in enumerate(batch):
                    alone[i] = await _insert_alone(conn, new, alone)
                results = [result for result in alone if result is not None]
        self.notifier.job_queued()
        return results

    async def existing_jobs(self, company_id: str, ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        """Which of `ids` are jobs of the company (what `dependsOn` may name)."""
        rows = await self.pool.fetch(QUERIES["existing_jobs"], company_id, list(ids))
        return {row["id"] for row in rows}

    async def submit_child(self, parent: Job, key: str, new: NewJob) -> uuid.UUID | None:
        """The child of `parent`'s run under `key`: inserted (fenced by the run's token), or
        the one an earlier run of the parent inserted (a rerun gets it, never a second)."""
        row = await self.pool.fetchrow(
            QUERIES["insert_child"],
            new_job_id(),
            new.job_type,
            new.input,
            new.max_attempts,
            new.priority,
            parent.id,
            key,
            parent.run_token,
            _dependencies(new),
        )
        if row is None:
            child: uuid.UUID | None = await self.pool.fetchval(
                QUERIES["find_child"], parent.id, key
            )
            return child
        self.notifier.job_queued()
        self.notifier.job_changed(row["id"], row["event_seq"])
        created: uuid.UUID = row["id"]
        return created

    async def dependency_results(self, job: Job) -> dict[uuid.UUID, Any]:
        rows = await self.pool.fetch(
            QUERIES["dependency_results"], list(job.depends_on), job.company_id
        )
        return {row["id"]: row["result"] for row in rows}

    async def get(self, company_id: str, job_id: uuid.UUID) -> Job | None:
        row = await self.pool.fetchrow(QUERIES["get_job"], job_id, company_id)
        return Job.from_row(row) if row else None

    async def snapshot(self, company_id: str, job_id: uuid.UUID) -> Event | None:
        """The job's current state as a `status` event numbered with its newest event's seq."""
        row = await self.pool.fetchrow(QUERIES["get_job_snapshot"], job_id, company_id)
        if row is None:
            return None
        return Event(job_id=job_id, seq=row["event_seq"], type="status", data=row["snapshot"])

    async def list_jobs(self, company_id: str, where: ListFilter, limit: int) -> list[Job]:
        after_time, after_id = where.after or (None, None)
        rows = await self.pool.fetch(
            QUERIES["list_jobs"],
            company_id,
            where.status,
            where.job_type,
            where.source_task_id,
            after_time,
            after_id,
            limit,
            where.parent_job_id,
        )
        return [Job.from_row(row) for row in rows]

    async def cancel(self, company_id: str, job_id: uuid.UUID) -> Job | None:
        """Cancel a queued or running job; None when it is missing or already terminal."""
        row = await self.pool.fetchrow(QUERIES["cancel_job"], job_id, company_id)
        return self._announced(row)

    async def events_after(self, job_id: uuid.UUID, seq: int) -> list[Event]:
        rows = await self.pool.fetch(QUERIES["events_after"], job_id, seq)
        return [Event.from_row(row) for row in rows]

    async def events_after_many(self, after: dict[uuid.UUID, int]) -> dict[uuid.UUID, list[Event]]:
        """The new events of several jobs at once: {job id: events after its seq, in order}."""
        rows = await self.pool.fetch(
            QUERIES["events_after_many"], list(after), list(after.values())
        )
        events: dict[uuid.UUID, list[Event]] = {}
        for row in rows:
            events.setdefault(row["job_id"], []).append(Event.from_row(row))
        return events

    async def event_seqs(self, job_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, int]:
        rows = await self.pool.fetch(QUERIES["event_seqs"], list(job_ids))
        return {row["id"]: row["event_seq"] for row in rows}

    async def queue_stats(self) -> list[tuple[str, int, int, float]]:
        """Per company: (company, ready jobs, jobs waiting on run_at, oldest ready age)."""
        rows = await self.pool.fetch(QUERIES["queue_stats"])
        return [(r["company_id"], r["ready"], r["delayed"], r["oldest_ready"]) for r in rows]

    # --- the runner's transitions -------------------------------------------------

    async def retry(self, company_id: str, job_id: uuid.UUID) -> Job | None:
        """Queue a failed or cancelled job again; None when it is missing or not retryable."""
        row = await self.pool.fetchrow(QUERIES["retry_job"], job_id, company_id)
        if row is not None:
            self.notifier.job_queued()
        return self._announced(row)

    async def queued_count(self, company_id: str, up_to: int) -> int:
        count: int = await self.pool.fetchval(QUERIES["queued_count"], company_id, up_to)
        return count

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
        """Up to `limit` ready jobs, now running under this worker's lease, each with a run
        token of its own; of the `cpu_types`, at most `cpu_free` jobs; none of a paused type,
        and within `flow`'s rate limits, ranked by its weights."""
        # Without a rate limit the claim needs none of their bookkeeping (slots to lock, count
        # and mark), which costs about half a claim: it is a statement of its own.
        limited = bool(flow.rate_limits)
        rows = await self.pool.fetch(
            QUERIES["claim_jobs_limited" if limited else "claim_jobs"],
            worker_id,
            lease_seconds,
            limit,
            company_max_running,
            list(cpu_types),
            cpu_free,
            *(flow.limit_arrays() if limited else ()),
            *flow.weight_arrays(),
        )
        for row in rows:
            self.notifier.job_changed(row["id"], row["event_seq"])
        if rows:
            # The hints go out before the rows become runs: turning a claim of 1,000 into
            # jobs and runs is ~50 ms of Python in one step, which every stream waiting for
            # its job's `running` event otherwise waited for first (BENCHMARKS.md, "Fan-out").
            await asyncio.sleep(0)
        return [Job.from_row(row) for row in rows]

    # Every write of a run is fenced by the run's token (`job.run_token`, from its claim):
    # once the job was cancelled, reaped or retried, the run can no longer change it, even
    # when the same worker claims it again.

    async def set_progress(self, job: Job, percent: int, message: str | None) -> None:
        """Record the run's progress (a `progress` event when it changed). Runs that report
        together share one statement and one commit (group commit): the handlers of a large
        claim all write their first progress in the same instant, and one commit each made the
        last of 1,000 wait ~0.6 s for its turn on the pool."""
        seq = await self._progress.run(Progress(job, percent, message))
        if seq is not None:
            self.notifier.job_changed(job.id, seq)

    async def append_output(self, job: Job, chunk: str, truncated: bool) -> int | None:
        """Append a chunk (already cut to fit the cap; '' with `truncated` marks the job's
        output as cut) and its `output` event; the job's output bytes after it, or None when
        the job is no longer this run's. Runs that write together share one statement and one
        commit (group commit): every streaming job writing up to 20 times a second would
        otherwise be that many commits each."""
        written = await self._outputs.run(Output(job, chunk, truncated))
        if written is None:
            return None
        seq, size = written
        if chunk:
            self.notifier.job_changed(job.id, seq)
        return size

    async def output(self, company_id: str, job_id: uuid.UUID) -> tuple[str, bool] | None:
        """The job's whole output so far and whether some was dropped; None: no such job."""
        row = await self.pool.fetchrow(QUERIES["get_output"], job_id, company_id)
        return None if row is None else (row["text"], row["output_truncated"])

    async def finish(
        self,
        job: Job,
        status: Ended,
        *,
        result: Any = None,
        result_asset_id: uuid.UUID | None = None,
        error_message: str | None = None,
    ) -> bool:
        """End this run as done or failed; False if the job is no longer this run's. Runs that
        end together share one statement and one commit (group commit)."""
        finish = Finish(job, status, result, result_asset_id, error_message)
        seq = await self._finishes.run(finish)
        if seq is None:
            return False
        self.notifier.job_changed(job.id, seq)
        return True

    async def seconds_to_next_run(self) -> float | None:
        """Seconds until the earliest waiting job that is not ready yet may start."""
        seconds: float | None = await self.pool.fetchval(QUERIES["next_run_at"])
        return seconds

    async def rate_limit_wait(self, flow: FlowControl) -> float | None:
        """Seconds until a rate limit with no free slot frees one (0: slots were just
        created, claim again); None when no limit holds a job back."""
        if not flow.rate_limits:
            return None
        seconds: float | None = await self.pool.fetchval(
            QUERIES["rate_limit_wait"], *flow.limit_arrays()
        )
        return seconds

    async def paused_job_types(self) -> set[str]:
        """The job types an admin paused (their jobs stay queued)."""
        rows = await self.pool.fetch(QUERIES["paused_job_types"])
        return {row["job_type"] for row in rows}

    async def set_paused(self, job_type: str, paused: bool) -> None:
        """Pause or resume a job type, for every worker from its next claim on."""
        if paused:
            await self.pool.execute(QUERIES["pause_job_type"], job_type)
            return
        await self.pool.execute(QUERIES["resume_job_type"], job_type)
        self.notifier.job_queued()  # its waiting jobs may start now

    async def redrive(
        self,
        company_id: str,
        status: Status,
        job_type: str | None,
        finished_after: datetime | None,
        limit: int,
    ) -> int:
        """Queue again, in one statement, up to `limit` of the company's jobs ended with
        `status` (failed or cancelled), of `job_type` and finished after `finished_after`
        when given; how many."""
        rows = await self.pool.fetch(
            QUERIES["redrive_jobs"], company_id, status.value, job_type, finished_after, limit
        )
        for row in rows:
            self.notifier.job_changed(row["id"], row["event_seq"])
        if rows:
            self.notifier.job_queued()
        return len(rows)

    async def fail_attempt(self, job: Job, error_message: str, retry_in: float) -> Job | None:
        """A transient failure: queued again after `retry_in` seconds, or failed at the limit."""
        row = await self.pool.fetchrow(
            QUERIES["fail_attempt"], job.id, job.run_token, error_message, retry_in
        )
        if row is not None and row["status"] == "queued":
            self.notifier.job_queued()
        return self._announced(row)

    async def requeue(self, job: Job) -> Job | None:
        row = await self.pool.fetchrow(QUERIES["requeue_job"], job.id, job.run_token)
        if row is not None:
            self.notifier.job_queued()
        return self._announced(row)

    # The watch: on its own connection (see the class's docstring).

    async def renew_leases(self, runs: Sequence[Job], lease_seconds: float) -> set[int]:
        """Extends the leases of these runs' jobs; the tokens of the runs still holding theirs."""
        rows = await self._watch_fetch(
            QUERIES["renew_leases"],
            [job.id for job in runs],
            [job.run_token for job in runs],
            lease_seconds,
        )
        return {row["run_token"] for row in rows}

    async def still_running(self, runs: Sequence[Job]) -> set[int]:
        """The tokens of the runs whose job is still theirs (not cancelled, reaped or retried)."""
        rows = await self._watch_fetch(
            QUERIES["still_running"], [job.id for job in runs], [job.run_token for job in runs]
        )
        return {row["run_token"] for row in rows}

    async def reap_expired_leases(self, limit: int = 100) -> list[Job]:
        rows = await self._watch_fetch(QUERIES["reap_expired_leases"], limit)
        jobs = [Job.from_row(row) for row in rows]
        for job in jobs:
            self.notifier.job_changed(job.id, job.event_seq)
        if any(not job.status.terminal for job in jobs):
            self.notifier.job_queued()
        return jobs

    async def close(self) -> None:
        """Drop the watch's connection (the pool and the notifier are their owner's)."""
        if self._watch_conn is not None:
            self._watch_conn.terminate()
            self._watch_conn = None

    async def _watch_fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        if self._watch_dsn is None:
            return await self.pool.fetch(query, *args)
        async with self._watching:
            try:
                if self._watch_conn is None or self._watch_conn.is_closed():
                    self._watch_conn = await asyncio.wait_for(
                        connect(self._watch_dsn, "content-jobs-leases", self._statement_cache_size),
                        timeout=5,
                    )
                return await self._watch_conn.fetch(query, *args)
            except DB_ERRORS:
                await self.close()  # a fresh connection next time: this one may be wedged
                raise

    def _announced(self, row: asyncpg.Record | None) -> Job | None:
        if row is None:
            return None
        job = Job.from_row(row)
        self.notifier.job_changed(job.id, job.event_seq)
        return job

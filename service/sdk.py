"""The public handler API of content-jobs: everything a job-type plugin imports.

A plugin declares each of its job types once, as a `JobType`: a name, a
description, a pydantic model of its input (the JSON Schema served by the API
and the submit-time validation both come from it), the handler, and its
policies (timeout, attempts, retry backoff, whether it is CPU-bound).

A handler is `async def handler(ctx: JobContext[Input]) -> result`: it gets a
`JobContext` and returns the job's result (anything JSON can hold). A CPU-bound
type (`cpu_bound=True`) has a plain function instead, `def handler(input) ->
result`, which runs in a separate worker process (a pool of `CPU_WORKERS`) so it can
never hold up the replica's event loop; that process is killed and replaced when
the job times out or is cancelled. It must be importable by its module path (a
module-level function), and may return an `Asset` to have its bytes stored as the
job's result file. It raises `TransientError` for a failure worth retrying (with backoff,
until the job's `maxAttempts`) and `PermanentError` for one that no retry can
fix; any other exception counts as transient. A job runs at least once and may
run more than once (a worker can die after the work and before its commit), so
a handler must be idempotent: `ctx.attempt` says which attempt this is.

Names defined here keep their meaning across releases; everything else in
`service` is internal.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import AsyncIterable, Awaitable, Callable, Mapping, Sequence
from typing import Any, Generic, Protocol, TypeVar

import structlog
from pydantic import BaseModel

__all__ = [
    "Asset",
    "JobContext",
    "JobType",
    "PermanentError",
    "RetryPolicy",
    "TransientError",
]

InputT = TypeVar("InputT", bound=BaseModel)
InputT_co = TypeVar("InputT_co", bound=BaseModel, covariant=True)


class TransientError(Exception):
    """A failure worth retrying: the job goes back to the queue with backoff
    (until its `maxAttempts`); the message becomes that attempt's `errorMessage`."""


class PermanentError(Exception):
    """A failure no retry can fix (bad input found late): the job fails at once."""


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter between a job's attempts.

    The wait before attempt n + 1 is uniform in [0, min(max_seconds, base_seconds * 2^(n-1))]:
    full jitter spreads the retries of jobs that failed together (one outage) instead of
    sending them back in waves.
    """

    base_seconds: float = 2.0
    max_seconds: float = 300.0

    def __post_init__(self) -> None:
        if not 0 < self.base_seconds <= self.max_seconds:
            raise ValueError("retry policy needs 0 < base_seconds <= max_seconds")

    def ceiling(self, failed_attempt: int) -> float:
        """The longest wait after attempt `failed_attempt` (1-based) failed."""
        exponent = min(max(failed_attempt - 1, 0), 62)
        return min(self.max_seconds, self.base_seconds * 2.0**exponent)

    def delay(self, failed_attempt: int, rng: Callable[[], float] = random.random) -> float:
        """Seconds to wait before the next attempt, after attempt `failed_attempt` failed."""
        return rng() * self.ceiling(failed_attempt)


class JobContext(Protocol, Generic[InputT_co]):
    """What a running handler gets. The runner provides it; handlers never build one."""

    @property
    def job_id(self) -> str: ...

    @property
    def company_id(self) -> str: ...

    @property
    def input(self) -> InputT_co:
        """The job's input, validated into the type's model."""

    @property
    def attempt(self) -> int:
        """1 on the first run, 2 on the first retry, ... (handlers must be idempotent)."""

    @property
    def max_attempts(self) -> int: ...

    @property
    def log(self) -> structlog.typing.FilteringBoundLogger:
        """A logger bound to the job (job id, type, company, attempt)."""

    @property
    def cancelled(self) -> bool:
        """True once the job was cancelled (or this run lost its lease): stop soon."""

    async def wait_cancelled(self) -> None:
        """Returns when the job is cancelled; for handlers that race work against it."""

    async def progress(self, percent: int, message: str | None = None) -> None:
        """Report progress 0-100; cheap to call often (writes are coalesced)."""

    async def output(self, text: str) -> None:
        """Stream text (generated tokens, log lines) as the job's output: each write becomes
        an `output` event on its stream, and `GET .../output` serves it all. Cheap to call
        often: chunks are joined, one write per 50 ms at most. Output past
        `JOB_OUTPUT_MAX_BYTES` is dropped (the job's `outputTruncated` says so). A job's
        output accumulates across its attempts (`ctx.attempt` tells a retry)."""

    @property
    def dependencies(self) -> Mapping[str, Any]:
        """The result of each job this one depends on (`dependsOn`), by job id: all of them
        are `done` before it starts. Empty for a job without dependencies."""

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
        """Create a child job of the same company (its `parentJobId` is this job) and return
        its id; it may depend on other jobs (`depends_on`, e.g. children submitted before).
        `key` (1-200 characters) names the child among this job's children: a rerun of this
        job that submits the same key gets the child the earlier run created, never a
        second one. Raises `ValueError` for an unknown type or an invalid input."""

    async def store_asset(
        self,
        data: bytes | AsyncIterable[bytes],
        content_type: str,
        filename: str | None = None,
    ) -> str:
        """Store a result file (bytes, or chunks as they are produced); returns its asset id.
        The job's `resultAssetId` names the last stored asset once the job is done."""


@dataclasses.dataclass(frozen=True)
class Asset:
    """What a CPU-bound handler returns to have a file stored as the job's result: the
    job's `resultAssetId` names it, and its result is `{"assetId", "bytes", "contentType"}`."""

    data: bytes
    content_type: str
    filename: str | None = None


Handler = Callable[[JobContext[InputT]], Awaitable[Any]]
CpuHandler = Callable[[InputT], Any]


@dataclasses.dataclass(frozen=True)
class JobType(Generic[InputT]):
    """One job type, declared once. Registered through the entry-point group
    `content_jobs.job_types` (or a module in `JOB_TYPE_MODULES`)."""

    #: what clients put in `jobType`: 1-100 characters of letters, digits, `.`, `_` or `-`
    name: str
    #: one or two sentences for `GET /api/job-types`, OpenAPI and the web page
    description: str
    #: the input's pydantic model: submit-time validation and the JSON Schema both come from it
    input_model: type[InputT]
    #: `async def (ctx) -> result`; with `cpu_bound`, `def (input) -> result | Asset`
    handler: Handler[InputT] | CpuHandler[InputT]
    #: seconds before a run fails as timed out; None: `JOB_TIMEOUT_SECONDS`
    timeout_seconds: float | None = None
    #: attempts before the job fails; None: `JOB_MAX_ATTEMPTS` (a submit may set its own)
    max_attempts: int | None = None
    retry: RetryPolicy = RetryPolicy()
    #: the handler does CPU-heavy work: it runs in a separate process (see README)
    cpu_bound: bool = False
    #: at most N starts per T seconds across every worker: `"5/1s"`, or `"5/1s/company"` for
    #: each company on its own; `JOB_TYPE_RATE_LIMITS` overrides it (see README)
    rate_limit: str | None = None

"""The job model: statuses, the transition rules and the JSON shapes. No I/O."""

from __future__ import annotations

import dataclasses
import enum
import functools
import uuid
from datetime import datetime
from typing import Any, Literal, Protocol, TypeAlias

import orjson

from service.domain.codec import dumps


class Row(Protocol):
    """A database row as the domain reads it: asyncpg's Record, or any mapping with the
    same keys (the domain does no I/O and does not know asyncpg)."""

    def __getitem__(self, key: str, /) -> Any: ...
    def get(self, key: str, /) -> Any: ...


class Status(enum.StrEnum):
    """A job's status: the one list of them. The Python client, the CLI, the OpenAPI
    document and the web page (filled in by `service/api/pages.py`) read it from here; the
    SQL's CHECK constraint is held to it by a test
    (`tests/integration/test_database_constraints_match_the_domain.py`)."""

    #: waiting for a worker
    QUEUED = "queued"
    #: claimed by a worker holding a lease
    RUNNING = "running"
    #: finished with a result (terminal)
    DONE = "done"
    #: the handler raised, timed out or ran out of attempts (terminal)
    FAILED = "failed"
    #: cancelled by a client (terminal)
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL


TERMINAL = frozenset({Status.DONE, Status.FAILED, Status.CANCELLED})
#: what a client may retry (`POST .../retry`; the `retry` query checks the same)
RETRYABLE = frozenset({Status.FAILED, Status.CANCELLED})

#: how a run may end its job itself (cancelled is a client's doing, never a run's)
Ended: TypeAlias = Literal[Status.DONE, Status.FAILED]


@dataclasses.dataclass(frozen=True)
class Job:
    id: uuid.UUID
    company_id: str
    job_type: str
    status: Status
    input: dict[str, Any]
    source_task_id: str | None
    progress_percent: int
    progress_message: str | None
    result: Any
    result_asset_id: uuid.UUID | None
    error_message: str | None
    attempts: int
    max_attempts: int
    priority: int
    run_at: datetime
    callback_url: str | None
    event_seq: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime
    #: the latest completion callback's state (`GET` of one job only; None elsewhere)
    callback: dict[str, Any] | None = None
    #: output past JOB_OUTPUT_MAX_BYTES was dropped (`outputTruncated`)
    output_truncated: bool = False
    #: the UTF-8 bytes of the job's output so far (internal: a run's room under the cap)
    output_bytes: int = 0
    #: the schedule whose tick submitted the job (`scheduleId`; the schedule may be gone)
    schedule_id: uuid.UUID | None = None
    #: the token of the job's latest claim: every write of a run is fenced by it (internal,
    #: never shown to clients; None in rows that do not carry it, such as list pages)
    run_token: int | None = None
    #: the W3C `traceparent` stored at submit (internal; None when tracing was off then)
    trace_context: str | None = None
    #: the jobs it runs after (`dependsOn`), and those of them not done yet (`waitingOn`:
    #: read by `GET` and the list only; empty elsewhere)
    depends_on: tuple[uuid.UUID, ...] = ()
    waiting_on: tuple[uuid.UUID, ...] = ()
    #: the job whose handler created it (`ctx.submit`)
    parent_job_id: uuid.UUID | None = None

    @classmethod
    def from_row(cls, row: Row) -> Job:
        values = {name: row[name] for name in _REQUIRED if name != "status"}
        return cls(
            **values,
            status=Status(row["status"]),
            callback=row.get("callback"),
            output_truncated=row.get("output_truncated") or False,
            output_bytes=row.get("output_bytes") or 0,
            run_token=row.get("run_token"),
            schedule_id=row.get("schedule_id"),
            trace_context=row.get("trace_context"),
            depends_on=tuple(row.get("depends_on") or ()),
            waiting_on=tuple(row.get("waiting_on") or ()),
            parent_job_id=row.get("parent_job_id"),
        )

    def to_json(self, *, detail: bool = True) -> dict[str, Any]:
        """The job resource of docs/api.md; without `detail` (list items), no input or result."""
        data = {
            "id": self.id,
            "companyId": self.company_id,
            "jobType": self.job_type,
            "status": self.status.value,
            "input": self.input,
            "sourceTaskId": self.source_task_id,
            "progress": {"percent": self.progress_percent, "message": self.progress_message},
            "result": self.result,
            "resultAssetId": self.result_asset_id,
            "errorMessage": self.error_message,
            "attempts": self.attempts,
            "maxAttempts": self.max_attempts,
            "priority": self.priority,
            "runAt": self.run_at,
            "callbackUrl": self.callback_url,
            "scheduleId": self.schedule_id,
            "dependsOn": list(self.depends_on),
            "waitingOn": list(self.waiting_on),
            "parentJobId": self.parent_job_id,
            "outputTruncated": self.output_truncated,
            "createdAt": self.created_at,
            "startedAt": self.started_at,
            "finishedAt": self.finished_at,
            "updatedAt": self.updated_at,
        }
        if detail:
            data["callback"] = self.callback
        else:
            del data["input"], data["result"]
        return data


_REQUIRED = [f.name for f in dataclasses.fields(Job) if f.default is dataclasses.MISSING]


@dataclasses.dataclass(frozen=True)
class Event:
    """One row of a job's history: what the event stream sends, with `seq` as its id."""

    job_id: uuid.UUID
    seq: int
    type: str
    data: dict[str, Any]

    @classmethod
    def from_row(cls, row: Row) -> Event:
        return cls(job_id=row["job_id"], seq=row["seq"], type=row["event_type"], data=row["data"])

    @property
    def terminal(self) -> bool:
        return self.type == "status" and Status(self.data["status"]).terminal

    @functools.cached_property
    def frame(self) -> bytes:
        """The event as it goes over the wire (SSE, `\r\n` lines as aiohttp-sse writes them),
        encoded once however many streams send it."""
        return b"id: %d\r\nevent: %s\r\ndata: %s\r\n\r\n" % (
            self.seq,
            self.type.encode(),
            dumps(self.data),
        )

    @functools.cached_property
    def chunk(self) -> bytes:
        """The frame as one HTTP/1.1 chunk: what a parked stream's transport is given
        directly (`Subscription.wake`), also encoded once for all streams."""
        return b"%x\r\n%b\r\n" % (len(self.frame), self.frame)


def channel(job_id: uuid.UUID) -> str:
    """The NOTIFY channel of one job (well under Postgres's 63-byte limit)."""
    return f"content_job:{job_id}"


#: the channel idle workers listen on; its payload is empty
QUEUED_CHANNEL = "content_jobs_queued"


@dataclasses.dataclass(frozen=True)
class NewJob:
    """A job to insert, as a submission asks for it (checked by `service.domain.submission`)."""

    company_id: str
    job_type: str
    #: or, checked already, its encoded JSON (a batch keeps no parsed inputs around)
    input: dict[str, Any] | orjson.Fragment
    source_task_id: str | None
    max_attempts: int
    priority: int = 0
    #: when it may start; None: `delay_seconds` after its insert (the database's clock)
    run_at: datetime | None = None
    delay_seconds: float | None = None
    callback_url: str | None = None
    idempotency_key: str | None = None
    idempotency_hash: str | None = None
    #: the W3C `traceparent` of the submit's span (tracing on), continued by the job's runs
    trace_context: str | None = None
    #: `dependsOn`: jobs of the company it runs after (checked to exist before the insert)
    depends_on: tuple[uuid.UUID, ...] = ()
    #: `dependsOn` of a batch item naming earlier items (`"@<index>"`): their indexes
    depends_on_items: tuple[int, ...] = ()
    #: its id, when it must be known before the insert (a batch's `@<index>` references)
    job_id: uuid.UUID | None = None

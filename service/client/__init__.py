"""An async Python client of the content-jobs API (docs/api.md), on aiohttp.

    async with ContentJobsClient("http://127.0.0.1:8080", token, "acme") as jobs:
        submitted = await jobs.submit("sleep", {"seconds": 2})
        async for event in jobs.watch(submitted["jobId"]):
            print(event.data["progress"])

Every error the API answers is raised as `ContentJobsError(status, message)`.
`watch()` survives dropped connections by itself: it reconnects with
`Last-Event-ID`, so the server replays what was missed and nothing repeats.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import random
from collections.abc import AsyncGenerator, Mapping
from contextlib import aclosing
from http import HTTPStatus
from types import TracebackType
from typing import Any, Self, TypedDict, cast

import aiohttp
from yarl import URL

from service import __version__
from service.client.sse_parser import EventStreamParser, ServerSentEvent
from service.domain.jobs import TERMINAL as TERMINAL
from service.domain.jobs import Status as Status
from service.domain.limits import DEFAULT_PAGE_SIZE

USER_AGENT = f"content-jobs-client/{__version__}"


class Progress(TypedDict):
    percent: int
    message: str | None


class Job(TypedDict):
    id: str
    companyId: str
    jobType: str
    #: a `Status` value, as the JSON has it (a plain string: compare it with `Status.DONE`...)
    status: str
    input: dict[str, Any]
    sourceTaskId: str | None
    progress: Progress
    result: Any
    resultAssetId: str | None
    errorMessage: str | None
    attempts: int
    createdAt: str
    startedAt: str | None
    finishedAt: str | None
    updatedAt: str


class Submitted(TypedDict):
    jobId: str
    #: a `Status` value, as the JSON has it (a plain string: compare it with `Status.DONE`...)
    status: str
    createdAt: str


class ContentJobsError(Exception):
    """The API answered with an error; `status` is 0 when no answer could be had at all."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}" if status else message)
        self.status = status
        self.message = message


@dataclasses.dataclass(frozen=True)
class JobEvent:
    """One event of a job's stream: `status` or `progress` (`data`: the job's state after
    it), or `output` (`data`: `{"jobId", "offset", "chunk"}`, a piece of streamed text)."""

    id: int
    event: str
    data: dict[str, Any]

    @property
    def terminal(self) -> bool:
        """The last event a stream sends: the job reached done, failed or cancelled."""
        return self.event == "status" and self.data.get("status") in TERMINAL

    @property
    def chunk(self) -> str | None:
        """The text of an `output` event (None for the others)."""
        return str(self.data.get("chunk", "")) if self.event == "output" else None


@dataclasses.dataclass(frozen=True)
class Reconnect:
    """How `watch()` retries: exponential backoff with jitter, bounded, then it gives up.

    The server's `retry:` field, when it sends one, replaces `initial_delay`.
    `idle_timeout` is a dead-connection detector: the server sends a comment
    every 15 s, so silence for longer means the connection is gone.
    """

    initial_delay: float = 0.5
    max_delay: float = 10.0
    max_failures: int = 6
    idle_timeout: float = 45.0

    def delay(self, failures: int, server_retry_ms: int | None) -> float:
        base = self.initial_delay if server_retry_ms is None else server_retry_ms / 1000
        return min(self.max_delay, base * 2.0 ** (failures - 1)) * random.uniform(0.5, 1.0)


class ContentJobsClient:
    """The API of one company, as a caller holding `token` sees it; use it as `async with`."""

    def __init__(
        self,
        base_url: str,
        token: str,
        company_id: str,
        *,
        reconnect: Reconnect | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.company_id = company_id
        self.reconnect = reconnect or Reconnect()
        self._jobs_url = URL(base_url) / "api" / "companies" / company_id
        self._headers = {"Authorization": f"Bearer {token}", "User-Agent": USER_AGENT}
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Self:
        self._session = aiohttp.ClientSession(headers=self._headers, timeout=self._timeout)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("use ContentJobsClient as `async with ContentJobsClient(...)`")
        return self._session

    async def submit(
        self,
        job_type: str,
        input: Mapping[str, Any] | None = None,
        source_task_id: str | None = None,
        idempotency_key: str | None = None,
        **options: Any,
    ) -> Submitted:
        """Queue a job; with the same `idempotency_key` a retry returns the first job.

        `options` are the submit body's other fields, as the API names them: `priority`,
        `delaySeconds`, `runAt`, `maxAttempts`, `callbackUrl` (None values are left out).
        """
        body: dict[str, Any] = {"jobType": job_type, "input": dict(input or {})}
        if source_task_id is not None:
            body["sourceTaskId"] = source_task_id
        body.update({name: value for name, value in options.items() if value is not None})
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key is not None else {}
        url = self._jobs_url / "content-jobs"
        async with self.session.post(url, json=body, headers=headers) as response:
            return cast(Submitted, await _json(response))

    async def get(self, job_id: str) -> Job:
        async with self.session.get(self._job_url(job_id)) as response:
            return cast(Job, await _json(response))

    async def cancel(self, job_id: str) -> Job:
        """Cancel a job; `ContentJobsError(409, ...)` when it had already ended."""
        async with self.session.post(self._job_url(job_id) / "cancel") as response:
            return cast(Job, await _json(response))

    async def retry(self, job_id: str) -> Job:
        """Queue a failed or cancelled job again; `ContentJobsError(409, ...)` otherwise."""
        async with self.session.post(self._job_url(job_id) / "retry") as response:
            return cast(Job, await _json(response))

    async def overview(self) -> dict[str, Any]:
        """The company's jobs counted: `{"byStatus", "byType", "submitted", "finished", "at"}`
        (`GET .../content-jobs:overview`; an answer may be a second old)."""
        async with self.session.get(self._jobs_url / "content-jobs:overview") as response:
            return cast("dict[str, Any]", await _json(response))

    async def job_types(self) -> list[dict[str, Any]]:
        """The installed job types with their input schemas (`GET /api/job-types`)."""
        url = URL(str(self._jobs_url).split("/api/")[0]) / "api" / "job-types"
        async with self.session.get(url) as response:
            return cast(list[dict[str, Any]], await _json(response))

    async def set_paused(self, job_type: str, paused: bool) -> dict[str, Any]:
        """Pause or resume a job type (a token with role `admin` and `companies: ["*"]`);
        the job type as listed."""
        url = URL(str(self._jobs_url).split("/api/")[0]) / "api" / "job-types" / job_type
        async with self.session.post(url / ("pause" if paused else "resume")) as response:
            return cast(dict[str, Any], await _json(response))

    async def redrive(
        self, status: str, job_type: str | None = None, finished_after: str | None = None
    ) -> int:
        """Queue the company's `failed` or `cancelled` jobs again (at most 10,000 a call);
        how many were."""
        body: dict[str, Any] = {"status": status}
        if job_type is not None:
            body["jobType"] = job_type
        if finished_after is not None:
            body["finishedAfter"] = finished_after
        async with self.session.post(self._jobs_url / "content-jobs:retry", json=body) as response:
            return int((await _json(response))["retried"])

    async def schedules(self) -> list[dict[str, Any]]:
        """The company's schedules, by name (`GET .../schedules`)."""
        async with self.session.get(self._jobs_url / "schedules") as response:
            return cast("list[dict[str, Any]]", await _json(response))

    async def create_schedule(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """A new schedule: `{"name", "cron" | "everySeconds", "timezone"?, "job", "paused"?}`."""
        async with self.session.post(self._jobs_url / "schedules", json=dict(body)) as response:
            return cast("dict[str, Any]", await _json(response))

    async def update_schedule(self, schedule_id: str, **changes: Any) -> dict[str, Any]:
        """Change any of `cron`, `everySeconds`, `timezone`, `job`, `paused`."""
        url = self._jobs_url / "schedules" / schedule_id
        async with self.session.patch(url, json=changes) as response:
            return cast("dict[str, Any]", await _json(response))

    async def delete_schedule(self, schedule_id: str) -> None:
        """Delete a schedule; the jobs it submitted stay."""
        async with self.session.delete(self._jobs_url / "schedules" / schedule_id) as response:
            await _raise_for_status(response)

    async def download_asset(self, asset_id: str) -> bytes:
        url = self._jobs_url / "assets" / asset_id / "content"
        async with self.session.get(url) as response:
            await _raise_for_status(response)
            return await response.read()

    async def list(
        self,
        status: str | None = None,
        job_type: str | None = None,
        source_task_id: str | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> AsyncGenerator[Job, None]:
        """Every matching job, newest first, fetching pages by the `Link: rel="next"` header."""
        query = {"limit": str(page_size)}
        for name, value in (("status", status), ("jobType", job_type)):
            if value is not None:
                query[name] = value
        if source_task_id is not None:
            query["sourceTaskId"] = source_task_id
        url: URL | None = (self._jobs_url / "content-jobs").with_query(query)
        while url is not None:
            async with self.session.get(url) as response:
                page = cast("list[Job]", await _json(response))
                url = _next_link(response)
            for job in page:
                yield job

    async def watch(
        self, job_id: str, last_event_id: int | None = None
    ) -> AsyncGenerator[JobEvent, None]:
        """The job's events until its terminal status, across dropped connections.

        The first event is the job's current state (unless `last_event_id` is
        given: then the events after it). A terminal event that later events follow
        (the job was retried) is not the end: the watch ends when the server ends the
        stream after a terminal event, or answers `204` (nothing after `last_event_id`,
        and the job has ended). A dropped connection, a 5xx or a
        silent one is retried with `Last-Event-ID`; after `max_failures` in a
        row without an event it raises `ContentJobsError(0, ...)`. Any other
        HTTP error (404, 401, 403) is raised at once.
        """
        failures, server_retry = 0, None
        while True:
            parser = EventStreamParser()
            try:
                ended = False
                async with aclosing(self._stream(job_id, last_event_id, parser)) as events:
                    async for event in events:
                        failures, last_event_id, ended = 0, event.id, event.terminal
                        yield event
                if ended:
                    return
                reason = "the server ended the stream before the job ended"
            except _NothingAfter:
                return
            except (aiohttp.ClientError, TimeoutError) as exc:
                reason = f"{type(exc).__name__}: {exc}".rstrip(": ")
            except ContentJobsError as exc:
                if exc.status < 500:
                    raise
                reason = str(exc)
            failures += 1
            server_retry = parser.retry if parser.retry is not None else server_retry
            if failures >= self.reconnect.max_failures:
                raise ContentJobsError(0, f"gave up after {failures} failed connections: {reason}")
            await asyncio.sleep(self.reconnect.delay(failures, server_retry))

    async def _stream(
        self, job_id: str, last_event_id: int | None, parser: EventStreamParser
    ) -> AsyncGenerator[JobEvent, None]:
        """One connection of `watch()`: its events, until the server or the network ends it."""
        headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}
        if last_event_id is not None:
            headers["Last-Event-ID"] = str(last_event_id)
        timeout = aiohttp.ClientTimeout(
            total=None, connect=self._timeout.total, sock_read=self.reconnect.idle_timeout
        )
        url = self._job_url(job_id) / "events"
        async with self.session.get(url, headers=headers, timeout=timeout) as response:
            await _raise_for_status(response)
            if response.status == HTTPStatus.NO_CONTENT:
                raise _NothingAfter
            async for chunk in response.content.iter_any():
                for raw in parser.feed(chunk):
                    yield _job_event(raw, last_event_id)

    def _job_url(self, job_id: str) -> URL:
        return self._jobs_url / "content-jobs" / job_id


class _NothingAfter(Exception):
    """`204` to a resumed stream: the job has ended and the client has every event."""


def _job_event(raw: ServerSentEvent, previous_id: int | None) -> JobEvent:
    try:
        data = json.loads(raw.data)
        event_id = int(raw.id) if raw.id else previous_id or 0
    except ValueError:
        raise ContentJobsError(0, f"malformed event from the server: {raw!r}") from None
    if not isinstance(data, dict):
        raise ContentJobsError(0, f"malformed event from the server: {raw!r}")
    return JobEvent(id=event_id, event=raw.event, data=data)


async def _json(response: aiohttp.ClientResponse) -> Any:
    await _raise_for_status(response)
    return await response.json()


async def _raise_for_status(response: aiohttp.ClientResponse) -> None:
    if response.status < 400:
        return
    raise ContentJobsError(response.status, _error_message(await response.read(), response))


def _error_message(body: bytes, response: aiohttp.ClientResponse) -> str:
    """The `error` of a JSON body or of an SSE `event: error`, else the HTTP reason."""
    payloads = [body.decode(errors="replace")]
    if response.content_type == "text/event-stream":
        payloads = [event.data for event in EventStreamParser().feed(body + b"\n\n")]
    for payload in payloads:
        try:
            message = json.loads(payload).get("error")
        except (ValueError, AttributeError):
            continue
        if isinstance(message, str):
            return message
    return response.reason or f"HTTP {response.status}"


def _next_link(response: aiohttp.ClientResponse) -> URL | None:
    link = response.links.get("next")
    return URL(str(link["url"])) if link else None

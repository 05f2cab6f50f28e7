"""The event stream of one job (SSE): snapshot or replay, then live events, then the end.

Order matters: the stream subscribes (LISTEN) before it reads the job, so
an event committed between the read and the first notification is still
delivered, exactly once, because every send is "the rows after the last id
sent". A reconnect with `Last-Event-ID: n` replays the rows after n instead
of a snapshot; whichever replica serves it, the table is the same.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from typing import NamedTuple

import structlog
from aiohttp import hdrs, web
from aiohttp_sse import EventSourceResponse

from service.api import keys
from service.api.errors import ApiError
from service.api.middlewares import STREAM_COMPLETE, company_of
from service.db.pool import DB_ERRORS
from service.domain.jobs import Event
from service.events.listener import Subscription

#: bytes a client may leave unread before its stream is dropped (about a thousand events)
SLOW_CLIENT_BYTES = 256 * 1024
#: the reconnection delay a stream asks of its client, in milliseconds (random in this range)
RETRY_MS = (2000, 5000)
log = structlog.get_logger(__name__)

#: the comment the listener's ticker sends a quiet stream (the one aiohttp-sse's own ping
#: task writes), and the same as an HTTP/1.1 chunk, for the sink
PING = f": ping{EventSourceResponse.DEFAULT_SEPARATOR * 2}".encode()
PING_CHUNK = b"%x\r\n%b\r\n" % (len(PING), PING)

NOT_FOUND_BODY = 'event: error\ndata: {"error": "Job not found"}\n\n'


async def job_events(request: web.Request) -> web.StreamResponse:
    start = await _start(request)
    if isinstance(start, web.StreamResponse):
        return start
    caller = request[keys.CALLER]
    listener = request.app[keys.LISTENER]
    cap = request.app[keys.SETTINGS].sse_max_streams_per_caller
    if listener.streams_of(caller.sub) >= cap:
        raise ApiError(429, f"too many open event streams for this caller (at most {cap})")
    # the token's expiry ends the stream (the listener's ticker): the client reconnects
    # with a fresh token and Last-Event-ID
    subscription = await listener.subscribe(
        start.job_id, start.seq, owner=caller.sub, expires_at=caller.expires_at
    )
    try:
        first = start.first
        if first is None:
            first = await subscription.events_after(start.last_id)
        last_id = first[-1].seq if first else start.last_id
        response = await _open(request, subscription)
        ended = bool(first) and await _send(response, subscription, first)
        # An open stream holds its frames for its whole life: no rows in them while it is
        # parked, and this loop is here rather than in a coroutine of its own (one frame less)
        del start, first
        while not ended:
            await subscription.wait(last_id)  # events go out through the sink meanwhile
            last_id = subscription.resume()
            if subscription.dropped:
                raise ConnectionResetError("the client stopped reading")
            if subscription.sent_terminal or subscription.closed:
                break
            if subscription.ping_due:  # no sink (HTTP/1.0): the heartbeat is ours to write
                subscription.ping_due = False
                await _write(response, subscription, PING)
            events = await _events_after(subscription, last_id)
            if events:
                last_id = events[-1].seq
                # the job's current state is terminal (a retried job's old end is not)
                ended = await _send(response, subscription, events)
            del events
        request[STREAM_COMPLETE] = response.status  # the end is sent: a close now is no abort
    finally:
        await listener.unsubscribe(subscription)
    return response


class _Start(NamedTuple):
    """Where a stream starts, as the database says before it subscribes."""

    job_id: uuid.UUID
    #: the job's newest event when it was read
    seq: int
    #: the client has every event up to this one
    last_id: int
    #: the snapshot to send first, or None: replay the events after `last_id`
    first: list[Event] | None


async def _start(request: web.Request) -> _Start | web.StreamResponse:
    """The job's snapshot, or the point a reconnect resumes from; or the answer that ends the
    request here: 404 (not this company's job), 204 (the client has the terminal event)."""
    company_id = company_of(request)
    job_id = _job_id(request)
    if job_id is None:
        return _not_found()
    store = request.app[keys.STORE]
    last_id = _last_event_id(request)
    if last_id is None:
        snapshot = await store.snapshot(company_id, job_id)
        if snapshot is None:
            return _not_found()
        return _Start(job_id, snapshot.seq, snapshot.seq, [snapshot])
    job = await store.get(company_id, job_id)
    if job is None:
        return _not_found()
    if job.status.terminal and last_id >= job.event_seq:
        return web.Response(status=204)  # it has everything: EventSource stops here
    # an id from the future names nothing we sent
    return _Start(job_id, job.event_seq, min(last_id, job.event_seq), None)


async def _send(response: SSEResponse, subscription: Subscription, events: list[Event]) -> bool:
    """Write `events` through the stream's own task (aiohttp's writer: a replay, or a stream
    that fell behind the cache), each event encoded once for every stream that sends it;
    True when the last one is terminal."""
    frames = events[0].frame if len(events) == 1 else b"".join(e.frame for e in events)
    await _write(response, subscription, frames)
    return events[-1].terminal


async def _write(response: SSEResponse, subscription: Subscription, data: bytes) -> None:
    """What `response.send` does, without encoding the event again for every stream. A
    stalled client cannot block us forever: EventSourceResponse sets TCP_USER_TIMEOUT on the
    socket, so the kernel aborts the connection and the write raises."""
    await response.write(data)
    subscription.wrote = True


class _Direct:
    """The sink of a chunked stream (HTTP/1.1): bytes straight to the client's transport, for
    the listener to use while the stream is parked (`Subscription.wake`) and for heartbeats.
    An HTTP/1.0 client gets none: every byte of its stream goes through the stream's task.

    Back-pressure: a client whose unsent bytes pass SLOW_CLIENT_BYTES is dropped (it
    reconnects with Last-Event-ID and replays from the table), never waited for: one
    stalled reader must not hold up the other streams of the burst.
    """

    __slots__ = ("_transport",)

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport

    def write(self, data: bytes) -> bool:
        transport = self._transport
        if transport.is_closing():
            return False
        transport.write(data)
        buffered = transport.get_write_buffer_size()
        if buffered > SLOW_CLIENT_BYTES:
            log.warning("slow_stream_dropped", buffered=buffered)
            transport.abort()
            return False
        return True

    def ping(self) -> bool:
        return self.write(PING_CHUNK)


async def _events_after(subscription: Subscription, last_id: int) -> list[Event]:
    """New events; while the database is away, keep the stream open and keep asking."""
    delay = 0.2
    while True:
        try:
            return await subscription.events_after(last_id)
        except DB_ERRORS:
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)


class SSEResponse(EventSourceResponse):
    """aiohttp-sse's EventSourceResponse, whose heartbeats come from the listener's ticker.

    What it changes is the ping: `_ping` returns at once. The library's `prepare()` starts
    `_ping()` as a task per stream, and that task sleeps `ping_interval` and writes a
    `: ping`, for the stream's whole life: a task, a timer and their frames (~1.6 KiB of
    each open stream), and at 10,000 streams opened together 10,000 pings at once, whatever
    the traffic. Here the task ends after its first step, leaving no sleeping task, timer
    or frame behind (the response keeps only the finished task object), and the listener's
    one ticker pings only the streams that have been quiet, a slice of them per tick
    (`Listener.tick`; BENCHMARKS.md, "Fan-out: the burst and the memory per stream"). So
    `ping_interval` is unused, and `is_connected()` is overridden too: the library's reports
    whether the ping task runs, which here would say False as soon as the stream is open.

    Everything else is the library's: its headers, `prepare` (with TCP_USER_TIMEOUT from
    `send_timeout`, so the kernel aborts a client that acknowledges nothing for that long
    and the write raises), `write_eof` (which restores the socket's timeout), `last_event_id`
    and `stop_streaming` / `wait` (a cancel of the finished task is a no-op, a wait returns).

    This relies on aiohttp-sse 3.0's `prepare()` starting its ping as
    `asyncio.create_task(self._ping())`, a private method, and `is_connected` on aiohttp's
    private `_req` and `_eof_sent` of a response: uv.lock holds both versions, and
    tests/integration/test_an_open_stream_runs_no_task_of_its_own.py fails if a release
    stops calling `_ping`, an open stream keeps a task of its own, or `is_connected` stops
    telling an open stream from a closed one.
    """

    async def _ping(self) -> None:
        return  # heartbeats: the listener's ticker (`Subscription.heartbeat`)

    def is_connected(self) -> bool:
        """Whether the stream is open: prepared, not ended, and its connection not closing."""
        request = self._req
        transport = None if request is None else request.transport
        return (
            self.prepared
            and not self._eof_sent
            and transport is not None
            and not transport.is_closing()
        )


async def _open(request: web.Request, subscription: Subscription) -> SSEResponse:
    """Headers flushed at once, then the reconnection delay: a few seconds with jitter, so the
    clients of a replica that goes away do not all come back in the same instant. A chunked
    stream (HTTP/1.1) gets its sink, for the listener's writes while it is parked."""
    response = SSEResponse()
    await response.prepare(request)
    await response.write(b"retry: %d\r\n\r\n" % random.randint(*RETRY_MS))
    transport = request.transport
    if transport is not None and response.headers.get(hdrs.TRANSFER_ENCODING) == "chunked":
        subscription.sink = _Direct(transport)
    return response


def _job_id(request: web.Request) -> uuid.UUID | None:
    try:
        return uuid.UUID(request.match_info["jobId"])
    except ValueError:
        return None


def _last_event_id(request: web.Request) -> int | None:
    """`Last-Event-ID` (what EventSource sends) or `?lastEventId=` (for clients that can't)."""
    raw = request.headers.get("Last-Event-ID") or request.query.get("lastEventId")
    if raw is None:
        return None
    try:
        return max(int(raw), 0)
    except ValueError:
        return None  # not one of our ids: start afresh with a snapshot


def _not_found() -> web.Response:
    """A 404 an EventSource understands: it stops retrying on any non-200."""
    return web.Response(status=404, text=NOT_FOUND_BODY, content_type="text/event-stream")

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
import time
import uuid

import structlog
from aiohttp import hdrs, web
from aiohttp_sse import EventSourceResponse

from service.api import keys
from service.api.errors import ApiError
from service.api.middlewares import STREAM_COMPLETE, company_of
from service.db.pool import DB_ERRORS
from service.domain.jobs import Event
from service.events.listener import Sink, Subscription

#: bytes a client may leave unread before its stream is dropped (about a thousand events)
SLOW_CLIENT_BYTES = 256 * 1024
#: the reconnection delay a stream asks of its client, in milliseconds (random in this range)
RETRY_MS = (2000, 5000)
log = structlog.get_logger(__name__)

NOT_FOUND_BODY = 'event: error\ndata: {"error": "Job not found"}\n\n'


async def job_events(request: web.Request) -> web.StreamResponse:
    company_id = company_of(request)
    caller = request[keys.CALLER]
    job_id = _job_id(request)
    if job_id is None:
        return _not_found()
    store = request.app[keys.STORE]
    listener = request.app[keys.LISTENER]
    last_id = _last_event_id(request)
    first: list[Event] | None = None
    if last_id is None:
        snapshot = await store.snapshot(company_id, job_id)
        if snapshot is None:
            return _not_found()
        first, seq = [snapshot], snapshot.seq
        last_id = seq
    else:
        job = await store.get(company_id, job_id)
        if job is None:
            return _not_found()
        if job.status.terminal and last_id >= job.event_seq:
            return web.Response(status=204)  # it has everything: EventSource stops here
        seq = job.event_seq
        last_id = min(last_id, seq)  # an id from the future names nothing we sent
    cap = request.app[keys.SETTINGS].sse_max_streams_per_caller
    if listener.streams_of(caller.sub) >= cap:
        raise ApiError(429, f"too many open event streams for this caller (at most {cap})")
    async with listener.subscribe(job_id, seq, owner=caller.sub) as subscription:
        if first is None:
            first = await subscription.events_after(last_id)
        response = await _open(request)
        sink = _direct_sink(request, response)
        try:
            async with asyncio.timeout(caller.expires_at - time.time()):
                await _send_until_terminal(response, subscription, first, last_id, sink)
        except TimeoutError:
            pass  # the token expired: the client reconnects with a fresh one and Last-Event-ID
        finally:
            response.stop_streaming()
        request[STREAM_COMPLETE] = response.status  # the end is sent: a close now is no abort
        return response


async def _send_until_terminal(
    response: EventSourceResponse,
    subscription: Subscription,
    events: list[Event],
    last_id: int,
    sink: Sink | None,
) -> None:
    while not subscription.closed:
        for event in events:
            await _send(response, event)
            last_id = event.seq
        if events and events[-1].terminal:
            return  # the job's current state is terminal (a retried job's old end is not)
        last_id = await subscription.wait(last_id, sink)
        if subscription.dropped:
            raise ConnectionResetError("the client stopped reading")
        if subscription.sent_terminal or subscription.closed:
            return
        events = await _events_after(subscription, last_id)


def _direct_sink(request: web.Request, response: EventSourceResponse) -> Sink | None:
    """A writer of chunks straight to the client's transport, for the listener to use while
    the stream is parked (`Subscription.wait`); None unless the response is chunked (an
    HTTP/1.0 client), where every event goes through the stream's task instead.

    Back-pressure: a client whose unsent bytes pass SLOW_CLIENT_BYTES is dropped (it
    reconnects with Last-Event-ID and replays from the table), never waited for: one
    stalled reader must not hold up the other streams of the burst.
    """
    transport = request.transport
    if transport is None or response.headers.get(hdrs.TRANSFER_ENCODING) != "chunked":
        return None

    def write(data: bytes) -> bool:
        if transport.is_closing():
            return False
        transport.write(data)
        if transport.get_write_buffer_size() > SLOW_CLIENT_BYTES:
            log.warning("slow_stream_dropped", buffered=transport.get_write_buffer_size())
            transport.abort()
            return False
        return True

    return write


async def _send(response: EventSourceResponse, event: Event) -> None:
    """What `response.send` does, without re-encoding the event for every stream.

    A stalled client cannot block us forever: EventSourceResponse sets TCP_USER_TIMEOUT
    on the socket, so the kernel aborts the connection and the write raises.
    """
    try:
        await response.write(event.frame)
    except ConnectionResetError:
        response.stop_streaming()
        raise


async def _events_after(subscription: Subscription, last_id: int) -> list[Event]:
    """New events; while the database is away, keep the stream open and keep asking."""
    delay = 0.2
    while True:
        try:
            return await subscription.events_after(last_id)
        except DB_ERRORS:
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)


async def _open(request: web.Request) -> EventSourceResponse:
    """Headers flushed at once, then the reconnection delay: a few seconds with jitter, so the
    clients of a replica that goes away do not all come back in the same instant."""
    settings = request.app[keys.SETTINGS]
    response = EventSourceResponse(ping_interval=settings.sse_heartbeat_seconds)
    await response.prepare(request)
    await response.write(b"retry: %d\r\n\r\n" % random.randint(*RETRY_MS))
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

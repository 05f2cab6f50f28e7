"""A real HTTP server that plays a scripted job's event stream, faults included.

The client's reconnect logic must be proven against the failures a network
really has (a connection cut mid-stream, a stream that ends early, a 503 from
a proxy, a silent connection), which the real service cannot be told to
produce on cue. This server speaks the event-stream part of docs/api.md
(snapshot first, `Last-Event-ID` replay with no new snapshot, end after the
terminal event, 404 with an SSE `event: error` body) and records what each
connection asked for.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

JOB_ID = "0b7f6a0e-4a8b-4c5e-9a37-1f7d2b1c9e01"
EVENTS_PATH = "/api/companies/{companyId}/content-jobs/{jobId}/events"
TERMINAL = ("done", "failed", "cancelled")


def job_events(final: str = "done", steps: int = 3, error: str | None = None) -> list[Event]:
    """A job's whole history: the queued snapshot, running, progress steps, its end."""
    events = [Event(1, "status", _data("queued", 0)), Event(2, "status", _data("running", 0))]
    for step in range(1, steps + 1):
        message = f"step {step} of {steps}"
        events.append(Event(2 + step, "progress", _data("running", 100 * step // steps, message)))
    last = events[-1].data["progress"]
    end = _data(final, last["percent"], last["message"], error)
    events.append(Event(len(events) + 1, "status", end))
    return events


def _data(status: str, percent: int, message: str | None = None, error: str | None = None) -> Any:
    return {
        "jobId": JOB_ID,
        "status": status,
        "progress": {"percent": percent, "message": message},
        "resultAssetId": None,
        "errorMessage": error,
    }


@dataclasses.dataclass(frozen=True)
class Event:
    id: int
    event: str
    data: dict[str, Any]

    def wire(self) -> bytes:
        return f"event: {self.event}\nid: {self.id}\ndata: {json.dumps(self.data)}\n\n".encode()


@dataclasses.dataclass
class FakeEventServer:
    events: list[Event]
    #: event ids after which the connection is cut without an end (once each)
    cut_after: set[int] = dataclasses.field(default_factory=set)
    #: event ids after which the stream ends cleanly although the job has not (once each)
    end_after: set[int] = dataclasses.field(default_factory=set)
    #: connections to answer with 503 before serving
    unavailable: int = 0
    #: connections that get headers, then silence
    silent: int = 0
    #: the `Last-Event-ID` each connection sent (None: a fresh watch)
    resumed_from: list[str | None] = dataclasses.field(default_factory=list)
    url: str = ""
    #: set when the server is closing: a silent connection's handler then returns
    closing: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get(EVENTS_PATH, self.stream)
        app.router.add_post("/api/companies/{companyId}/content-jobs", self.submit)
        return app

    async def submit(self, request: web.Request) -> web.Response:
        body = {"jobId": JOB_ID, "status": "queued", "createdAt": "2024-01-01T00:00:00Z"}
        return web.json_response(body, status=202)

    async def stream(self, request: web.Request) -> web.StreamResponse:
        last = request.headers.get("Last-Event-ID", request.query.get("lastEventId"))
        self.resumed_from.append(last)
        if request.match_info["jobId"] != JOB_ID:
            body = 'event: error\ndata: {"error": "Job not found"}\n\n'
            return web.Response(status=404, text=body, content_type="text/event-stream")
        if self.unavailable:
            self.unavailable -= 1
            return web.json_response({"error": "try again"}, status=503)
        response = web.StreamResponse(headers={"Cache-Control": "no-cache"})
        response.content_type = "text/event-stream"
        await response.prepare(request)
        if self.silent:
            self.silent -= 1
            await self.closing.wait()
        await response.write(b": ping\n\n")
        after = int(last) if last else 0
        for event in (e for e in self.events if e.id > after):
            await response.write(event.wire())
            if self._fault(event.id, request):
                break
        return response

    def _fault(self, event_id: int, request: web.Request) -> bool:
        if event_id in self.cut_after:
            self.cut_after.discard(event_id)
            assert request.transport is not None
            request.transport.close()
            return True
        if event_id in self.end_after:
            self.end_after.discard(event_id)
            return True
        return False


@asynccontextmanager
async def serving(fake: FakeEventServer) -> AsyncIterator[FakeEventServer]:
    """The fake on a loopback port, its base URL in `fake.url`."""
    server = TestServer(fake.app())
    await server.start_server()
    fake.url = str(server.make_url("/"))
    try:
        yield fake
    finally:
        fake.closing.set()
        await server.close()

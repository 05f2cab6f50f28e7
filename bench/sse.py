"""Many SSE clients in one process: plain asyncio protocols, far lighter than aiohttp sessions.

Each stream is one HTTP/1.1 request, as a browser's EventSource makes it (so the
service writes chunks and its direct fan-out path is the one measured), with
`Connection: close` so the server's end of the stream closes the connection,
read by an `asyncio.Protocol` (chunk headers are skipped along with everything
that is not an `id:` line). It notes the wall-clock arrival
of every event after the first (the first is the snapshot sent at once; its
row is old): (job index, event id, arrival). The parent joins those with
the event rows' `created_at`, written by the same machine's clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from multiprocessing.queues import Queue
from typing import Any, cast

from bench.loadgen import run

#: connections being opened at once per process (the server's accept backlog is 128)
OPENING = 64
#: streams per source address when going through nginx, below its per-address cap (200)
PER_SOURCE = 150
SEP = b"\r\n\r\n"

Arrival = tuple[int, int, float]


class SseStream(asyncio.Protocol):
    """One stream. Once open, it only notes what arrived when (`data_received` is called in
    the burst, on the same two cores as the server); `settle()` parses it after the run."""

    def __init__(self, request: bytes, job: int, arrivals: list[Arrival]) -> None:
        self.request = request
        self.job = job
        self.arrivals = arrivals
        self.opened: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._buffer = b""
        self._head = True
        self._received: list[tuple[float, bytes]] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        cast(asyncio.Transport, transport).write(self.request)  # uvloop's is no subclass

    def data_received(self, data: bytes) -> None:
        if self.opened.done():
            self._received.append((time.time(), data))
            return
        now = time.time()
        buffer = self._buffer + data
        if self._head:
            end = buffer.find(SEP)
            if end < 0:
                self._buffer = buffer
                return
            if b" 200 " not in buffer[: buffer.find(b"\r\n")]:
                self._settle(False)
            buffer = buffer[end + 4 :]
            self._head = False
        self._parse(buffer, now)

    def settle(self) -> None:
        """Every live event's arrival, from what was received (each event at the time of the
        read that completed it)."""
        received, self._received = self._received, []
        for now, data in received:
            self._parse(self._buffer + data, now)

    def _parse(self, buffer: bytes, now: float) -> None:
        *events, self._buffer = buffer.split(SEP)
        for event in events:
            start = event.find(b"id: ")
            if start < 0:
                continue  # a `: ping` comment
            if not self.opened.done():
                self._settle(True)  # the snapshot: not a live event
                continue
            seq = int(event[start + 4 : event.index(b"\r\n", start)])
            self.arrivals.append((self.job, seq, now))

    def connection_lost(self, exc: Exception | None) -> None:
        self._settle(False)
        if not self.closed.done():
            self.closed.set_result(None)

    def _settle(self, ok: bool) -> None:
        if not self.opened.done():
            self.opened.set_result(ok)


def stream_clients(
    host: str,
    port: int,
    token: str,
    paths: list[tuple[int, str]],
    seconds: float,
    out: Queue[tuple[str, Any]],
    sources: list[str] | None = None,
    cpus: set[int] | None = None,
) -> None:
    """Open a stream per (job index, path); report ("open", (ok, failed)), later ("cpu", CPU
    seconds of this process while the streams were open) and ("done", arrivals).

    With `sources`, streams come from those loopback addresses, PER_SOURCE each (like the
    many clients a load balancer sees, each under its per-address cap). Runs until every
    stream has been ended by the server or `seconds` after opening. With `cpus`, the process
    runs on those CPUs only (`sched_setaffinity`, what `taskset` does).
    """
    if cpus:
        os.sched_setaffinity(0, cpus)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        arrivals: list[Arrival] = []
        gate = asyncio.Semaphore(OPENING)
        streams: list[SseStream] = []

        async def open_one(index: int, job: int, path: str) -> bool:
            request = (
                f"GET {path}?access_token={token} HTTP/1.1\r\nHost: {host}\r\n"
                "Accept: text/event-stream\r\nConnection: close\r\n\r\n"
            ).encode()
            local = (sources[index // PER_SOURCE], 0) if sources else None
            async with gate:
                for _ in range(5):
                    stream = SseStream(request, job, arrivals)
                    try:
                        await loop.create_connection(
                            lambda s=stream: s,
                            host,
                            port,
                            local_addr=local,
                        )
                    except OSError:
                        await asyncio.sleep(0.2)
                        continue
                    streams.append(stream)
                    try:
                        return await asyncio.wait_for(stream.opened, 60)
                    except TimeoutError:
                        return False
                return False

        opened = await asyncio.gather(
            *(open_one(i, job, path) for i, (job, path) in enumerate(paths))
        )
        ok = sum(opened)
        out.put(("open", (ok, len(opened) - ok)))
        cpu = time.process_time()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await asyncio.gather(*(s.closed for s in streams))
        out.put(("cpu", time.process_time() - cpu))
        for stream in streams:
            stream.settle()
        out.put(("done", arrivals))

    run(main)

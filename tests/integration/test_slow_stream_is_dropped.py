"""Live events are written straight to each parked stream's connection; a client that stops
reading is dropped once it leaves `SLOW_CLIENT_BYTES` unread, and never holds up the others."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import asyncpg

from service.api import keys
from tests.conftest import MakeClient, auth
from tests.sse import read_events

JOBS = "/api/companies/acme/content-jobs"
#: events are written behind the streams' backs in rounds of 1 MB (fewer events than a topic
#: caches, so they are pushed) until the kernel's buffers and the limit are full: at most 32 MB
ROUND_EVENTS, MESSAGE_BYTES, MAX_ROUNDS = 20, 50_000, 32


def stalled_stream(host: str, port: int, path: str) -> socket.socket:
    """A stream request whose client reads the headers and then nothing more."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: the window
    sock.connect((host, port))
    headers = "".join(f"{k}: {v}\r\n" for k, v in auth().items())
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n{headers}\r\n".encode())
    sock.settimeout(5)
    assert sock.recv(1024).startswith(b"HTTP/1.1 200")
    return sock


def ended(sock: socket.socket) -> bool:
    """Drain the socket: True when the server has closed or reset it."""
    try:
        while chunk := sock.recv(1 << 20):
            del chunk
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False
    return True


async def test_a_client_that_stops_reading_is_dropped_and_the_others_get_everything(
    make_client: MakeClient, db: asyncpg.Connection[Any]
) -> None:
    client = await make_client(role="api")  # no worker: the job stays queued
    resp = await client.post(JOBS, json={"jobType": "echo", "input": {}}, headers=auth())
    job_id = (await resp.json())["jobId"]
    path = f"{JOBS}/{job_id}/events"
    assert client.port is not None
    stalled = await asyncio.to_thread(stalled_stream, client.host, client.port, path)
    try:
        async with client.get(path, headers=auth()) as healthy:
            events = read_events(healthy)
            assert (await anext(events)).id == 1  # the snapshot: this stream is parked now
            listener = client.app[keys.LISTENER]
            assert listener.stream_count == 2
            sent = 1
            for _ in range(MAX_ROUNDS):
                for _ in range(ROUND_EVENTS):
                    await db.execute(
                        "UPDATE content_jobs SET event_seq = event_seq + 1,"
                        " progress_message = repeat('x', $2) WHERE id = $1::uuid",
                        job_id,
                        MESSAGE_BYTES,
                    )
                # no NOTIFY was sent: the listener's sweep finds the rows and pushes them
                ids = [(await asyncio.wait_for(anext(events), 10)).id for _ in range(ROUND_EVENTS)]
                assert ids == list(range(sent + 1, sent + ROUND_EVENTS + 1))
                sent += ROUND_EVENTS
                if listener.stream_count == 1:
                    break
            assert listener.stream_count == 1, "the stalled stream was never dropped"
        assert await asyncio.to_thread(ended, stalled)
    finally:
        stalled.close()

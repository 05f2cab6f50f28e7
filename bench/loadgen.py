"""Load generators: plain asyncio HTTP/1.1 clients, each run in a process of its own.

They are deliberately thin (requests are prebuilt bytes, responses are read
by Content-Length) so the 2 cores the server shares with them go to the
server as far as possible. uvloop is used when the bench extra installed it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import orjson

T = TypeVar("T")

ECHO_BODY = orjson.dumps({"jobType": "echo", "input": {"n": 1}})


def run(main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """asyncio.run with uvloop when it is there: less client CPU per request."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover
        return asyncio.run(main())
    result: T = uvloop.run(main())
    return result


def post_request(host: str, port: int, path: str, token: str, body: bytes) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


async def exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> tuple[int, bytes]:
    """One request on a keep-alive connection: (status, body)."""
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    start = head.lower().find(b"content-length:")
    length = int(head[start + 15 : head.index(b"\r\n", start)]) if start >= 0 else 0
    return status, await reader.readexactly(length)


def jobs_path(company: str) -> str:
    return f"/api/companies/{company}/content-jobs"


def submit_load(
    host: str, port: int, token: str, company: str, concurrency: int, duration: float, warmup: float
) -> dict[str, Any]:
    """`concurrency` connections POST echo jobs back to back; latencies after the warm-up."""
    request = post_request(host, port, jobs_path(company), token, ECHO_BODY)
    return closed_loop(host, port, request, _accepted, concurrency, duration, warmup)


def batch_load(
    host: str,
    port: int,
    token: str,
    company: str,
    concurrency: int,
    size: int,
    duration: float,
    warmup: float,
) -> dict[str, Any]:
    """`concurrency` connections POST batches of `size` echo jobs (`:batch`) back to back;
    latencies per batch after the warm-up. A batch with any refused item is an error."""
    body = orjson.dumps({"jobs": [{"jobType": "echo", "input": {"n": 1}}] * size})
    request = post_request(host, port, jobs_path(company) + ":batch", token, body)
    return closed_loop(host, port, request, _batch_accepted, concurrency, duration, warmup)


def _accepted(status: int, answer: bytes) -> bool:
    return status == 202


def _batch_accepted(status: int, answer: bytes) -> bool:
    return status == 200 and b'"error"' not in answer


def closed_loop(
    host: str,
    port: int,
    request: bytes,
    ok: Callable[[int, bytes], bool],
    concurrency: int,
    duration: float,
    warmup: float,
) -> dict[str, Any]:
    """`concurrency` keep-alive connections send `request` back to back for `warmup` +
    `duration` seconds; the latencies of the answers `ok` accepts after the warm-up, and
    how many it refused (a closed loop: each client waits for its answer before the next)."""

    async def client(start: float, end: float, latencies: list[float], errors: list[int]) -> None:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while (sent := time.perf_counter()) < end:
                status, answer = await exchange(reader, writer, request)
                done = time.perf_counter()
                if not ok(status, answer):
                    errors.append(status)
                elif sent >= start:
                    latencies.append(done - sent)
        finally:
            writer.close()

    async def main() -> dict[str, Any]:
        latencies: list[float] = []
        errors: list[int] = []
        start = time.perf_counter() + warmup
        end = start + duration
        await asyncio.gather(*(client(start, end, latencies, errors) for _ in range(concurrency)))
        return {"latencies": latencies, "errors": len(errors), "seconds": duration}

    return run(main)


def submit_paced(
    host: str, port: int, token: str, company: str, count: int, gap: float
) -> list[tuple[str, float]]:
    """POST `count` echo jobs one at a time, `gap` apart: (jobId, wall clock at the 202)."""
    request = post_request(host, port, jobs_path(company), token, ECHO_BODY)

    async def main() -> list[tuple[str, float]]:
        reader, writer = await asyncio.open_connection(host, port)
        seen: list[tuple[str, float]] = []
        try:
            for _ in range(count):
                status, body = await exchange(reader, writer, request)
                at = time.time()
                if status != 202:
                    raise RuntimeError(f"submit answered {status}: {body[:200]!r}")
                seen.append((orjson.loads(body)["jobId"], at))
                await asyncio.sleep(gap)
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        return seen

    return run(main)

"""The same cross-replica stream through a real load balancer: nginx round-robin over A and C.

Uses the repository's own `deploy/nginx.conf`, with only its ports changed.
"""

from __future__ import annotations

import asyncio
import io
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from service.api.batch import MAX_BATCH_BODY_BYTES
from service.dev.pgserver import free_port
from tests.conftest import Client, auth
from tests.integration.test_replicas_share_one_database_and_lose_no_event import (
    HEADERS,
    JOBS,
    assert_complete,
    history,
    submit,
    watch,
)
from tests.processes import ROOT, wait_ready
from tests.sse import SseEvent, read_events

pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx is not installed"),
]


def nginx_conf(listen: int) -> str:
    conf = (ROOT / "deploy" / "nginx.conf").read_text()
    assert "listen 8080;" in conf
    return conf.replace("listen 8080;", f"listen 127.0.0.1:{listen};")


@pytest.fixture
def nginx(tmp_path: Path) -> Iterator[Any]:
    processes: list[subprocess.Popen[bytes]] = []

    def start(upstreams: list[int]) -> str:
        port = free_port()
        (tmp_path / "tmp").mkdir()
        (tmp_path / "nginx.conf").write_text(nginx_conf(port))
        servers = "".join(f"server 127.0.0.1:{upstream};\n" for upstream in upstreams)
        (tmp_path / "upstream.conf").write_text(servers)
        processes.append(subprocess.Popen(["nginx", "-p", str(tmp_path), "-c", "nginx.conf"]))
        return f"http://127.0.0.1:{port}"

    yield start
    for process in processes:
        process.terminate()
        process.wait()


async def test_streams_through_nginx_round_robin(cluster: Any, nginx: Any) -> None:
    a = await cluster("a", "api")
    await cluster("b", "worker")
    c = await cluster("c", "api")
    lb = nginx([a.port, c.port])
    await wait_ready(lb, timeout=10)
    async with aiohttp.ClientSession() as session:
        jobs = [await submit(session, lb, seconds=1.2, steps=6) for _ in range(4)]
        arrivals: dict[str, list[float]] = {job_id: [] for job_id in jobs}
        loop = asyncio.get_running_loop()

        def stamp(job_id: str) -> Any:
            return lambda event: arrivals[job_id].append(loop.time())

        watched = await asyncio.wait_for(
            asyncio.gather(*(watch(session, lb, job_id, stamp(job_id)) for job_id in jobs)), 30
        )
        for job_id, events in zip(jobs, watched, strict=True):
            full = await history(session, lb, job_id)
            assert_complete(events, full, "done")
            # unbuffered: events arrive as they happen, not in one lump at the end
            assert arrivals[job_id][-1] - arrivals[job_id][0] > 0.6
        # a reconnect through the balancer (likely to the other replica) resumes exactly
        job_id = await submit(session, lb, seconds=0.6, steps=6)
        first = await watch_until(session, lb, job_id, count=3)
        resume = {**HEADERS, "Last-Event-ID": str(first[-1].id)}
        async with session.get(f"{lb}{JOBS}/{job_id}/events", headers=resume) as resp:
            rest = [event async for event in read_events(resp)]
        full = await history(session, lb, job_id)
        assert_complete(first + rest, full, "done")


async def watch_until(
    session: aiohttp.ClientSession, base: str, job_id: str, count: int
) -> list[SseEvent]:
    """Read `count` events, then drop the connection like a flaky network would."""
    events = []
    async with session.get(f"{base}{JOBS}/{job_id}/events", headers=HEADERS) as resp:
        async for event in read_events(resp):
            events.append(event)
            if len(events) == count:
                break
    return events


async def test_nginx_keeps_a_callers_request_id_and_makes_one_otherwise(
    cluster: Any, nginx: Any
) -> None:
    a = await cluster("a", "api")
    lb = nginx([a.port])
    await wait_ready(lb, timeout=10)
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{lb}/healthz", headers={"X-Request-ID": "caller-42"}) as resp:
            assert resp.headers["X-Request-ID"] == "caller-42"
        async with session.get(f"{lb}/healthz") as resp:
            made = resp.headers["X-Request-ID"]
        assert made and made != "caller-42"


async def test_nginx_lets_through_a_batch_the_api_accepts(client: Client, nginx: Any) -> None:
    """The batch route's body may be `MAX_BATCH_BODY_BYTES` (16 MiB), not a single submit's
    1 MiB: nginx refused anything past 2 MiB with its own 413."""
    lb = nginx([client.server.port])
    jobs = [{"jobType": "echo", "input": {"text": "x" * 150_000}} for _ in range(100)]
    body = orjson.dumps({"jobs": jobs})
    assert 8 * 1024 * 1024 < len(body) < MAX_BATCH_BODY_BYTES
    headers = {**auth(), "Content-Type": "application/json"}
    async with aiohttp.ClientSession() as session:
        async with asyncio.timeout(10):
            while not await answers(session, f"{lb}/healthz"):
                await asyncio.sleep(0.05)
        url = f"{lb}{JOBS}:batch"
        async with session.post(url, data=io.BytesIO(body), headers=headers) as resp:
            assert resp.status == 200, await resp.text()
            assert all("jobId" in r for r in (await resp.json())["results"])


async def answers(session: aiohttp.ClientSession, url: str) -> bool:
    try:
        async with session.get(url) as resp:
            return resp.status == 200
    except aiohttp.ClientConnectionError:
        return False

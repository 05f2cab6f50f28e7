"""Streamed output across real replicas: the api replica serving a watcher is killed
(SIGKILL) mid-stream, and the watcher resumes on another with Last-Event-ID: it gets the rest
of the output, no chunk lost, repeated or out of order."""

from __future__ import annotations

import asyncio
import signal
from typing import Any

import aiohttp
import pytest

from tests.conftest import make_token
from tests.sse import SseEvent, read_events

JOBS = "/api/companies/acme/content-jobs"
HEADERS = {"Authorization": f"Bearer {make_token('acme')}"}
TEXT = "".join(f"line {n}: the quick brown fox\n" for n in range(40))

pytestmark = pytest.mark.timeout(120)


async def test_a_watcher_resumes_the_output_on_another_replica_when_its_own_dies(
    cluster: Any,
) -> None:
    a = await cluster("a", "api")
    await cluster("b", "worker")
    c = await cluster("c", "api")
    seen: list[SseEvent] = []
    async with aiohttp.ClientSession() as session:
        body = {
            "jobType": "text.typewriter",
            "input": {"text": TEXT, "chunkChars": 7, "delayMs": 20},
        }
        async with session.post(f"{a.url}{JOBS}", json=body, headers=HEADERS) as resp:
            assert resp.status == 202, await resp.text()
            job_id = (await resp.json())["jobId"]
        events_url = f"{JOBS}/{job_id}/events"
        with pytest.raises(aiohttp.ClientError):  # the connection dies with the replica
            await _watch_until_killed(session, a, a.url + events_url, seen)
        outputs_before = sum(e.event == "output" for e in seen)
        assert outputs_before >= 3
        headers = {**HEADERS, "Last-Event-ID": str(seen[-1].id)}
        async with asyncio.timeout(30), session.get(c.url + events_url, headers=headers) as resp:
            assert resp.status == 200
            seen += [event async for event in read_events(resp)]
    assert [e.id for e in seen] == list(range(1, len(seen) + 1))  # no gap, no repeat
    assert seen[-1].data["status"] == "done"
    outputs = [e.data for e in seen if e.event == "output"]
    assert len(outputs) > outputs_before  # the rest came from the other replica
    assert [o["offset"] for o in outputs] == [
        sum(len(p["chunk"]) for p in outputs[:i]) for i in range(len(outputs))
    ]
    assert "".join(o["chunk"] for o in outputs) == TEXT


async def _watch_until_killed(
    session: aiohttp.ClientSession, replica: Any, url: str, seen: list[SseEvent]
) -> None:
    """Follow the job's whole history on `replica`, and kill it after three output events."""
    headers = {**HEADERS, "Last-Event-ID": "0"}
    async with asyncio.timeout(30), session.get(url, headers=headers) as resp:
        async for event in read_events(resp):
            seen.append(event)
            if sum(e.event == "output" for e in seen) == 3:
                replica.signal(signal.SIGKILL)

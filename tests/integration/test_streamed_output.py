"""Streamed output (CONTRACT.md "Streamed output"): a handler's `ctx.output()` becomes
`output` events with `offset` and `chunk`, in order among the job's other events and
replayable with Last-Event-ID like them; `GET .../output` serves the whole text with
`Range`; past `JOB_OUTPUT_MAX_BYTES` output is dropped and the job says `outputTruncated`.
`text.typewriter` is the built-in that writes a text out this way."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from service.client import ContentJobsClient
from tests.conftest import Client, MakeClient, auth, make_token
from tests.sse import SseEvent, collect

JOBS = "/api/companies/acme/content-jobs"
#: long enough for several coalesced writes, quick enough for a test
TEXT = "The quick brown fox jumps over the lazy dog. " * 4 + "Ünïcödé ✓ and an emoji 🦊."

pytestmark = pytest.mark.timeout(60)


async def typewriter(client: Client, text: str = TEXT, **extra: Any) -> str:
    body = {"jobType": "text.typewriter", "input": {"text": text, "chunkChars": 3, **extra}}
    resp = await client.post(JOBS, json=body, headers=auth())
    assert resp.status == 202, await resp.text()
    job_id: str = (await resp.json())["jobId"]
    return job_id


async def history(client: Client, job_id: str, after: int = 0) -> list[SseEvent]:
    """The job's events after `after`, replayed from the table, to the job's end."""
    headers = {**auth(), "Last-Event-ID": str(after)}
    async with client.get(f"{JOBS}/{job_id}/events", headers=headers) as resp:
        assert resp.status == 200
        return await asyncio.wait_for(collect(resp), 30)


def text_of(events: list[SseEvent]) -> str:
    return "".join(e.data["chunk"] for e in events if e.event == "output")


async def test_output_events_come_in_order_with_offsets_and_the_typewriter_result(
    worker_client: Client,
) -> None:
    job_id = await typewriter(worker_client, delayMs=5)
    events = await history(worker_client, job_id)
    assert [e.id for e in events] == list(range(1, len(events) + 1))  # every event, no gap
    outputs = [e for e in events if e.event == "output"]
    assert len(outputs) >= 2  # streamed, not one write at the end
    offset = 0
    for event in outputs:
        assert event.data["jobId"] == job_id
        assert event.data["offset"] == offset
        offset += len(event.data["chunk"])
    assert text_of(events) == TEXT
    last_output = max(e.id or 0 for e in outputs)
    assert events[-1].event == "status" and events[-1].data["status"] == "done"
    assert last_output < (events[-1].id or 0)  # all output comes before the job's end
    job = await (await worker_client.get(f"{JOBS}/{job_id}", headers=auth())).json()
    assert job["result"] == {"chars": len(TEXT)}
    assert job["outputTruncated"] is False


async def test_a_replay_from_the_middle_gives_the_rest_of_the_output_exactly_once(
    worker_client: Client,
) -> None:
    job_id = await typewriter(worker_client, delayMs=5)
    full = await history(worker_client, job_id)
    outputs = [e for e in full if e.event == "output"]
    middle = outputs[len(outputs) // 2]
    assert middle.id is not None
    rest = await history(worker_client, job_id, after=middle.id)
    assert rest == full[middle.id :]
    assert text_of(full[: middle.id]) + text_of(rest) == TEXT
    assert text_of(rest).startswith(TEXT[middle.data["offset"] + len(middle.data["chunk"]) :][:5])


async def test_a_live_watcher_sees_the_output_as_the_table_holds_it(
    worker_client: Client,
) -> None:
    job_id = await typewriter(worker_client, delayMs=10)
    async with worker_client.get(f"{JOBS}/{job_id}/events", headers=auth()) as resp:
        live = await asyncio.wait_for(collect(resp), 30)
    full = await history(worker_client, job_id)
    first = live[0].id or 0
    assert live[1:] == [e for e in full if (e.id or 0) > first]


async def test_the_output_route_serves_the_whole_text_and_byte_ranges(
    worker_client: Client,
) -> None:
    job_id = await typewriter(worker_client, delayMs=0)
    await history(worker_client, job_id)  # to its end
    resp = await worker_client.get(f"{JOBS}/{job_id}/output", headers=auth())
    assert resp.status == 200
    assert resp.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert await resp.text() == TEXT
    data = TEXT.encode()
    resp = await worker_client.get(
        f"{JOBS}/{job_id}/output", headers={**auth(), "Range": "bytes=4-8"}
    )
    assert resp.status == 206
    assert resp.headers["Content-Range"] == f"bytes 4-8/{len(data)}"
    assert await resp.read() == data[4:9]
    resp = await worker_client.get(
        f"{JOBS}/{job_id}/output", headers={**auth(), "Range": "bytes=-4"}
    )
    assert (resp.status, await resp.read()) == (206, data[-4:])
    resp = await worker_client.get(
        f"{JOBS}/{job_id}/output", headers={**auth(), "Range": f"bytes={len(data)}-"}
    )
    assert resp.status == 416
    assert resp.headers["Content-Range"] == f"bytes */{len(data)}"


async def test_the_output_of_a_job_without_output_is_empty_and_of_no_job_404(
    worker_client: Client,
) -> None:
    resp = await worker_client.post(JOBS, json={"jobType": "test"}, headers=auth())
    job_id = (await resp.json())["jobId"]
    resp = await worker_client.get(f"{JOBS}/{job_id}/output", headers=auth())
    assert (resp.status, await resp.text()) == (200, "")
    resp = await worker_client.get(
        f"/api/companies/other/content-jobs/{job_id}/output", headers=auth("other")
    )
    assert resp.status == 404
    assert (await resp.json())["error"]
    resp = await worker_client.get(f"{JOBS}/not-a-uuid/output", headers=auth())
    assert resp.status == 404


async def test_output_past_the_cap_is_dropped_and_the_job_says_output_truncated(
    make_client: MakeClient,
) -> None:
    client = await make_client(role="all", job_output_max_bytes=10)
    job_id = await typewriter(client, "héllo wörld, and much more", delayMs=0)
    events = await history(client, job_id)
    assert text_of(events) == "héllo wö"  # 10 bytes; "r" would be the 11th
    resp = await client.get(f"{JOBS}/{job_id}/output", headers=auth())
    assert await resp.text() == "héllo wö"
    job = await (await client.get(f"{JOBS}/{job_id}", headers=auth())).json()
    assert job["outputTruncated"] is True
    assert job["result"] == {"chars": 26}
    [listed] = await (await client.get(JOBS, headers=auth())).json()
    assert listed["outputTruncated"] is True


async def test_the_python_clients_watch_yields_the_output_chunks(worker_client: Client) -> None:
    job_id = await typewriter(worker_client, delayMs=5)
    url = str(worker_client.make_url("/"))
    async with ContentJobsClient(url, make_token("acme"), "acme") as jobs:
        events = [event async for event in jobs.watch(job_id, last_event_id=0)]
    assert "".join(e.chunk for e in events if e.chunk is not None) == TEXT
    assert next(e.data["offset"] for e in events if e.event == "output") == 0
    assert events[-1].terminal

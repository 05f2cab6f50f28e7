"""An open event stream costs what aiohttp needs for any request and nothing more: the
listener writes its events and heartbeats and ends it when its token expires, so it has no
ping task, no timer, no asyncio.Event of its own (memory per stream: BENCHMARKS.md).

Its response is aiohttp-sse's EventSourceResponse, through a subclass whose `_ping` returns
at once (`service.api.stream.SSEResponse`): this fails if a release of aiohttp-sse stops
starting `_ping` from `prepare()` (its own ping would then run beside the listener's), or
if the response starts any other task that lasts as long as the stream; and its
`is_connected()` answers from the connection (the library's, from its ping task, would say
False for an open stream)."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp_sse import EventSourceResponse

from service.api import keys, stream
from tests.conftest import Client, auth
from tests.integration.helpers import job_path, submit
from tests.sse import read_events

STREAMS = 20
#: aiohttp's per request: the connection's task and the handler's
AIOHTTP_TASKS = 2


async def test_a_parked_stream_adds_only_aiohttps_own_tasks(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert issubclass(stream.SSEResponse, EventSourceResponse)
    assert stream.SSEResponse is not EventSourceResponse
    opened: list[EventSourceResponse] = []
    no_ping = stream.SSEResponse._ping

    async def counted(self: stream.SSEResponse) -> None:
        opened.append(self)
        await no_ping(self)

    monkeypatch.setattr(stream.SSEResponse, "_ping", counted)
    job_id = (await submit(client, {"jobType": "sleep", "input": {"seconds": 60}}))["jobId"]
    before = len(asyncio.all_tasks())
    responses = []
    for _ in range(STREAMS):
        resp = await client.get(f"{job_path(job_id)}/events", headers=auth())
        assert (await anext(read_events(resp))).id == 1  # the snapshot: parked from here
        responses.append(resp)
    assert client.app[keys.LISTENER].stream_count == STREAMS
    # every stream's response is ours, and its prepare() ran our `_ping` as the library's
    # ping task, which has already ended
    assert len(opened) == STREAMS
    assert all(type(response) is stream.SSEResponse for response in opened)
    assert all(response._ping_task is not None for response in opened)
    assert all(response._ping_task.done() for response in opened)  # type: ignore[union-attr]
    assert len(asyncio.all_tasks()) - before <= STREAMS * AIOHTTP_TASKS
    # open, though the library's answer (its ping task running) would say otherwise
    assert all(response.is_connected() for response in opened)
    for resp in responses:
        resp.close()
    async with asyncio.timeout(10):  # the server sees the clients go
        while client.app[keys.LISTENER].stream_count:
            await asyncio.sleep(0.01)
    assert not any(response.is_connected() for response in opened)

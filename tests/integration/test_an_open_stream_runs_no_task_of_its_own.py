"""An open event stream costs what aiohttp needs for any request and nothing more: the
listener writes its events and heartbeats and ends it when its token expires, so it has no
ping task, no timer, no asyncio.Event of its own (memory per stream: BENCHMARKS.md)."""

from __future__ import annotations

import asyncio

from service.api import keys
from tests.conftest import Client, auth
from tests.integration.helpers import job_path, submit
from tests.sse import read_events

STREAMS = 20
#: aiohttp's per request: the connection's task and the handler's
AIOHTTP_TASKS = 2


async def test_a_parked_stream_adds_only_aiohttps_own_tasks(client: Client) -> None:
    job_id = (await submit(client, {"jobType": "sleep", "input": {"seconds": 60}}))["jobId"]
    before = len(asyncio.all_tasks())
    responses = []
    for _ in range(STREAMS):
        resp = await client.get(f"{job_path(job_id)}/events", headers=auth())
        assert (await anext(read_events(resp))).id == 1  # the snapshot: parked from here
        responses.append(resp)
    assert client.app[keys.LISTENER].stream_count == STREAMS
    assert len(asyncio.all_tasks()) - before <= STREAMS * AIOHTTP_TASKS
    for resp in responses:
        resp.close()

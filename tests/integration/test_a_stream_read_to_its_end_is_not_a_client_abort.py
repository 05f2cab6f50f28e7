"""The access log: a client that closes its event stream once it has the terminal event
(`content-jobs watch`, the Python client) got the whole answer: it is logged with the status
it got, 200, not as 499 (client closed), which is kept for clients that leave mid-stream."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator, MutableMapping
from typing import Any

import pytest
from structlog.testing import capture_logs

from service.api import keys
from tests.conftest import Client, auth
from tests.integration.helpers import job_path, submit
from tests.sse import read_events


async def request_lines(
    logs: list[MutableMapping[str, Any]], count: int
) -> list[MutableMapping[str, Any]]:
    """The access-log lines of the event streams, once `count` of them are written."""
    async with asyncio.timeout(10):
        while True:
            lines = [e for e in logs if e["event"] == "request" and "/events" in e["path"]]
            if len(lines) >= count:
                return lines
            await asyncio.sleep(0.01)


@pytest.fixture
def slow_unlisten(
    worker_client: Client, monkeypatch: pytest.MonkeyPatch
) -> Iterator[asyncio.Event]:
    """The stream's last step, its UNLISTEN round trip, waits until released: the client's
    close then always lands while the handler is still in it, as it often does for real."""
    listener = worker_client.app[keys.LISTENER]
    release = asyncio.Event()
    sync = listener._sync_channel

    async def held(job_id: uuid.UUID) -> None:
        if job_id not in listener.topics:
            await release.wait()
        await sync(job_id)

    monkeypatch.setattr(listener, "_sync_channel", held)
    yield release
    release.set()


async def test_a_client_closing_after_the_terminal_event_is_logged_200(
    worker_client: Client, slow_unlisten: asyncio.Event
) -> None:
    job_id = (await submit(worker_client))["jobId"]
    with capture_logs() as logs:
        resp = await worker_client.get(f"{job_path(job_id)}/events", headers=auth())
        async for event in read_events(resp):
            if event.data["status"] == "done":
                break
        resp.close()  # as `watch` does: it has what it came for
        [line] = await request_lines(logs, 1)
        slow_unlisten.set()
    assert line["status"] == 200


async def test_a_client_leaving_mid_stream_is_still_499(worker_client: Client) -> None:
    job_id = (await submit(worker_client, {"jobType": "echo", "delaySeconds": 60}))["jobId"]
    with capture_logs() as logs:
        resp = await worker_client.get(f"{job_path(job_id)}/events", headers=auth())
        async for _ in read_events(resp):
            break  # the snapshot; the job runs on
        resp.close()
        [line] = await request_lines(logs, 1)
    assert line["status"] == 499

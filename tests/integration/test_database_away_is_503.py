"""API: while the database is unreachable, routes that need it answer `503` with
`Retry-After`, never `500`; they recover by themselves when it is back. A client that
disconnects from a stream is not logged or counted as a `500`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from structlog.testing import capture_logs
from yarl import URL

from tests.conftest import Client, MakeClient, auth
from tests.faultproxy import FaultProxy
from tests.integration.helpers import job_path, jobs_path, submit


@pytest.fixture
async def proxy(database_url: str) -> AsyncIterator[FaultProxy]:
    url = URL(database_url)
    proxy = FaultProxy(url.host or "127.0.0.1", url.port or 5432)
    await proxy.start()
    yield proxy
    await proxy.close()


@pytest.fixture
async def proxied(make_client: MakeClient, database_url: str, proxy: FaultProxy) -> Client:
    return await make_client(database_url=str(URL(database_url).with_port(proxy.port)))


async def _statuses(client: Client, job_id: str) -> list[tuple[int, str | None]]:
    answers = []
    for method, path, body in (
        ("GET", job_path(job_id), None),
        ("GET", jobs_path(), None),
        ("POST", jobs_path(), {"jobType": "echo"}),
        ("POST", job_path(job_id) + "/cancel", None),
    ):
        resp = await client.request(method, path, json=body, headers=auth())
        answers.append((resp.status, resp.headers.get("Retry-After")))
        if resp.status >= 400:
            assert "error" in await resp.json()
    return answers


@pytest.mark.parametrize("fault", ["refuse", "blackhole"])
async def test_routes_answer_503_with_retry_after_while_the_database_is_away(
    proxied: Client, proxy: FaultProxy, fault: str
) -> None:
    job_id = (await submit(proxied))["jobId"]
    proxy.set_mode("refuse" if fault == "refuse" else "blackhole")
    proxy.drop()
    with capture_logs() as logs:
        answers = await asyncio.wait_for(_statuses(proxied, job_id), timeout=40)
    assert all(status == 503 and retry for status, retry in answers), answers
    assert not [e for e in logs if e["event"] == "unhandled_error"]
    proxy.set_mode("pass")
    async with asyncio.timeout(15):
        while (await proxied.get(job_path(job_id), headers=auth())).status != 200:
            await asyncio.sleep(0.1)


async def test_a_client_that_leaves_a_stream_is_not_a_500(client: Client) -> None:
    job_id = (await submit(client, {"jobType": "sleep", "input": {"seconds": 30}}))["jobId"]
    with capture_logs() as logs:
        resp = await client.get(job_path(job_id) + "/events", headers=auth())
        assert resp.status == 200
        await resp.content.readuntil(b"\r\n\r\n")
        resp.close()
        async with asyncio.timeout(5):
            while not [e for e in logs if e["event"] == "request"]:
                await asyncio.sleep(0.02)
    requests = [e for e in logs if e["event"] == "request"]
    assert [e["status"] for e in requests] == [499]
    assert not [e for e in logs if e["event"] == "unhandled_error"]
    metrics = await (await client.get("/metrics")).text()
    assert 'status="500"' not in metrics

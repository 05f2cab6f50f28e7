"""`ContentJobsClient` against the real service: the job routes of docs/api.md."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from service.client import ContentJobsClient, ContentJobsError
from tests.conftest import Client, make_token


@pytest.fixture
async def jobs(client: Client) -> AsyncIterator[ContentJobsClient]:
    async with ContentJobsClient(str(client.make_url("/")), make_token("acme"), "acme") as api:
        yield api


async def test_submit_then_get_returns_the_queued_job(jobs: ContentJobsClient) -> None:
    submitted = await jobs.submit("sleep", {"seconds": 1}, source_task_id="task-1")
    assert submitted["status"] == "queued"
    job = await jobs.get(submitted["jobId"])
    assert job["id"] == submitted["jobId"]
    assert (job["jobType"], job["sourceTaskId"], job["companyId"]) == ("sleep", "task-1", "acme")
    assert job["input"]["seconds"] == 1


async def test_an_idempotency_key_returns_the_first_job(jobs: ContentJobsClient) -> None:
    first = await jobs.submit("echo", {"a": 1}, idempotency_key="k-1")
    again = await jobs.submit("echo", {"a": 1}, idempotency_key="k-1")
    assert again["jobId"] == first["jobId"]
    with pytest.raises(ContentJobsError) as caught:
        await jobs.submit("echo", {"a": 2}, idempotency_key="k-1")
    assert caught.value.status == 409


async def test_list_follows_next_links_across_pages_newest_first(jobs: ContentJobsClient) -> None:
    submitted = [(await jobs.submit("echo", {"n": n}))["jobId"] for n in range(5)]
    listed = [job["id"] async for job in jobs.list(page_size=2)]
    assert listed == submitted[::-1]


async def test_list_filters(jobs: ContentJobsClient) -> None:
    wanted = (await jobs.submit("echo", source_task_id="t-9"))["jobId"]
    await jobs.submit("sleep")
    assert [j["id"] async for j in jobs.list(source_task_id="t-9")] == [wanted]
    assert [j["jobType"] async for j in jobs.list(job_type="sleep")] == ["sleep"]
    assert [j async for j in jobs.list(status="done")] == []


async def test_cancel_then_cancel_again_is_a_409(jobs: ContentJobsClient) -> None:
    job_id = (await jobs.submit("sleep"))["jobId"]
    cancelled = await jobs.cancel(job_id)
    assert cancelled["status"] == "cancelled"
    with pytest.raises(ContentJobsError) as caught:
        await jobs.cancel(job_id)
    assert caught.value.status == 409
    assert caught.value.message == "job is already cancelled"


async def test_api_errors_carry_status_and_message(jobs: ContentJobsClient) -> None:
    with pytest.raises(ContentJobsError) as caught:
        await jobs.get("00000000-0000-4000-8000-000000000000")
    assert (caught.value.status, caught.value.message) == (404, "Job not found")
    with pytest.raises(ContentJobsError) as caught:
        await jobs.submit("no-such-type")
    assert caught.value.status == 400
    assert "known types" in caught.value.message


async def test_another_company_is_forbidden(client: Client) -> None:
    url = str(client.make_url("/"))
    async with ContentJobsClient(url, make_token("acme"), "globex") as other:
        with pytest.raises(ContentJobsError) as caught:
            await other.submit("echo")
    assert (caught.value.status, caught.value.message) == (
        403,
        "forbidden: no access to this company",
    )


async def test_download_asset_gets_the_bytes_of_the_content_route() -> None:
    """The asset routes are another branch's: a tiny real server stands in for them."""
    seen: list[str] = []

    async def content(request: web.Request) -> web.Response:
        seen.append(request.headers["Authorization"])
        return web.Response(body=b"<h1>hi</h1>", content_type="text/html")

    app = web.Application()
    app.router.add_get("/api/companies/acme/assets/a-1/content", content)
    async with (
        TestServer(app) as server,
        ContentJobsClient(str(server.make_url("/")), "tok", "acme") as api,
    ):
        assert await api.download_asset("a-1") == b"<h1>hi</h1>"
        with pytest.raises(ContentJobsError) as caught:
            await api.download_asset("missing")
    assert caught.value.status == 404
    assert seen == ["Bearer tok"]


async def test_using_it_outside_async_with_is_a_clear_error() -> None:
    api = ContentJobsClient("http://127.0.0.1:9", "t", "acme")
    with pytest.raises(RuntimeError, match="async with"):
        await api.get("x")

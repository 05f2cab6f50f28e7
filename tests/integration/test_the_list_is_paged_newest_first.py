"""`GET /api/companies/{companyId}/content-jobs`: order, keyset pages, filters, bad parameters."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from tests.conftest import Client, auth, make_token
from tests.integration.helpers import error_of, insert_job, jobs_path, next_link, submit

T0 = datetime(2030, 1, 1, 12, 0, 0, 123456, tzinfo=UTC)


async def list_all(client: Client, path: str) -> tuple[list[dict[str, Any]], int]:
    """Follow `rel="next"` from `path` to the end; returns every job and the page count."""
    jobs: list[dict[str, Any]] = []
    pages = 0
    next_path: str | None = path
    while next_path is not None:
        resp = await client.get(next_path, headers=auth())
        assert resp.status == 200, await resp.text()
        page = await resp.json()
        assert page, "a next link must never lead to an empty page"
        jobs += page
        pages += 1
        next_path = next_link(resp)
        assert pages <= 100
    return jobs, pages


async def test_list_returns_a_json_array_newest_first(client: Client) -> None:
    """API routes: list -> `200` JSON array, newest first; no `Link` when nothing more."""
    ids = [(await submit(client))["jobId"] for _ in range(3)]
    resp = await client.get(jobs_path(), headers=auth())
    assert resp.status == 200
    assert resp.content_type == "application/json"
    jobs = await resp.json()
    assert [job["id"] for job in jobs] == ids[::-1]
    assert all(job["companyId"] == "acme" for job in jobs)
    assert "Link" not in resp.headers


async def test_list_items_leave_out_input_and_result(client: Client) -> None:
    """API routes: list items come without `input` and `result` (GET one for those), so
    a page of 200 jobs stays small whatever their inputs."""
    job_id = (await submit(client, {"jobType": "echo", "input": {"text": "x" * 10_000}}))["jobId"]
    resp = await client.get(jobs_path(), headers=auth())
    [item] = await resp.json()
    assert "input" not in item and "result" not in item
    assert item["id"] == job_id and item["jobType"] == "echo"
    full = await (await client.get(f"{jobs_path()}/{job_id}", headers=auth())).json()
    assert full["input"] == {"text": "x" * 10_000}
    assert set(full) - set(item) == {"input", "result", "callback"}


async def test_empty_list(client: Client) -> None:
    """API routes: list of a company without jobs is `200 []`."""
    resp = await client.get(jobs_path("nobody-yet"), headers=auth("nobody-yet"))
    assert resp.status == 200
    assert await resp.json() == []
    assert "Link" not in resp.headers


async def test_order_is_created_at_desc_then_id_with_ties(
    client: Client, db: asyncpg.Connection[Any]
) -> None:
    """API routes: newest first (`createdAt` desc, then `id`), also among equal times."""
    times = [T0] * 5 + [T0 + timedelta(seconds=1)] * 3 + [T0 - timedelta(microseconds=1)] * 2
    rows = [(t, await insert_job(db, created_at=t)) for t in times]
    resp = await client.get(jobs_path(), headers=auth())
    jobs = await resp.json()
    expected = [str(job_id) for _, job_id in sorted(rows, reverse=True)]
    assert [job["id"] for job in jobs] == expected


@pytest.mark.parametrize("limit", [1, 2, 3, 4, 7])
async def test_pages_cover_every_job_once_across_created_at_ties(
    client: Client, db: asyncpg.Connection[Any], limit: int
) -> None:
    """API routes: `Link: <…>; rel="next"` when more; keyset pages lose and repeat nothing,
    even when many jobs share one `createdAt`."""
    times = (
        [T0 + timedelta(seconds=2)]
        + [T0] * 7
        + [T0 - timedelta(seconds=1)] * 3
        + [T0 - timedelta(seconds=2)]
    )
    rows = [(t, await insert_job(db, created_at=t)) for t in times]
    expected = [str(job_id) for _, job_id in sorted(rows, reverse=True)]

    jobs, pages = await list_all(client, f"{jobs_path()}?limit={limit}")

    assert [job["id"] for job in jobs] == expected
    assert pages == -(-len(rows) // limit)


async def test_no_next_link_when_the_last_page_is_exactly_full(client: Client) -> None:
    """API routes: `Link` only "when more"."""
    for _ in range(4):
        await submit(client)
    resp = await client.get(f"{jobs_path()}?limit=2", headers=auth())
    second = next_link(resp)
    assert second is not None
    resp = await client.get(second, headers=auth())
    assert len(await resp.json()) == 2
    assert next_link(resp) is None
    resp = await client.get(f"{jobs_path()}?limit=4", headers=auth())
    assert len(await resp.json()) == 4
    assert "Link" not in resp.headers


async def test_default_limit_is_50(client: Client, db: asyncpg.Connection[Any]) -> None:
    """API routes: limit 1-200, default 50."""
    for i in range(51):
        await insert_job(db, created_at=T0 + timedelta(seconds=i))
    resp = await client.get(jobs_path(), headers=auth())
    assert len(await resp.json()) == 50
    assert next_link(resp) is not None
    resp = await client.get(f"{jobs_path()}?limit=200", headers=auth())
    assert len(await resp.json()) == 51
    assert "Link" not in resp.headers


async def test_next_link_keeps_the_filters(client: Client) -> None:
    """API routes: the next page continues the same filtered list."""
    for i in range(5):
        await submit(client, {"jobType": "echo", "sourceTaskId": "keep" if i % 2 else "other"})
        await submit(client, {"jobType": "sleep", "sourceTaskId": "keep"})
    jobs, pages = await list_all(client, f"{jobs_path()}?limit=2&jobType=echo&sourceTaskId=keep")
    assert len(jobs) == 2
    assert pages == 1
    jobs, pages = await list_all(client, f"{jobs_path()}?limit=2&sourceTaskId=keep")
    assert len(jobs) == 7
    assert pages == 4
    assert {job["sourceTaskId"] for job in jobs} == {"keep"}


async def test_filter_by_status(client: Client, db: asyncpg.Connection[Any]) -> None:
    """API routes: `status` filter."""
    ids = {
        status: await insert_job(db, status=status)
        for status in ("queued", "running", "done", "failed", "cancelled")
    }
    for status, job_id in ids.items():
        resp = await client.get(f"{jobs_path()}?status={status}", headers=auth())
        assert resp.status == 200
        assert [job["id"] for job in await resp.json()] == [str(job_id)]


async def test_filter_by_job_type(client: Client) -> None:
    """API routes: `jobType` filter; an unknown type simply matches nothing."""
    echo = await submit(client, {"jobType": "echo"})
    sleep = await submit(client, {"jobType": "sleep"})
    for job_type, expected in (("echo", [echo]), ("sleep", [sleep]), ("nope", [])):
        resp = await client.get(f"{jobs_path()}?jobType={job_type}", headers=auth())
        assert resp.status == 200
        assert [job["id"] for job in await resp.json()] == [j["jobId"] for j in expected]


async def test_source_task_id_is_stored_returned_and_filterable(client: Client) -> None:
    """API routes: `sourceTaskId` filter; the job resource returns it."""
    a1 = await submit(client, {"jobType": "echo", "sourceTaskId": "task-abc-123"})
    await submit(client, {"jobType": "echo", "sourceTaskId": "task-other"})
    await submit(client, {"jobType": "echo"})
    a2 = await submit(client, {"jobType": "sleep", "sourceTaskId": "task-abc-123"})
    resp = await client.get(jobs_path(), params={"sourceTaskId": "task-abc-123"}, headers=auth())
    jobs = await resp.json()
    assert [job["id"] for job in jobs] == [a2["jobId"], a1["jobId"]]
    assert {job["sourceTaskId"] for job in jobs} == {"task-abc-123"}


async def test_filters_combine(client: Client, db: asyncpg.Connection[Any]) -> None:
    """API routes: `status`, `jobType` and `sourceTaskId` together."""
    match = await insert_job(db, job_type="sleep", status="done", source_task_id="t")
    await insert_job(db, job_type="echo", status="done", source_task_id="t")
    await insert_job(db, job_type="sleep", status="queued", source_task_id="t")
    await insert_job(db, job_type="sleep", status="done", source_task_id="u")
    resp = await client.get(
        jobs_path(), params={"status": "done", "jobType": "sleep", "sourceTaskId": "t"},
        headers=auth(),
    )  # fmt: skip
    assert [job["id"] for job in await resp.json()] == [str(match)]


@pytest.mark.parametrize(
    "limit", ["0", "201", "-1", "abc", "", "1.5", "1e2", " 5", "+5", "5_0", "٣", "9" * 5000]
)
async def test_bad_limit_is_400(client: Client, limit: str) -> None:
    """API routes: `400` bad limit (1-200)."""
    resp = await client.get(jobs_path(), params={"limit": limit}, headers=auth())
    assert resp.status == 400
    assert await error_of(resp) == "limit must be an integer from 1 to 200"


#: a well-formed job id (fixed: parameters must be the same in every xdist worker)
ANY_ID = b"0192a3b4-c5d6-7e8f-9a0b-1c2d3e4f5a6b"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage",
        "!!!",
        "é",
        "a",
        _b64(b"not json"),
        _b64(b"[]"),
        _b64(b"{}"),
        _b64(b"null"),
        _b64(b'["2030-01-01T00:00:00Z"]'),
        _b64(b'["2030-01-01T00:00:00Z", "not-a-uuid"]'),
        _b64(b'["yesterday", "' + ANY_ID + b'"]'),
        _b64(b'[1, "' + ANY_ID + b'"]'),
        _b64(b'["2030-01-01T00:00:00Z", "' + ANY_ID + b'", 3]'),
        _b64(b"\xff\xfe"),
    ],
)
async def test_bad_cursor_is_400(client: Client, cursor: str) -> None:
    """API routes: `400` bad cursor."""
    resp = await client.get(jobs_path(), params={"cursor": cursor}, headers=auth())
    assert resp.status == 400
    assert await error_of(resp) == "cursor is invalid"


@pytest.mark.parametrize("status", ["", "QUEUED", "pending", "done,failed"])
async def test_bad_status_is_400(client: Client, status: str) -> None:
    """API routes: `400` bad status; the message lists the valid ones."""
    resp = await client.get(jobs_path(), params={"status": status}, headers=auth())
    assert resp.status == 400
    assert await error_of(resp) == (
        "status must be one of queued, running, done, failed, cancelled"
    )


async def test_next_link_never_repeats_a_token_from_the_url(client: Client) -> None:
    """API auth: a token in a URL is never written out again (here: into `Link`)."""
    for _ in range(3):
        await submit(client)
    token = make_token()
    resp = await client.get(f"{jobs_path()}?limit=1&access_token={token}")
    assert resp.status == 200
    link = next_link(resp)
    assert link is not None
    assert token not in link
    assert "access_token" not in link
    assert "limit=1" in link


@pytest.mark.parametrize("name", ["jobType", "sourceTaskId"])
async def test_nul_in_a_filter_is_400(client: Client, name: str) -> None:
    """API routes: list filters are client input: a 400 (never a 500) for a NUL."""
    resp = await client.get(jobs_path(), params={name: "a\x00b"}, headers=auth())
    assert resp.status == 400
    assert await error_of(resp) == f"{name} must not contain NUL characters"

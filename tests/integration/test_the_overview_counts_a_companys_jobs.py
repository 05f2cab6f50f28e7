"""`GET .../content-jobs:overview`: the company's jobs counted by status and by type, only its
own, for whoever may list them (viewers too), and read at most about once a second."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import asyncpg

from service.client import ContentJobsClient
from tests.conftest import Client, auth, make_token
from tests.integration.helpers import error_of, insert_job, jobs_path

STATUSES = ("queued", "running", "done", "failed", "cancelled")


def overview_path(company: str = "acme") -> str:
    return jobs_path(company) + ":overview"


async def overview(client: Client, company: str = "acme") -> dict[str, Any]:
    resp = await client.get(overview_path(company), headers=auth(company, viewer=True))
    assert resp.status == 200, await resp.text()
    body: dict[str, Any] = await resp.json()
    return body


async def test_counts_by_status_and_type_of_the_company_only(
    client: Client, db: asyncpg.Connection[Any]
) -> None:
    for job_type, status in [
        ("echo", "queued"),
        ("echo", "queued"),
        ("echo", "done"),
        ("sleep", "failed"),
        ("sleep", "running"),
    ]:
        await insert_job(db, job_type=job_type, status=status)
    for _ in range(3):
        await insert_job(db, company="globex", job_type="markdown.html", status="done")

    body = await overview(client)
    assert body["byStatus"] == {"queued": 2, "running": 1, "done": 1, "failed": 1, "cancelled": 0}
    assert list(body["byStatus"]) == list(STATUSES)
    assert body["byType"] == {
        "echo": {"queued": 2, "done": 1},
        "sleep": {"failed": 1, "running": 1},
    }
    assert (body["submitted"], body["finished"]) == (5, 2)
    assert body["at"].endswith("Z")

    other = await overview(client, "globex")
    assert other["byType"] == {"markdown.html": {"done": 3}}
    assert (other["submitted"], other["finished"]) == (3, 3)


async def test_a_company_without_jobs_counts_zeros(client: Client) -> None:
    body = await overview(client, "initech")
    assert body["byStatus"] == dict.fromkeys(STATUSES, 0)
    assert (body["byType"], body["submitted"], body["finished"]) == ({}, 0, 0)


async def test_the_same_access_as_the_list(client: Client) -> None:
    """401 without a valid token (with the challenge), 403 for another company's token; a
    viewer reads it as it reads the list."""
    resp = await client.get(overview_path())
    assert resp.status == 401 and resp.headers["WWW-Authenticate"] == "Bearer"
    resp = await client.get(overview_path(), headers=auth("globex"))
    assert resp.status == 403
    assert await error_of(resp) == "forbidden: no access to this company"
    for headers in (auth("acme"), auth("acme", viewer=True), auth("*")):
        assert (await client.get(overview_path(), headers=headers)).status == 200
    resp = await client.get(jobs_path("not a company") + ":overview", headers=auth("*"))
    assert resp.status == 400


async def test_an_answer_is_kept_about_a_second(
    client: Client, db: asyncpg.Connection[Any]
) -> None:
    """A new job shows in the overview within about a second, not in the answer read just
    before it (the replica keeps a company's counts for a second)."""
    await insert_job(db)
    started = time.monotonic()
    first = await overview(client)
    await insert_job(db)
    again = await overview(client)
    if time.monotonic() - started < 0.9:  # within the second the first read began: kept
        assert again["submitted"] == first["submitted"] == 1
    while (await overview(client))["submitted"] == 1:
        assert time.monotonic() - started < 3, "the new job never showed"
        await asyncio.sleep(0.1)


async def test_the_python_client_reads_it(client: Client, db: asyncpg.Connection[Any]) -> None:
    await insert_job(db, job_type="sleep", status="failed")
    async with ContentJobsClient(str(client.make_url("/")), make_token("acme"), "acme") as jobs:
        body = await jobs.overview()
    assert body["byType"] == {"sleep": {"failed": 1}}
    assert (body["submitted"], body["finished"]) == (1, 1)

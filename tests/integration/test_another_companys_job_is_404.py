"""docs/api.md: another company's job is `404`, like an unknown one, on the routes that
reach a job through a query of their own: its event stream (the snapshot read) and its
retry. The caller's token and path name company A; the job is company B's."""

from __future__ import annotations

from typing import Any

import asyncpg

from service.api.stream import NOT_FOUND_BODY
from tests.conftest import Client, auth
from tests.integration.helpers import error_of, insert_job, job_path


async def test_a_stream_of_another_companys_job_is_an_sse_404(
    client: Client, db: asyncpg.Connection[Any]
) -> None:
    """A fresh stream (no Last-Event-ID: the snapshot read) of B's job under A's path is
    `404` with `event: error`, even for a token that may use both companies."""
    theirs = await insert_job(db, company="globex")
    for headers in (auth("acme"), auth("acme", "globex")):
        resp = await client.get(job_path(theirs, "acme") + "/events", headers=headers)
        assert resp.status == 404
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        assert await resp.text() == NOT_FOUND_BODY


async def test_retry_of_another_companys_failed_job_is_404_and_changes_nothing(
    client: Client, db: asyncpg.Connection[Any]
) -> None:
    """`POST .../retry` under A for B's failed job is `404`; B's job stays failed."""
    theirs = await insert_job(db, company="globex", status="failed")
    for headers in (auth("acme"), auth("acme", "globex")):
        resp = await client.post(job_path(theirs, "acme") + "/retry", headers=headers)
        assert resp.status == 404
        assert await error_of(resp) == "Job not found"
    job = await (await client.get(job_path(theirs, "globex"), headers=auth("globex"))).json()
    assert (job["status"], job["finishedAt"] is not None) == ("failed", True)

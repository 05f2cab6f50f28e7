"""`GET .../content-jobs/{jobId}` and `POST .../content-jobs/{jobId}/cancel`."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import pytest

from tests.conftest import Client, auth
from tests.integration.helpers import error_of, insert_job, job_path, submit

NOT_UUIDS = ["nope", "123", "00000000-0000-0000-0000-00000000000g", "%20", "a" * 500]


async def test_get_returns_the_job(client: Client) -> None:
    """API routes: `GET .../{jobId}` -> `200` job."""
    created = await submit(client, {"jobType": "echo", "input": {"a": 1}})
    resp = await client.get(job_path(created["jobId"]), headers=auth())
    assert resp.status == 200
    job = await resp.json()
    assert job["id"] == created["jobId"]
    assert job["input"] == {"a": 1}
    assert job["status"] == "queued"


async def test_get_accepts_the_uuid_in_any_case(client: Client) -> None:
    """API routes: the job id is a UUID (its canonical text is not the only spelling)."""
    created = await submit(client)
    resp = await client.get(job_path(created["jobId"].upper()), headers=auth())
    assert resp.status == 200
    assert (await resp.json())["id"] == created["jobId"]


async def test_get_unknown_job_is_404(client: Client) -> None:
    """API routes: `404 {"error": "Job not found"}`."""
    resp = await client.get(job_path(uuid.uuid4()), headers=auth())
    assert resp.status == 404
    assert await resp.json() == {"error": "Job not found"}


@pytest.mark.parametrize("job_id", NOT_UUIDS)
async def test_get_non_uuid_id_is_404(client: Client, job_id: str) -> None:
    """API routes: `404 {"error": "Job not found"}` also for a non-UUID id."""
    resp = await client.get(job_path(job_id), headers=auth())
    assert resp.status == 404
    assert await resp.json() == {"error": "Job not found"}


async def test_get_other_companys_job_is_404(client: Client) -> None:
    """API routes: `404` also for another company's job (even with access to both)."""
    created = await submit(client, company="acme")
    resp = await client.get(job_path(created["jobId"], "globex"), headers=auth("acme", "globex"))
    assert resp.status == 404
    assert await resp.json() == {"error": "Job not found"}


async def test_cancel_queued_job(client: Client, db: asyncpg.Connection[Any]) -> None:
    """API routes: cancel -> `200` job, now `cancelled`; terminal jobs have `finishedAt`."""
    created = await submit(client)
    resp = await client.post(job_path(created["jobId"]) + "/cancel", headers=auth())
    assert resp.status == 200
    job = await resp.json()
    assert job["id"] == created["jobId"]
    assert job["status"] == "cancelled"
    assert job["finishedAt"] is not None
    assert job["updatedAt"] >= job["createdAt"]
    again = await (await client.get(job_path(created["jobId"]), headers=auth())).json()
    assert again == job
    assert await db.fetchval("SELECT status FROM content_jobs") == "cancelled"


async def test_cancel_running_job(client: Client, db: asyncpg.Connection[Any]) -> None:
    """API routes: a running job can be cancelled too (its lease is dropped)."""
    job_id = await insert_job(db, status="running")
    resp = await client.post(job_path(job_id) + "/cancel", headers=auth())
    assert resp.status == 200
    assert (await resp.json())["status"] == "cancelled"
    row = await db.fetchrow("SELECT * FROM content_jobs WHERE id = $1", job_id)
    assert row is not None
    assert row["lease_expires_at"] is None


async def test_cancel_needs_no_body(client: Client) -> None:
    """API routes: cancel takes no body; one that is sent is ignored."""
    created = await submit(client)
    resp = await client.post(
        job_path(created["jobId"]) + "/cancel", data=b"not json", headers=auth()
    )
    assert resp.status == 200


@pytest.mark.parametrize("status", ["done", "failed", "cancelled"])
async def test_cancel_terminal_job_is_409_and_changes_nothing(
    client: Client, db: asyncpg.Connection[Any], status: str
) -> None:
    """API routes: cancel `409` if already terminal; a terminal job never changes again."""
    job_id = await insert_job(db, status=status)
    before = await (await client.get(job_path(job_id), headers=auth())).json()
    resp = await client.post(job_path(job_id) + "/cancel", headers=auth())
    assert resp.status == 409
    assert await error_of(resp) == f"job is already {status}"
    after = await (await client.get(job_path(job_id), headers=auth())).json()
    assert after == before


async def test_second_cancel_is_409(client: Client) -> None:
    """API routes: cancel `409` if already terminal (cancelled by an earlier cancel)."""
    created = await submit(client)
    path = job_path(created["jobId"]) + "/cancel"
    assert (await client.post(path, headers=auth())).status == 200
    resp = await client.post(path, headers=auth())
    assert resp.status == 409
    assert await error_of(resp) == "job is already cancelled"


async def test_cancel_unknown_job_is_404(client: Client) -> None:
    """API routes: cancel `404` for an unknown job."""
    resp = await client.post(job_path(uuid.uuid4()) + "/cancel", headers=auth())
    assert resp.status == 404
    assert await resp.json() == {"error": "Job not found"}


@pytest.mark.parametrize("job_id", NOT_UUIDS)
async def test_cancel_non_uuid_id_is_404(client: Client, job_id: str) -> None:
    """API routes: cancel `404` for a non-UUID id."""
    resp = await client.post(job_path(job_id) + "/cancel", headers=auth())
    assert resp.status == 404
    assert await resp.json() == {"error": "Job not found"}


async def test_get_and_cancel_reject_other_methods(client: Client) -> None:
    """API routes: only the listed methods; others are a JSON 405 with `Allow`."""
    created = await submit(client)
    resp = await client.delete(job_path(created["jobId"]), headers=auth())
    assert resp.status == 405
    assert "GET" in resp.headers["Allow"]
    await error_of(resp)
    resp = await client.get(job_path(created["jobId"]) + "/cancel", headers=auth())
    assert resp.status == 405
    assert "POST" in resp.headers["Allow"]
    await error_of(resp)

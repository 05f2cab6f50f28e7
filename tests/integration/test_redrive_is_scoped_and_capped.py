"""CONTRACT "Flow control", redrive: `POST .../content-jobs:retry` queues again every job of
the path's company with the status (and type, and finish time) asked, at most 10,000 per call,
in one transaction; another company's jobs are untouched; editors only."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from service.api import admin_routes
from service.db.store import Store
from tests.conftest import Client, auth
from tests.integration.helpers import error_of, jobs_path


async def ended(store: Store, company: str, job_type: str, status: str, count: int) -> None:
    await store.pool.execute(
        "INSERT INTO content_jobs (id, company_id, job_type, input, max_attempts, status,"
        " attempts, error_message, finished_at)"
        " SELECT gen_random_uuid(), $1, $2, '{}', 3, $3, 3, 'boom', now()"
        " FROM generate_series(1, $4)",
        company,
        job_type,
        status,
        count,
    )


async def redrive(client: Client, body: Any, company: str = "acme", **auth_args: Any) -> Any:
    return await client.post(
        jobs_path(company) + ":retry", json=body, headers=auth(company, **auth_args)
    )


async def counts(store: Store) -> dict[tuple[str, str, str], int]:
    rows = await store.pool.fetch(
        "SELECT company_id, job_type, status, count(*) AS n FROM content_jobs GROUP BY 1, 2, 3"
    )
    return {(r["company_id"], r["job_type"], r["status"]): r["n"] for r in rows}


async def test_redrive_queues_the_companys_matching_jobs_only(client: Client, store: Store) -> None:
    await ended(store, "acme", "echo", "failed", 3)
    await ended(store, "acme", "sleep", "failed", 2)
    await ended(store, "acme", "echo", "cancelled", 2)
    await ended(store, "beta", "echo", "failed", 4)

    resp = await redrive(client, {"status": "failed", "jobType": "echo"})
    assert resp.status == 200, await resp.text()
    assert await resp.json() == {"retried": 3}
    assert await counts(store) == {
        ("acme", "echo", "queued"): 3,
        ("acme", "sleep", "failed"): 2,
        ("acme", "echo", "cancelled"): 2,
        ("beta", "echo", "failed"): 4,
    }
    # queued afresh, as a retry does
    row = await store.pool.fetchrow(
        "SELECT attempts, error_message, finished_at FROM content_jobs"
        " WHERE company_id = 'acme' AND status = 'queued' LIMIT 1"
    )
    assert row is not None
    assert dict(row) == {"attempts": 1, "error_message": None, "finished_at": None}

    later = datetime.now(UTC).isoformat()
    resp = await redrive(client, {"status": "cancelled", "finishedAfter": later})
    assert await resp.json() == {"retried": 0}
    resp = await redrive(client, {"status": "cancelled", "finishedAfter": "2020-01-01T00:00:00Z"})
    assert await resp.json() == {"retried": 2}


async def test_redrive_is_capped_per_call(
    client: Client, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(admin_routes, "MAX_REDRIVE", 4)
    await ended(store, "acme", "echo", "failed", 6)
    assert await (await redrive(client, {"status": "failed"})).json() == {"retried": 4}
    assert await (await redrive(client, {"status": "failed"})).json() == {"retried": 2}
    assert await (await redrive(client, {"status": "failed"})).json() == {"retried": 0}


async def test_redrive_is_for_editors_and_checks_its_body(client: Client) -> None:
    resp = await redrive(client, {"status": "failed"}, viewer=True)
    assert resp.status == 403
    resp = await client.post(
        jobs_path("beta") + ":retry", json={"status": "failed"}, headers=auth()
    )
    assert resp.status == 403
    for body, field in (
        ({"status": "done"}, "status"),
        ({}, "status"),
        ([], "status"),
        ({"status": "failed", "jobType": 3}, "jobType"),
        ({"status": "failed", "finishedAfter": "yesterday"}, "finishedAfter"),
    ):
        resp = await redrive(client, body)
        assert resp.status == 400, body
        assert field in await error_of(resp)

"""CONTRACT "Pipelines": in `:batch`, `dependsOn` may name earlier items as `"@<index>"`, so
a whole pipeline is one request and one transaction. A self, forward (and so any cyclic)
reference is that item's `400`, and the items depending on a failed item fail with it, each
with its own `400` naming that item."""

from __future__ import annotations

import uuid
from typing import Any

from service.db.store import Store
from service.domain.jobs import Status
from tests.conftest import Client, auth
from tests.integration.helpers import job_path, jobs_path


async def batch(client: Client, jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    resp = await client.post(jobs_path() + ":batch", json={"jobs": jobs}, headers=auth())
    assert resp.status == 200, await resp.text()
    results: list[dict[str, Any]] = (await resp.json())["results"]
    return results


async def job_of(client: Client, job_id: str) -> dict[str, Any]:
    data: dict[str, Any] = await (await client.get(job_path(job_id), headers=auth())).json()
    return data


async def test_a_pipeline_in_one_batch_runs_step_by_step(client: Client, store: Store) -> None:
    results = await batch(
        client,
        [
            {"jobType": "echo", "input": {"step": "generate"}},
            {"jobType": "echo", "input": {"step": "render"}, "dependsOn": ["@0"]},
            {"jobType": "echo", "input": {"step": "publish"}, "dependsOn": ["@1", "@0"]},
        ],
    )
    ids = [r["jobId"] for r in results]
    assert [r["status"] for r in results] == ["queued"] * 3
    render, publish = await job_of(client, ids[1]), await job_of(client, ids[2])
    assert render["dependsOn"] == [ids[0]]
    assert sorted(publish["waitingOn"]) == sorted(ids[:2])
    for step in range(3):
        [run] = await store.claim("w1", 30, 10)
        assert str(run.id) == ids[step]
        assert await store.claim("w1", 30, 10) == []
        assert await store.finish(run, Status.DONE, result={"step": step})


async def test_self_forward_and_cyclic_references_fail_their_item_and_its_dependents(
    client: Client,
) -> None:
    existing = (await batch(client, [{"jobType": "echo"}]))[0]["jobId"]
    results = await batch(
        client,
        [
            {"jobType": "echo"},
            {"jobType": "echo", "dependsOn": ["@1"]},  # itself
            {"jobType": "echo", "dependsOn": ["@3"]},  # forward (and a cycle with 3)
            {"jobType": "echo", "dependsOn": ["@2"]},
            {"jobType": "echo", "dependsOn": ["@0", existing]},
            {"jobType": "echo", "dependsOn": ["@4", "@1"]},  # on a failed item
            {"jobType": "echo", "dependsOn": ["@5"]},  # down the batch
            {"jobType": "echo", "dependsOn": [str(uuid.uuid4())]},
            {"jobType": "echo", "dependsOn": ["@x"]},
            {"jobType": "nope"},
            {"jobType": "echo", "dependsOn": ["@9"]},
        ],
    )
    assert "jobId" in results[0] and "jobId" in results[4]
    assert (await job_of(client, results[4]["jobId"]))["status"] == "queued"

    def error(index: int) -> str:
        assert results[index]["status"] == 400, results[index]
        message: str = results[index]["error"]
        assert "dependsOn" in message
        return message

    assert "itself" in error(1)
    assert "later item (jobs[3])" in error(2)
    assert "jobs[2]" in error(3)
    assert "jobs[1]" in error(5)
    assert "jobs[5]" in error(6)
    assert "unknown jobs" in error(7)
    assert "@<index>" in error(8)
    assert results[9]["status"] == 400
    assert "jobs[9]" in error(10)


async def test_references_resolve_to_an_idempotency_keys_job(client: Client) -> None:
    """An item with a key that names a job submitted earlier: its dependents depend on that
    job, whichever id it has."""
    first = await batch(client, [{"jobType": "echo", "idempotencyKey": "gen-1"}])
    again = await batch(
        client,
        [
            {"jobType": "echo", "idempotencyKey": "gen-1"},
            {"jobType": "echo", "dependsOn": ["@0"]},
        ],
    )
    assert again[0]["jobId"] == first[0]["jobId"]
    assert (await job_of(client, again[1]["jobId"]))["dependsOn"] == [first[0]["jobId"]]


async def test_a_reference_in_a_single_submit_is_400(client: Client) -> None:
    resp = await client.post(
        jobs_path(), json={"jobType": "echo", "dependsOn": ["@0"]}, headers=auth()
    )
    assert resp.status == 400
    assert "dependsOn" in (await resp.json())["error"]

"""CONTRACT "Flow control", pause: an admin pauses a job type on one replica and its jobs stay
queued on every replica (running ones finish, submits are accepted), `GET /api/job-types`
shows it, the pause survives a restart, and a resume lets the jobs run. Only a token with
role `admin` and `companies: ["*"]` may pause; an unknown type is 404."""

from __future__ import annotations

import asyncio
from typing import Any

from service.api.auth import issue_token
from service.db.store import Store
from tests.conftest import SECRET, Client, MakeClient, auth
from tests.integration.helpers import error_of, job_path, submit


def admin(*companies: str) -> dict[str, str]:
    token = issue_token(SECRET, companies or ("*",), sub="ops", admin=True)
    return {"Authorization": f"Bearer {token}"}


async def status_of(client: Client, job_id: str) -> str:
    job: dict[str, Any] = await (await client.get(job_path(job_id), headers=auth())).json()
    return str(job["status"])


async def until_status(client: Client, job_id: str, status: str, timeout: float = 10) -> None:
    async with asyncio.timeout(timeout):
        while await status_of(client, job_id) != status:
            await asyncio.sleep(0.02)


async def listed(client: Client, name: str) -> dict[str, Any]:
    types = await (await client.get("/api/job-types", headers=auth())).json()
    found: dict[str, Any] = next(t for t in types if t["name"] == name)
    return found


async def test_a_pause_holds_on_every_replica_and_survives_a_restart(
    make_client: MakeClient, store: Store
) -> None:
    one = await make_client(role="all", job_lease_seconds=3.0)
    two = await make_client(role="all", job_lease_seconds=3.0)
    running = await submit(one, {"jobType": "sleep", "input": {"seconds": 0.6, "steps": 3}})
    await until_status(one, running["jobId"], "running")

    resp = await one.post("/api/job-types/sleep/pause", headers=admin())
    assert resp.status == 200, await resp.text()
    paused = await resp.json()
    assert paused["name"] == "sleep" and paused["paused"] is True
    assert set(paused) >= {"description", "inputSchema", "timeoutSeconds", "maxAttempts"}

    # submits are accepted on either replica; neither starts them; other types still run
    held = [
        await submit(client, {"jobType": "sleep", "input": {"seconds": 0, "steps": 1}})
        for client in (one, two, two)
    ]
    other = await submit(two, {"jobType": "echo", "input": {"x": 1}})
    await until_status(two, other["jobId"], "done")
    await until_status(one, running["jobId"], "done")  # the running one finished
    await asyncio.sleep(1.0)  # a second of both replicas' claims and polls
    assert [await status_of(two, job["jobId"]) for job in held] == ["queued"] * 3
    assert (await listed(two, "sleep"))["paused"] is True
    assert (await listed(two, "echo"))["paused"] is False

    # a replica started afterwards (a restart) keeps it paused
    await one.close()
    three = await make_client(role="all", job_lease_seconds=3.0)
    assert (await listed(three, "sleep"))["paused"] is True
    await asyncio.sleep(0.5)
    assert await status_of(three, held[0]["jobId"]) == "queued"

    resp = await three.post("/api/job-types/sleep/resume", headers=admin())
    assert resp.status == 200 and (await resp.json())["paused"] is False
    for job in held:
        await until_status(three, job["jobId"], "done")
    assert (await listed(two, "sleep"))["paused"] is False


async def test_only_an_admin_of_every_company_may_pause(client: Client) -> None:
    for headers in (auth("*"), auth("*", viewer=True), admin("acme")):
        resp = await client.post("/api/job-types/echo/pause", headers=headers)
        assert resp.status == 403, await resp.text()
        assert "admin" in await error_of(resp)
    resp = await client.post("/api/job-types/echo/pause")
    assert resp.status == 401
    resp = await client.post("/api/job-types/nope/pause", headers=admin())
    assert resp.status == 404 and "nope" in await error_of(resp)
    resp = await client.post("/api/job-types/echo/resume", headers=admin())
    assert resp.status == 200 and (await resp.json())["paused"] is False


async def test_an_admin_is_an_editor_of_the_companies_it_names(client: Client) -> None:
    await submit(client, {"jobType": "echo"}, headers=admin("acme"))
    resp = await client.post(
        "/api/companies/beta/content-jobs", json={"jobType": "echo"}, headers=admin("acme")
    )
    assert resp.status == 403
    await submit(client, {"jobType": "echo"}, company="beta", headers=admin())


async def test_metrics_show_the_paused_types(client: Client) -> None:
    resp = await client.post("/api/job-types/sleep/pause", headers=admin())
    assert resp.status == 200
    text = await (await client.get("/metrics")).text()
    assert 'content_jobs_job_type_paused{job_type="sleep"} 1.0' in text
    assert 'content_jobs_job_type_paused{job_type="echo"}' not in text

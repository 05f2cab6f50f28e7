"""API the job resource, "Attempts" and "Claiming order": retries with backoff, delayed
runs, priorities, fair share between companies, quotas and the retry route — on a real
worker (HTTP on loopback, Postgres), timed by the database's own clock."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from datetime import datetime
from typing import Any

import pytest

from service.db.store import Store
from service.domain.jobs import NewJob, Status
from service.jobtypes import JobTypes
from service.settings import Settings
from service.worker.runner import Runner
from tests.conftest import Client, MakeClient, auth
from tests.integration.helpers import job_path, jobs_path, submit
from tests.sse import collect

TERMINAL = ("done", "failed", "cancelled")


async def until_finished(client: Client, job_id: str, timeout: float = 30) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        while True:
            job: dict[str, Any] = await (await client.get(job_path(job_id), headers=auth())).json()
            if job["status"] in TERMINAL:
                return job
            await asyncio.sleep(0.05)


def at(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def test_transient_failures_are_retried_and_every_attempt_is_seen(
    worker_client: Client,
) -> None:
    """`sleep` with `failAttempts: 2` ends `done` with `attempts: 3`; a watcher saw both
    failures as `queued` status events carrying that attempt's error."""
    body = {"jobType": "sleep", "input": {"seconds": 0.05, "steps": 1, "failAttempts": 2}}
    job_id = (await submit(worker_client, body))["jobId"]
    async with worker_client.get(job_path(job_id) + "/events", headers=auth()) as resp:
        events = await asyncio.wait_for(collect(resp), 30)
    statuses = [(e.data["status"], e.data["errorMessage"]) for e in events if e.event == "status"]
    assert ("queued", "transient failure on attempt 1") in statuses
    assert ("queued", "transient failure on attempt 2") in statuses
    assert statuses[-1] == ("done", None)
    job = await until_finished(worker_client, job_id)
    assert (job["status"], job["attempts"], job["maxAttempts"]) == ("done", 3, 3)


async def test_a_failed_attempt_waits_its_types_backoff_before_the_next(
    worker_client: Client, db: Any
) -> None:
    """CONTRACT attempts: a transient failure puts the job back with `runAt` set by its
    type's backoff (`sleep`: base 1 s, full jitter, so uniform in [0, 1 s] after attempt 1),
    and no worker claims it before then. Times are the database's: the failure's and the
    restart's `status` events, and the job's `runAt`. Eight jobs, so that all eight waits
    being under 0.1 s (what no backoff gives) has a chance of 1e-8 by jitter."""
    body = {"jobType": "sleep", "input": {"seconds": 0, "steps": 1, "failAttempts": 1}}
    job_ids = [(await submit(worker_client, body))["jobId"] for _ in range(8)]
    waits = []
    for job_id in job_ids:
        job = await until_finished(worker_client, job_id)
        assert (job["status"], job["attempts"]) == ("done", 2)
        events = await db.fetch(
            "SELECT data->>'status' AS status, data->>'errorMessage' AS error, created_at"
            " FROM content_job_events WHERE job_id = $1 AND event_type = 'status' ORDER BY seq",
            uuid.UUID(job_id),
        )
        assert [(e["status"], e["error"]) for e in events] == [
            ("queued", None),
            ("running", None),
            ("queued", "transient failure on attempt 1"),
            ("running", None),
            ("done", None),
        ]
        failed_at, restarted_at = events[2]["created_at"], events[3]["created_at"]
        run_at = at(job["runAt"])
        waits.append((run_at - failed_at).total_seconds())
        assert restarted_at >= run_at, (job_id, run_at, restarted_at)
    # the event's clock_timestamp() is a little after the transaction's now() that runAt uses
    # (milliseconds; more on a loaded machine), so a wait may look slightly negative
    assert all(-0.25 <= wait <= 1.0 for wait in waits), waits
    assert max(waits) > 0.1, waits


async def test_transient_failures_past_max_attempts_fail_the_job(worker_client: Client) -> None:
    body = {
        "jobType": "sleep",
        "input": {"seconds": 0, "steps": 1, "failAttempts": 5},
        "maxAttempts": 2,
    }
    job = await until_finished(worker_client, (await submit(worker_client, body))["jobId"])
    assert (job["status"], job["attempts"]) == ("failed", 2)
    assert job["errorMessage"] == "transient failure on attempt 2"


async def test_a_permanent_failure_is_not_retried(worker_client: Client) -> None:
    body = {"jobType": "sleep", "input": {"seconds": 0, "steps": 2, "failAtStep": 1}}
    job = await until_finished(worker_client, (await submit(worker_client, body))["jobId"])
    assert (job["status"], job["attempts"], job["errorMessage"]) == (
        "failed",
        1,
        "failed at step 1",
    )


async def test_a_delayed_job_starts_on_time(make_client: MakeClient) -> None:
    """`delaySeconds: 2`: started no earlier than 2 s after submit, and by a worker's timer,
    not its poll: with a poll of a minute, within a second of its `runAt` (milliseconds on a
    quiet machine; a loaded CI machine once took 0.8 s to start a claim)."""
    client = await make_client(role="all", poll_interval_seconds=60.0)
    body = {"jobType": "echo", "delaySeconds": 2}
    job_id = (await submit(client, body))["jobId"]
    queued = await (await client.get(job_path(job_id), headers=auth())).json()
    assert queued["status"] == "queued"
    job = await until_finished(client, job_id)
    waited = (at(job["startedAt"]) - at(job["createdAt"])).total_seconds()
    assert 2.0 <= waited <= 3.0, waited
    assert 0 <= (at(job["startedAt"]) - at(job["runAt"])).total_seconds() <= 1.0


async def test_run_at_in_the_past_runs_now_and_bad_times_are_400(worker_client: Client) -> None:
    body = {"jobType": "echo", "runAt": "2020-01-01T00:00:00Z"}
    job = await until_finished(worker_client, (await submit(worker_client, body))["jobId"])
    assert job["status"] == "done"
    for bad, field in (
        ({"runAt": "tomorrow"}, "runAt"),
        ({"runAt": "2030-01-01T00:00:00Z", "delaySeconds": 1}, "runAt or delaySeconds"),
        ({"delaySeconds": -1}, "delaySeconds"),
        ({"priority": 101}, "priority"),
        ({"priority": "high"}, "priority"),
        ({"maxAttempts": 0}, "maxAttempts"),
        ({"maxAttempts": 26}, "maxAttempts"),
    ):
        resp = await worker_client.post(
            jobs_path(), json={"jobType": "echo", **bad}, headers=auth()
        )
        assert resp.status == 400, bad
        assert field in (await resp.json())["error"]


async def test_higher_priority_runs_next(make_client: MakeClient) -> None:
    """One worker, concurrency 1, a backlog: a higher-priority job is the next to run."""
    client = await make_client(role="all", runner_concurrency=1)
    blocker = (await submit(client, {"jobType": "sleep", "input": {"seconds": 0.5}}))["jobId"]
    backlog = [(await submit(client, {"jobType": "echo"}))["jobId"] for _ in range(5)]
    urgent = (await submit(client, {"jobType": "echo", "priority": 50}))["jobId"]
    jobs = [await until_finished(client, j) for j in [blocker, *backlog, urgent]]
    order = sorted(jobs, key=lambda job: job["startedAt"])
    assert order[0]["id"] == blocker
    assert order[1]["id"] == urgent
    assert order[1]["priority"] == 50


async def test_a_big_backlog_does_not_delay_another_company(
    settings: Settings, store: Store, job_types: JobTypes
) -> None:
    """Company A has 1,000 queued jobs; company B's new job starts within one claim round."""
    await store.pool.execute(
        "INSERT INTO content_jobs (id, company_id, job_type, input, max_attempts)"
        " SELECT gen_random_uuid(), 'a', 'sleep', '{\"seconds\": 0.2, \"steps\": 1}', 1"
        " FROM generate_series(1, 1000)"
    )
    runner = Runner(store, dataclasses.replace(settings, runner_concurrency=4), job_types)
    runner.start()
    try:
        async with asyncio.timeout(10):
            while len(runner.runs) < 4:
                await asyncio.sleep(0.01)
        job = await store.submit(NewJob("b", "echo", {}, None, max_attempts=1))
        async with asyncio.timeout(10):
            while (current := await store.get("b", job.id)) and current.status != Status.DONE:
                await asyncio.sleep(0.02)
        assert current is not None and current.started_at is not None
        a_jobs_first = await store.pool.fetchval(
            "SELECT count(*) FROM content_jobs WHERE company_id = 'a'"
            " AND started_at > $1 AND started_at < $2",
            job.created_at,
            current.started_at,
        )
    finally:
        await runner.stop()
    assert a_jobs_first <= 4  # at most the claim round that was under way


async def test_company_max_running_caps_a_company_across_workers(
    settings: Settings, store: Store, job_types: JobTypes
) -> None:
    capped = dataclasses.replace(settings, runner_concurrency=4, company_max_running=1)
    for _ in range(4):
        await store.submit(NewJob("a", "sleep", {"seconds": 0.3, "steps": 1}, None, 1))
    other = await store.submit(NewJob("b", "sleep", {"seconds": 0.3, "steps": 1}, None, 1))
    runners = [Runner(store, capped, job_types), Runner(store, capped, job_types)]
    most = 0
    for runner in runners:
        runner.start()
    try:
        async with asyncio.timeout(15):
            while await store.pool.fetchval(
                "SELECT count(*) FROM content_jobs WHERE status <> 'done'"
            ):
                most = max(
                    most,
                    await store.pool.fetchval(
                        "SELECT count(*) FROM content_jobs"
                        " WHERE company_id = 'a' AND status = 'running'"
                    ),
                )
                await asyncio.sleep(0.01)
    finally:
        for runner in runners:
            await runner.stop()
    assert most == 1
    done = await store.get("b", other.id)
    assert done is not None and done.status == Status.DONE


async def test_company_max_queued_answers_429(make_client: MakeClient) -> None:
    client = await make_client(company_max_queued=3)
    for _ in range(3):
        await submit(client)
    resp = await client.post(jobs_path(), json={"jobType": "echo"}, headers=auth())
    assert resp.status == 429
    assert int(resp.headers["Retry-After"]) > 0
    assert "COMPANY_MAX_QUEUED" in (await resp.json())["error"]
    other = await client.post(jobs_path("globex"), json={"jobType": "echo"}, headers=auth("globex"))
    assert other.status == 202


async def test_retry_of_a_failed_job_starts_it_afresh_and_its_events_go_on(
    worker_client: Client,
) -> None:
    body = {"jobType": "sleep", "input": {"seconds": 0, "steps": 1, "failAtStep": 1}}
    job_id = (await submit(worker_client, body))["jobId"]
    failed = await until_finished(worker_client, job_id)
    assert failed["status"] == "failed"
    async with worker_client.get(job_path(job_id) + "/events?lastEventId=0", headers=auth()) as r:
        before = await asyncio.wait_for(collect(r), 10)
    last = before[-1].id
    assert last is not None
    resp = await worker_client.post(job_path(job_id) + "/retry", headers=auth())
    assert resp.status == 200
    retried = await resp.json()
    assert (retried["status"], retried["attempts"], retried["errorMessage"]) == ("queued", 1, None)
    # a client that had the terminal event reconnects and gets the new events
    headers = {**auth(), "Last-Event-ID": str(last)}
    async with worker_client.get(job_path(job_id) + "/events", headers=headers) as r:
        assert r.status == 200
        after = await asyncio.wait_for(collect(r), 10)
    assert after[0].id == last + 1
    assert after[0].data["status"] == "queued"
    assert after[-1].data["status"] == "failed"


async def test_retry_is_only_for_failed_or_cancelled_jobs(client: Client) -> None:
    job_id = (await submit(client))["jobId"]
    resp = await client.post(job_path(job_id) + "/retry", headers=auth())
    assert resp.status == 409
    assert "queued" in (await resp.json())["error"]
    await client.post(job_path(job_id) + "/cancel", headers=auth())
    resp = await client.post(job_path(job_id) + "/retry", headers=auth())
    assert resp.status == 200 and (await resp.json())["status"] == "queued"
    missing = await client.post(job_path(uuid.uuid4()) + "/retry", headers=auth())
    assert missing.status == 404
    viewer = await client.post(job_path(job_id) + "/retry", headers=auth(viewer=True))
    assert viewer.status == 403


@pytest.mark.parametrize("max_attempts", [1, 25])
async def test_max_attempts_at_submit_is_kept(client: Client, max_attempts: int) -> None:
    body = {"jobType": "echo", "maxAttempts": max_attempts}
    job_id = (await submit(client, body))["jobId"]
    job = await (await client.get(job_path(job_id), headers=auth())).json()
    assert job["maxAttempts"] == max_attempts


async def test_retry_starts_the_attempts_over(client: Client, store: Store) -> None:
    """A job that failed on its last attempt (2 of 2) is queued again at attempt 1."""
    job_id = uuid.UUID((await submit(client, {"jobType": "echo", "maxAttempts": 2}))["jobId"])
    for _ in range(2):
        [claimed] = await store.claim("w", 30.0, 1)
        await store.fail_attempt(claimed, "transient", 0.0)
    failed = await store.get("acme", job_id)
    assert failed is not None and (failed.status, failed.attempts) == (Status.FAILED, 2)
    resp = await client.post(job_path(job_id) + "/retry", headers=auth())
    assert resp.status == 200
    assert ((await resp.json())["status"], (await resp.json())["attempts"]) == ("queued", 1)


async def test_retry_of_a_done_job_is_409_and_changes_nothing(
    worker_client: Client,
) -> None:
    job_id = (await submit(worker_client, {"jobType": "echo", "input": {"a": 1}}))["jobId"]
    done = await until_finished(worker_client, job_id)
    assert done["status"] == "done"
    resp = await worker_client.post(job_path(job_id) + "/retry", headers=auth())
    assert resp.status == 409
    assert "done" in (await resp.json())["error"]
    after = await (await worker_client.get(job_path(job_id), headers=auth())).json()
    assert (after["status"], after["result"], after["updatedAt"]) == (
        "done",
        {"a": 1},
        done["updatedAt"],
    )

"""CONTRACT.md, "Schedules": the routes. A schedule's body is checked (cron, timezone, exactly
one of cron and everySeconds, its job exactly as a submit), names are unique per company,
viewers read but never write, PATCH changes timing, job and pause, and DELETE leaves the
jobs the schedule submitted."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.conftest import Client, MakeClient, auth
from tests.integration.helpers import error_of

PATH = "/api/companies/acme/schedules"
JOB = {"jobType": "echo", "input": {"message": "hi"}}


async def create(client: Client, **fields: Any) -> dict[str, Any]:
    body = {"name": "nightly", "cron": "30 2 * * *", "timezone": "Europe/Berlin", "job": JOB}
    resp = await client.post(PATH, json={**body, **fields}, headers=auth())
    assert resp.status == 201, await resp.text()
    data: dict[str, Any] = await resp.json()
    return data


async def test_a_created_schedule_is_read_back_with_its_next_tick(client: Client) -> None:
    created = await create(client)
    assert set(created) == {
        "id", "name", "cron", "everySeconds", "timezone", "job", "paused", "nextRunAt",
        "lastRunAt", "createdAt",
    }  # fmt: skip
    assert created["cron"] == "30 2 * * *" and created["everySeconds"] is None
    assert created["job"] == JOB and created["paused"] is False and created["lastRunAt"] is None
    next_run = datetime.fromisoformat(created["nextRunAt"])
    local = next_run.astimezone(ZoneInfo("Europe/Berlin"))
    assert (local.hour, local.minute) in {(2, 30), (3, 30)}
    assert next_run - datetime.now(UTC) <= timedelta(days=1, hours=1)

    one = await client.get(f"{PATH}/{created['id']}", headers=auth(viewer=True))
    assert one.status == 200 and await one.json() == created
    listed = await client.get(PATH, headers=auth(viewer=True))
    assert listed.status == 200 and await listed.json() == [created]


async def test_every_seconds_defaults_to_utc_and_ticks_that_far_ahead(client: Client) -> None:
    created = await create(client, cron=None, timezone=None, everySeconds=60)
    assert created["timezone"] == "UTC" and created["everySeconds"] == 60
    ahead = datetime.fromisoformat(created["nextRunAt"]) - datetime.now(UTC)
    assert timedelta(seconds=50) < ahead <= timedelta(seconds=60)


@pytest.mark.parametrize(
    ("fields", "names"),
    [
        ({"cron": "61 * * * *"}, "cron"),
        ({"cron": "* * * * * *"}, "cron"),
        ({"cron": "0 0 30 2 *"}, "cron"),
        ({"cron": 5}, "cron"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"timezone": "../../etc/passwd"}, "timezone"),
        ({"everySeconds": 60}, "cron and everySeconds"),
        ({"cron": None}, "cron and everySeconds"),
        ({"cron": None, "everySeconds": 0}, "everySeconds"),
        ({"cron": None, "everySeconds": 86401}, "everySeconds"),
        ({"cron": None, "everySeconds": True}, "everySeconds"),
        ({"name": ""}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"job": None}, "job"),
        ({"job": {"jobType": "no.such.type"}}, "job.unknown jobType"),
        ({"job": {"jobType": "echo", "priority": 1000}}, "job.priority"),
        ({"job": {"jobType": "echo", "input": []}}, "job.input"),
        ({"job": {"jobType": "echo", "runAt": "2030-01-01T00:00:00Z"}}, "job.runAt"),
        ({"job": {"jobType": "echo", "sourceTaskId": "x"}}, "job.sourceTaskId"),
        ({"paused": "yes"}, "paused"),
    ],
)
async def test_a_bad_schedule_is_400_naming_the_field(
    client: Client, fields: dict[str, Any], names: str
) -> None:
    body = {"name": "nightly", "cron": "30 2 * * *", "job": JOB, **fields}
    resp = await client.post(PATH, json=body, headers=auth())
    assert resp.status == 400, await resp.text()
    assert names in await error_of(resp)


async def test_a_body_that_is_not_an_object_is_400(client: Client) -> None:
    resp = await client.post(PATH, data=b"[1]", headers=auth())
    assert resp.status == 400 and "JSON object" in await error_of(resp)


async def test_a_name_is_taken_once_per_company(client: Client) -> None:
    await create(client)
    again = await client.post(
        PATH, json={"name": "nightly", "everySeconds": 5, "job": JOB}, headers=auth()
    )
    assert again.status == 409 and "nightly" in await error_of(again)
    other = await client.post(
        "/api/companies/beta/schedules",
        json={"name": "nightly", "everySeconds": 5, "job": JOB},
        headers=auth("beta"),
    )
    assert other.status == 201


async def test_viewers_read_schedules_and_never_write_them(client: Client) -> None:
    created = await create(client)
    viewer = auth(viewer=True)
    body = {"name": "other", "everySeconds": 5, "job": JOB}
    assert (await client.post(PATH, json=body, headers=viewer)).status == 403
    one = f"{PATH}/{created['id']}"
    assert (await client.patch(one, json={"paused": True}, headers=viewer)).status == 403
    assert (await client.delete(one, headers=viewer)).status == 403
    assert (await client.get(one, headers=viewer)).status == 200
    assert (await client.get(one, headers=auth("beta"))).status == 403


async def test_an_unknown_or_foreign_schedule_is_404(client: Client) -> None:
    created = await create(client)
    for path in (f"{PATH}/{uuid.uuid4()}", f"{PATH}/not-a-uuid"):
        assert (await client.get(path, headers=auth())).status == 404
        assert (await client.patch(path, json={}, headers=auth())).status == 404
        assert (await client.delete(path, headers=auth())).status == 404
    foreign = f"/api/companies/beta/schedules/{created['id']}"
    assert (await client.get(foreign, headers=auth("beta"))).status == 404


async def test_patch_changes_timing_job_and_pause(client: Client) -> None:
    created = await create(client)
    one = f"{PATH}/{created['id']}"
    paused = await client.patch(one, json={"paused": True}, headers=auth())
    assert paused.status == 200
    body = await paused.json()
    assert body["paused"] is True and body["nextRunAt"] is None

    new_job = {"jobType": "echo", "input": {"message": "bye"}, "priority": 5}
    changed = await client.patch(
        one, json={"everySeconds": 30, "paused": False, "job": new_job}, headers=auth()
    )
    assert changed.status == 200, await changed.text()
    body = await changed.json()
    assert body["cron"] is None and body["everySeconds"] == 30 and body["job"] == new_job
    assert body["timezone"] == "Europe/Berlin" and body["paused"] is False
    ahead = datetime.fromisoformat(body["nextRunAt"]) - datetime.now(UTC)
    assert timedelta(seconds=20) < ahead <= timedelta(seconds=30)
    assert await (await client.get(one, headers=auth())).json() == body


@pytest.mark.parametrize(
    ("patch", "names"),
    [
        ({"cron": "nope"}, "cron"),
        ({"timezone": "Nowhere/Else"}, "timezone"),
        ({"cron": "* * * * *", "everySeconds": 5}, "cron and everySeconds"),
        ({"job": {"jobType": ""}}, "job.jobType"),
        ({"name": "renamed"}, "name"),
        ({"paused": 1}, "paused"),
    ],
)
async def test_a_bad_patch_is_400_and_changes_nothing(
    client: Client, patch: dict[str, Any], names: str
) -> None:
    created = await create(client)
    one = f"{PATH}/{created['id']}"
    resp = await client.patch(one, json=patch, headers=auth())
    assert resp.status == 400 and names in await error_of(resp)
    assert await (await client.get(one, headers=auth())).json() == created


async def test_deleting_a_schedule_leaves_its_jobs(make_client: MakeClient) -> None:
    """A worker replica submits a tick's job (tagged with the schedule); the job outlives
    the schedule, and keeps its `scheduleId`."""
    replica = await make_client(role="all")
    created = await create(replica, cron=None, everySeconds=1)
    job = await first_job_of(replica, created["id"])
    assert job["sourceTaskId"].startswith("schedule:nightly:")
    resp = await replica.delete(f"{PATH}/{created['id']}", headers=auth())
    assert resp.status == 204
    assert (await replica.get(f"{PATH}/{created['id']}", headers=auth())).status == 404
    kept = await replica.get(f"/api/companies/acme/content-jobs/{job['id']}", headers=auth())
    assert kept.status == 200 and (await kept.json())["scheduleId"] == created["id"]


async def first_job_of(client: Client, schedule_id: str) -> dict[str, Any]:
    """The first job a schedule's tick submitted (polled: the tick is seconds away)."""
    async with asyncio.timeout(10):
        while True:
            resp = await client.get("/api/companies/acme/content-jobs", headers=auth())
            jobs = [j for j in await resp.json() if j["scheduleId"] == schedule_id]
            if jobs:
                job: dict[str, Any] = jobs[-1]
                return job
            await asyncio.sleep(0.1)

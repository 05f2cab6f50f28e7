"""Every state change is a row in `content_job_events`, announced by NOTIFY after its commit."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import asyncpg

from service.domain.jobs import QUEUED_CHANNEL, channel
from tests.conftest import Client, auth
from tests.integration.helpers import job_path, submit, wait_for_notification

NOTIFY_TIMEOUT = 5.0


async def events_of(db: asyncpg.Connection[Any], job_id: str) -> list[dict[str, Any]]:
    rows = await db.fetch(
        "SELECT seq, event_type, data FROM content_job_events WHERE job_id = $1 ORDER BY seq",
        uuid.UUID(job_id),
    )
    return [{"seq": r["seq"], "type": r["event_type"], **json.loads(r["data"])} for r in rows]


async def event_seq_of(db: asyncpg.Connection[Any], job_id: str) -> int:
    seq: int = await db.fetchval(
        "SELECT event_seq FROM content_jobs WHERE id = $1", uuid.UUID(job_id)
    )
    return seq


async def test_submit_writes_event_1_queued(client: Client, db: asyncpg.Connection[Any]) -> None:
    """API event stream: the job's history starts with its first state, `status` queued,
    with the data a stream sends."""
    created = await submit(client)
    assert await events_of(db, created["jobId"]) == [
        {
            "seq": 1,
            "type": "status",
            "jobId": created["jobId"],
            "status": "queued",
            "progress": {"percent": 0, "message": None},
            "resultAssetId": None,
            "errorMessage": None,
        }
    ]
    assert await event_seq_of(db, created["jobId"]) == 1


async def test_cancel_writes_event_2_cancelled(client: Client, db: asyncpg.Connection[Any]) -> None:
    """API event stream: every change is an event with a larger id; cancel -> `status`
    cancelled, and the job's `event_seq` names it."""
    created = await submit(client)
    resp = await client.post(job_path(created["jobId"]) + "/cancel", headers=auth())
    assert resp.status == 200
    events = await events_of(db, created["jobId"])
    assert [(e["seq"], e["type"], e["status"]) for e in events] == [
        (1, "status", "queued"),
        (2, "status", "cancelled"),
    ]
    assert await event_seq_of(db, created["jobId"]) == 2


async def test_refused_cancel_writes_no_event(client: Client, db: asyncpg.Connection[Any]) -> None:
    """API job resource: a terminal job never changes again (no event either)."""
    created = await submit(client)
    path = job_path(created["jobId"]) + "/cancel"
    assert (await client.post(path, headers=auth())).status == 200
    assert (await client.post(path, headers=auth())).status == 409
    assert [e["seq"] for e in await events_of(db, created["jobId"])] == [1, 2]
    assert await event_seq_of(db, created["jobId"]) == 2


async def test_idempotent_replay_writes_no_event(
    client: Client, db: asyncpg.Connection[Any]
) -> None:
    """API routes: a replayed submission is the first job, not a new state change."""
    headers = {**auth(), "Idempotency-Key": "once"}
    first = await submit(client, headers=headers)
    await submit(client, headers=headers)
    assert [e["seq"] for e in await events_of(db, first["jobId"])] == [1]


async def test_cancel_notifies_the_jobs_channel(
    client: Client, db: asyncpg.Connection[Any]
) -> None:
    """API event stream (any replica): a change is announced on `content_job:<jobId>`
    with payload `<jobId>:<seq>`."""
    created = await submit(client)
    job_id = uuid.UUID(created["jobId"])
    notified = await wait_for_notification(db, channel(job_id))
    resp = await client.post(job_path(job_id) + "/cancel", headers=auth())
    assert resp.status == 200
    payload = await asyncio.wait_for(notified, NOTIFY_TIMEOUT)
    assert payload == f"{job_id}:2"
    assert channel(job_id) == f"content_job:{job_id}"


async def test_submit_notifies_idle_workers(client: Client, db: asyncpg.Connection[Any]) -> None:
    """API routes (workers run jobs): a submission is announced on `content_jobs_queued`."""
    notified = await wait_for_notification(db, QUEUED_CHANNEL)
    await submit(client)
    assert await asyncio.wait_for(notified, NOTIFY_TIMEOUT) == ""
    assert QUEUED_CHANNEL == "content_jobs_queued"


async def test_notification_comes_after_the_commit(
    client: Client, db: asyncpg.Connection[Any], database_url: str
) -> None:
    """API event stream: a listener woken by the NOTIFY already finds the event row."""
    created = await submit(client)
    job_id = uuid.UUID(created["jobId"])
    reader = await asyncpg.connect(database_url)
    try:
        seen: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        tasks: list[asyncio.Task[None]] = []

        def on_notify(conn: object, pid: int, chan: str, payload: object) -> None:
            async def read() -> None:
                seq = int(str(payload).rsplit(":", 1)[1])
                found = await reader.fetchval(
                    "SELECT count(*) FROM content_job_events WHERE job_id = $1 AND seq = $2",
                    job_id,
                    seq,
                )
                seen.set_result(found)

            tasks.append(asyncio.get_running_loop().create_task(read()))

        await db.add_listener(channel(job_id), on_notify)
        await client.post(job_path(job_id) + "/cancel", headers=auth())
        assert await asyncio.wait_for(seen, NOTIFY_TIMEOUT) == 1
    finally:
        await reader.close()

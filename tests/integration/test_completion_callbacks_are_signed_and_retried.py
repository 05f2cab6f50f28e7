"""API "Completion callbacks": a job with `callbackUrl` is POSTed to a real local HTTP
server when it ends, signed; a 500 is retried with backoff; a delivery survives its
worker being SIGKILLed; hosts outside `WEBHOOK_ALLOWED_HOSTS`, other schemes and special
addresses not listed by name are `400` at submit."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest

from service.dev.pgserver import LocalPostgres
from service.webhooks.signing import verify_signature
from tests.conftest import SECRET, Client, MakeClient, auth
from tests.integration.helpers import Receiver, job_path, jobs_path
from tests.integration.test_replicas_share_one_database_and_lose_no_event import HEADERS, JOBS
from tests.processes import Replica

pytestmark = pytest.mark.timeout(90)
HOOK_SECRET = "webhook-secret-that-is-long-enough-for-hmac"
SECRET_PATH = "/api/companies/acme/webhook-secret"


@pytest.fixture
async def hooked(make_client: MakeClient) -> Client:
    return await make_client(
        role="all", webhook_allowed_hosts=("127.0.0.1",), webhook_secret=HOOK_SECRET
    )


async def callback_of(client: Client, job_id: str, state: str) -> dict[str, Any]:
    async with asyncio.timeout(30):
        while True:
            job: dict[str, Any] = await (await client.get(job_path(job_id), headers=auth())).json()
            if job["callback"] and job["callback"]["state"] == state:
                return job
            await asyncio.sleep(0.05)


async def test_a_finished_job_is_posted_signed(hooked: Client, receiver: Receiver, db: Any) -> None:
    resp = await hooked.post(
        jobs_path(), json={"jobType": "echo", "input": {"a": 1}, "callbackUrl": receiver.url},
        headers=auth(),
    )  # fmt: skip
    assert resp.status == 202
    job_id = (await resp.json())["jobId"]
    await receiver.deliveries(1)
    headers, body = receiver.received[0]
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Content-Jobs-Event"] == "job.finished"
    secret = (await (await hooked.get(SECRET_PATH, headers=auth())).json())["secret"]
    assert verify_signature(secret, headers, body)
    other = (await (await hooked.get(SECRET_PATH.replace("acme", "other"),
                                     headers=auth("other"))).json())["secret"]  # fmt: skip
    assert not verify_signature(other, headers, body)  # one company's receiver cannot forge
    assert not verify_signature("whsec_" + HOOK_SECRET, headers, body)  # WEBHOOK_SECRET signs none
    delivery_id = await db.fetchval(
        "SELECT id FROM content_job_callbacks WHERE job_id = $1::uuid", job_id
    )
    assert headers["webhook-id"] == str(delivery_id)
    job = json.loads(body)
    assert (job["id"], job["status"], job["result"]) == (job_id, "done", {"a": 1})
    assert job["callbackUrl"] == receiver.url
    finished = await callback_of(hooked, job_id, "delivered")
    assert finished["callback"] == {"state": "delivered", "attempts": 1, "lastStatus": 200}


async def test_a_500_is_retried_and_every_attempt_is_kept(
    hooked: Client, receiver: Receiver, db: Any
) -> None:
    receiver.answers = [500]
    resp = await hooked.post(
        jobs_path(), json={"jobType": "echo", "callbackUrl": receiver.url}, headers=auth()
    )
    job_id = (await resp.json())["jobId"]
    await receiver.deliveries(2, timeout=15)  # the first retry comes within 5 s
    ids = {headers["webhook-id"] for headers, _ in receiver.received}
    assert len(ids) == 1  # the same delivery, tried again
    job = await callback_of(hooked, job_id, "delivered")
    assert job["callback"] == {"state": "delivered", "attempts": 2, "lastStatus": 200}
    rows = await db.fetch(
        "SELECT a.attempt, a.status FROM content_job_callback_attempts a"
        " JOIN content_job_callbacks c ON c.id = a.delivery_id WHERE c.job_id = $1::uuid"
        " ORDER BY a.attempt",
        job_id,
    )
    assert [(r["attempt"], r["status"]) for r in rows] == [(1, 500), (2, 200)]


async def test_a_cancelled_job_is_posted_too(hooked: Client, receiver: Receiver) -> None:
    resp = await hooked.post(
        jobs_path(),
        json={"jobType": "sleep", "input": {"seconds": 30}, "callbackUrl": receiver.url},
        headers=auth(),
    )
    job_id = (await resp.json())["jobId"]
    await hooked.post(job_path(job_id) + "/cancel", headers=auth())
    await receiver.deliveries(1)
    assert json.loads(receiver.received[0][1])["status"] == "cancelled"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://example.com/hook", "not in WEBHOOK_ALLOWED_HOSTS"),
        ("ftp://127.0.0.1/hook", "http(s) URL"),
        ("not a url", "http(s) URL"),
        (5, "http(s) URL"),
        ("http://10.0.0.1/hook", "private or special address"),  # matches *.0.0.1 only
    ],
)
async def test_disallowed_callback_urls_are_400(
    make_client: MakeClient, url: Any, message: str
) -> None:
    client = await make_client(
        webhook_allowed_hosts=("127.0.0.1", "*.0.0.1"), webhook_secret=HOOK_SECRET
    )
    resp = await client.post(
        jobs_path(), json={"jobType": "echo", "callbackUrl": url}, headers=auth()
    )
    assert resp.status == 400
    assert message in (await resp.json())["error"]


async def test_callbacks_are_off_without_allowed_hosts(client: Client) -> None:
    resp = await client.post(
        jobs_path(), json={"jobType": "echo", "callbackUrl": "http://127.0.0.1/x"}, headers=auth()
    )
    assert resp.status == 400
    assert "WEBHOOK_ALLOWED_HOSTS" in (await resp.json())["error"]


async def test_a_delivery_survives_its_worker_being_killed(
    own_postgres: LocalPostgres, tmp_path: Path, receiver: Receiver
) -> None:
    conn = await asyncpg.connect(own_postgres.dsn)
    await conn.execute("TRUNCATE content_jobs, content_job_events CASCADE")
    await conn.close()
    env = {
        "DATABASE_URL": own_postgres.dsn,
        "AUTH_JWT_SECRET": SECRET,
        "WEBHOOK_SECRET": HOOK_SECRET,
        "WEBHOOK_ALLOWED_HOSTS": "127.0.0.1",
        "LOG_FORMAT": "json",
    }
    receiver.hang_first = True
    first = Replica("first", "all", env, tmp_path)
    first.start()
    second = None
    try:
        await first.wait_ready()
        async with aiohttp.ClientSession(headers=HEADERS) as session:
            body = {"jobType": "echo", "callbackUrl": receiver.url}
            async with session.post(f"{first.url}{JOBS}", json=body) as resp:
                job_id = (await resp.json())["jobId"]
            await receiver.deliveries(1)  # the first worker is sending it: kill it now
            assert first.process is not None
            first.process.send_signal(signal.SIGKILL)
            first.process.wait()
            second = Replica("second", "all", env, tmp_path)
            second.start()
            await second.wait_ready()
            await receiver.deliveries(2, timeout=40)
            ids = {headers["webhook-id"] for headers, _ in receiver.received}
            assert len(ids) == 1
            async with asyncio.timeout(10):
                while True:
                    async with session.get(f"{second.url}{JOBS}/{job_id}") as resp:
                        callback = (await resp.json())["callback"]
                    if callback["state"] == "delivered":
                        break
                    await asyncio.sleep(0.1)
    finally:
        first.stop()
        if second is not None:
            second.stop()

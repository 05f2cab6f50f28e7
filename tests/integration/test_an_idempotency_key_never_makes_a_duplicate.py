"""`Idempotency-Key` on submit: one job per key and body for 24 hours, never a duplicate."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest

from tests.conftest import Client, auth
from tests.integration.helpers import error_of, jobs_path, submit


def keyed(key: str, *companies: str) -> dict[str, str]:
    return {**auth(*companies), "Idempotency-Key": key}


async def count_jobs(db: asyncpg.Connection[Any]) -> int:
    count: int = await db.fetchval("SELECT count(*) FROM content_jobs")
    return count


async def test_replay_returns_the_same_job(client: Client, db: asyncpg.Connection[Any]) -> None:
    """API routes: with `Idempotency-Key`, the first request's job (`202`, same `jobId`)."""
    body = {"jobType": "sleep", "input": {"seconds": 1}, "sourceTaskId": "t-1"}
    first = await client.post(jobs_path(), json=body, headers=keyed("key-1"))
    second = await client.post(jobs_path(), json=body, headers=keyed("key-1"))
    assert first.status == second.status == 202
    assert await second.json() == await first.json()
    assert second.headers["Location"] == first.headers["Location"]
    assert await count_jobs(db) == 1


async def test_replay_ignores_json_key_order_and_spacing(
    client: Client, db: asyncpg.Connection[Any]
) -> None:
    """API routes: "the same body" means the same JSON, however it is spelled."""
    headers = {**keyed("key-2"), "Content-Type": "application/json"}
    first = await client.post(
        jobs_path(), data=b'{"jobType":"echo","input":{"a":1,"b":2}}', headers=headers
    )
    second = await client.post(
        jobs_path(),
        data=b'{ "input": {"b": 2, "a": 1},\n  "jobType": "echo" }',
        headers=headers,
    )
    assert (await first.json())["jobId"] == (await second.json())["jobId"]
    assert await count_jobs(db) == 1


@pytest.mark.parametrize(
    "other",
    [
        {"jobType": "sleep"},
        {"jobType": "echo", "input": {"a": 2}},
        {"jobType": "echo", "input": {"a": 1}, "sourceTaskId": "t"},
    ],
)
async def test_same_key_with_a_different_body_is_409(
    client: Client, db: asyncpg.Connection[Any], other: dict[str, Any]
) -> None:
    """API routes: `409` if the same key comes with a different body."""
    await submit(client, {"jobType": "echo", "input": {"a": 1}}, headers=keyed("key-3"))
    resp = await client.post(jobs_path(), json=other, headers=keyed("key-3"))
    assert resp.status == 409
    assert "Idempotency-Key" in await error_of(resp)
    assert await count_jobs(db) == 1


async def test_key_is_scoped_to_the_company(client: Client, db: asyncpg.Connection[Any]) -> None:
    """API routes: one company's key never returns, nor blocks, another company's job."""
    body = {"jobType": "echo"}
    a = await submit(client, body, company="acme", headers=keyed("shared", "acme"))
    b = await submit(client, body, company="globex", headers=keyed("shared", "globex"))
    assert a["jobId"] != b["jobId"]
    assert await count_jobs(db) == 2


async def test_different_keys_make_different_jobs(
    client: Client, db: asyncpg.Connection[Any]
) -> None:
    """API routes: a key names one submission; another key is another job."""
    a = await submit(client, headers=keyed("one"))
    b = await submit(client, headers=keyed("two"))
    c = await submit(client)
    assert len({a["jobId"], b["jobId"], c["jobId"]}) == 3
    assert await count_jobs(db) == 3


async def test_concurrent_identical_requests_create_one_job(
    client: Client, db: asyncpg.Connection[Any]
) -> None:
    """API routes: never a duplicate, even for 20 identical requests at once."""
    body = {"jobType": "echo", "input": {"n": 1}}

    async def post() -> tuple[int, dict[str, Any]]:
        resp = await client.post(jobs_path(), json=body, headers=keyed("burst"))
        return resp.status, await resp.json()

    results = await asyncio.gather(*(post() for _ in range(20)))
    assert {status for status, _ in results} == {202}
    assert len({data["jobId"] for _, data in results}) == 1
    assert await count_jobs(db) == 1
    assert await db.fetchval("SELECT count(*) FROM content_job_events") == 1


async def test_concurrent_conflicting_requests_create_one_job(
    client: Client, db: asyncpg.Connection[Any]
) -> None:
    """API routes: with one key and different bodies at once, one wins, the rest get 409."""

    async def post(n: int) -> tuple[int, dict[str, Any]]:
        resp = await client.post(
            jobs_path(), json={"jobType": "echo", "input": {"n": n}}, headers=keyed("race")
        )
        return resp.status, await resp.json()

    results = await asyncio.gather(*(post(n) for n in range(10)))
    statuses = sorted(status for status, _ in results)
    assert statuses == [202] + [409] * 9
    assert await count_jobs(db) == 1


async def test_key_older_than_24_hours_gives_a_new_job(
    client: Client, db: asyncpg.Connection[Any]
) -> None:
    """API routes: a key holds its job for 24 h; afterwards it is free again."""
    old = await submit(client, headers=keyed("daily"))
    await db.execute("UPDATE content_jobs SET created_at = now() - interval '24 hours 1 second'")
    new = await submit(client, headers=keyed("daily"))
    assert new["jobId"] != old["jobId"]
    again = await submit(client, headers=keyed("daily"))
    assert again["jobId"] == new["jobId"]
    assert await count_jobs(db) == 2


async def test_expired_key_may_come_with_a_different_body(
    client: Client, db: asyncpg.Connection[Any]
) -> None:
    """API routes: after 24 h the old body no longer binds the key (no 409)."""
    await submit(client, {"jobType": "echo"}, headers=keyed("reuse"))
    await db.execute("UPDATE content_jobs SET created_at = now() - interval '25 hours'")
    await submit(client, {"jobType": "sleep"}, headers=keyed("reuse"))
    assert await count_jobs(db) == 2


async def test_key_just_under_24_hours_still_replays(
    client: Client, db: asyncpg.Connection[Any]
) -> None:
    """API routes: the first request's job "for 24 h"."""
    old = await submit(client, headers=keyed("almost"))
    await db.execute("UPDATE content_jobs SET created_at = now() - interval '23 hours 59 minutes'")
    again = await submit(client, headers=keyed("almost"))
    assert again["jobId"] == old["jobId"]


async def test_replay_of_a_job_that_changed_returns_its_current_status(
    client: Client, db: asyncpg.Connection[Any]
) -> None:
    """API routes: a replay names the first job, whatever happened to it since."""
    first = await submit(client, headers=keyed("changed"))
    resp = await client.post(f"{jobs_path()}/{first['jobId']}/cancel", headers=auth())
    assert resp.status == 200
    again = await submit(client, headers=keyed("changed"))
    assert again["jobId"] == first["jobId"]
    assert again["status"] == "cancelled"
    assert await count_jobs(db) == 1


@pytest.mark.parametrize("key", ["k", "K" * 200, "with spaces and: punctuation!", "ü-ñ"])
async def test_key_of_1_to_200_characters_is_accepted(client: Client, key: str) -> None:
    """API routes: `Idempotency-Key: <1-200 chars>`."""
    headers = keyed(key)
    if not key.isascii():
        headers["Idempotency-Key"] = key.encode().decode("latin-1")
    first = await submit(client, headers=headers)
    again = await submit(client, headers=headers)
    assert first["jobId"] == again["jobId"]


@pytest.mark.parametrize("key", ["", "K" * 201, "K" * 5000])
async def test_key_of_other_lengths_is_400(
    client: Client, db: asyncpg.Connection[Any], key: str
) -> None:
    """API routes: `Idempotency-Key` is 1-200 characters; others are `400`."""
    resp = await client.post(jobs_path(), json={"jobType": "echo"}, headers=keyed(key))
    assert resp.status == 400
    assert await error_of(resp) == "Idempotency-Key must be 1 to 200 characters"
    assert await count_jobs(db) == 0

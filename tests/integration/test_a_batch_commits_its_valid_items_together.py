"""API routes: `POST .../content-jobs:batch` — 1 to 1,000 jobs, each checked like a
single submit and with its own `idempotencyKey`, per-item results in order, the valid
items committed in one transaction."""

from __future__ import annotations

import io
from datetime import datetime, timedelta, timezone
from typing import Any

import orjson

from service.db.store import Refused, Store, Submitted
from service.domain.jobs import NewJob
from tests.conftest import Client, MakeClient, auth
from tests.integration.helpers import jobs_path

BATCH = jobs_path() + ":batch"


async def post(client: Client, body: Any) -> tuple[int, Any]:
    raw = io.BytesIO(orjson.dumps(body))  # a stream: aiohttp warns about large raw bodies
    headers = {**auth(), "Content-Type": "application/json"}
    resp = await client.post(BATCH, data=raw, headers=headers)
    return resp.status, await resp.json()


async def test_items_are_checked_one_by_one_and_answered_in_order(client: Client, db: Any) -> None:
    status, body = await post(
        client,
        {
            "jobs": [
                {"jobType": "echo", "input": {"n": 1}},
                {"jobType": "nope"},
                {"jobType": "sleep", "input": {"seconds": -1}},
                {"jobType": "echo", "idempotencyKey": "k-1", "priority": 5},
                "not an object",
            ]
        },
    )
    assert status == 200
    results = body["results"]
    assert [("jobId" in r, r.get("status")) for r in results] == [
        (True, "queued"), (False, 400), (False, 400), (True, "queued"), (False, 400),
    ]  # fmt: skip
    assert "known types" in results[1]["error"]
    assert results[2]["error"].startswith("input.seconds: ")
    assert await db.fetchval("SELECT count(*) FROM content_jobs") == 2
    again = await post(
        client, {"jobs": [{"jobType": "echo", "idempotencyKey": "k-1", "priority": 5}]}
    )
    assert again[1]["results"][0]["jobId"] == results[3]["jobId"]
    conflict = await post(client, {"jobs": [{"jobType": "echo", "idempotencyKey": "k-1"}]})
    assert conflict[1]["results"][0]["status"] == 409


async def test_a_thousand_jobs_in_one_request(client: Client, db: Any) -> None:
    """Larger than a single submit's 1 MiB body: a batch may be (up to 16 MiB)."""
    jobs = [{"jobType": "echo", "input": {"text": "x" * 1500}} for _ in range(1000)]
    status, body = await post(client, {"jobs": jobs})
    assert status == 200
    assert all("jobId" in r for r in body["results"])
    assert len({r["jobId"] for r in body["results"]}) == 1000
    assert await db.fetchval("SELECT count(*) FROM content_jobs") == 1000


async def test_malformed_batches_are_400(client: Client) -> None:
    too_many = {"jobs": [{"jobType": "echo"}] * 1001}
    bodies: list[Any] = [{}, {"jobs": []}, {"jobs": "x"}, [], too_many]
    for body in bodies:
        status, answer = await post(client, body)
        assert status == 400, body
        assert "jobs" in answer["error"]


async def test_a_batch_over_the_company_quota_is_429(make_client: MakeClient) -> None:
    client = await make_client(company_max_queued=2)
    assert (await post(client, {"jobs": [{"jobType": "echo"}] * 3}))[0] == 429
    assert (await post(client, {"jobs": [{"jobType": "echo"}] * 2}))[0] == 200


async def test_an_item_postgres_would_refuse_fails_alone(client: Client, db: Any) -> None:
    """A `runAt` out of timestamptz's range once in UTC used to roll back the whole batch."""
    jobs = [
        {"jobType": "echo", "input": {"n": 1}},
        {"jobType": "echo", "runAt": "0001-01-01T00:00:00+01:00"},
        {"jobType": "echo", "idempotencyKey": "k-2"},
    ]
    status, body = await post(client, {"jobs": jobs})
    assert status == 200
    results = body["results"]
    assert "jobId" in results[0] and "jobId" in results[2]
    assert results[1]["status"] == 400 and "runAt" in results[1]["error"]
    assert await db.fetchval("SELECT count(*) FROM content_jobs") == 2


def nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = [value]
    return value


async def test_an_input_nested_too_deep_is_that_items_400_naming_it(
    client: Client, db: Any
) -> None:
    jobs = [{"jobType": "echo"}, {"jobType": "echo", "input": {"x": nested(70)}}]
    status, body = await post(client, {"jobs": jobs})
    assert status == 200
    assert "jobId" in body["results"][0]
    assert body["results"][1] == {
        "error": "jobs[1].input is nested more than 64 levels deep",
        "status": 400,
    }
    assert await db.fetchval("SELECT count(*) FROM content_jobs") == 1


async def test_an_item_that_is_not_json_is_that_items_400(client: Client, db: Any) -> None:
    """`NaN` is not JSON: the item holding it is refused, not the whole batch."""
    raw = b'{"jobs": [{"jobType": "echo"}, {"jobType": "echo", "input": {"a": NaN}}]}'
    headers = {**auth(), "Content-Type": "application/json"}
    resp = await client.post(BATCH, data=raw, headers=headers)
    assert resp.status == 200
    results = (await resp.json())["results"]
    assert "jobId" in results[0]
    assert results[1]["status"] == 400 and "jobs[1]" in results[1]["error"]
    assert await db.fetchval("SELECT count(*) FROM content_jobs") == 1


async def test_a_batch_in_another_json_layout_is_read_alike(client: Client) -> None:
    for raw in [
        b'{"other": 1, "jobs": [{"jobType": "echo"}]}',
        b'\n{ "jobs" :\n[ {"jobType": "echo"} ,{"jobType": "echo"}\n]\n}\n',
        b'{"jobs": [{"jobType": "echo"}], "other": [1]}',
    ]:
        headers = {**auth(), "Content-Type": "application/json"}
        resp = await client.post(BATCH, data=raw, headers=headers)
        assert resp.status == 200, raw
        assert all("jobId" in r for r in (await resp.json())["results"]), raw
    resp = await client.post(BATCH, data=b'{"jobs": [{"jobType": "echo"},]}', headers=auth())
    assert resp.status == 400


async def test_a_batch_of_more_json_values_than_its_cap_is_413(client: Client, db: Any) -> None:
    """Each input is within `JOB_INPUT_MAX_BYTES`; together they hold over a million values
    (which parsed would be ~100 MB). Commas inside strings are not values."""
    many = [{"jobType": "echo", "input": {"a": [0] * 110_000}} for _ in range(10)]
    status, body = await post(client, {"jobs": many})
    assert status == 413
    assert "JSON values" in body["error"]
    assert await db.fetchval("SELECT count(*) FROM content_jobs") == 0
    prose = [{"jobType": "echo", "input": {"text": "[{," * 70_000}} for _ in range(10)]
    status, body = await post(client, {"jobs": prose})
    assert status == 200
    assert all("jobId" in r for r in body["results"])


async def test_a_value_the_database_refuses_fails_only_its_item(store: Store, db: Any) -> None:
    """Should a value pass the submit checks yet be refused by Postgres (here a time that
    overflows once in UTC, bypassing the checks), the other items are still committed."""
    overflowing = datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1)))
    batch = [
        NewJob("acme", "echo", {"n": 1}, None, 3),
        NewJob("acme", "echo", {"n": 2}, None, 3, run_at=overflowing),
        NewJob("acme", "echo", {"n": 3}, None, 3, idempotency_key="k", idempotency_hash="h"),
    ]
    results = await store.submit_batch(batch)
    assert isinstance(results[0], Submitted) and isinstance(results[2], Submitted)
    assert isinstance(results[1], Refused) and "out of range" in str(results[1])
    assert await db.fetchval("SELECT count(*) FROM content_jobs") == 2

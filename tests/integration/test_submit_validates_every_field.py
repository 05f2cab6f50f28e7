"""`POST /api/companies/{companyId}/content-jobs`: what is accepted, and every 400 and 413."""

from __future__ import annotations

import gzip
import io
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from service.jobtypes import load
from tests.conftest import Client, MakeClient, auth
from tests.integration.helpers import error_of, job_path, jobs_path, submit

JOB_FIELDS = {
    "id", "companyId", "jobType", "status", "input", "sourceTaskId", "progress", "result",
    "resultAssetId", "errorMessage", "attempts", "createdAt", "startedAt", "finishedAt",
    "updatedAt", "maxAttempts", "priority", "runAt", "callbackUrl", "callback",
    "dependsOn", "waitingOn", "parentJobId", "outputTruncated", "scheduleId",
}  # fmt: skip


def parse_time(value: str) -> datetime:
    """An ISO-8601 UTC time as the contract promises it (a `Z` suffix)."""
    assert value.endswith("Z"), value
    parsed = datetime.fromisoformat(value)
    assert parsed.utcoffset() == timedelta(0)
    return parsed


async def test_submit_returns_202_with_job_id_status_created_at_and_location(
    client: Client,
) -> None:
    """API routes: POST -> `202 {"jobId", "status": "queued", "createdAt"}` and `Location`."""
    before = datetime.now(UTC)
    resp = await client.post(jobs_path(), json={"jobType": "echo"}, headers=auth())
    assert resp.status == 202
    body = await resp.json()
    assert set(body) == {"jobId", "status", "createdAt"}
    assert body["status"] == "queued"
    uuid.UUID(body["jobId"])
    assert (
        before - timedelta(seconds=5)
        < parse_time(body["createdAt"])
        < before + timedelta(seconds=5)
    )
    assert resp.headers["Location"] == f"/api/companies/acme/content-jobs/{body['jobId']}"


async def test_location_names_the_job_resource(client: Client) -> None:
    """API the job resource: GET of `Location` gives every field, camelCase, UTC times."""
    resp = await client.post(
        jobs_path(),
        json={"jobType": "sleep", "input": {"seconds": 2, "steps": 4}, "sourceTaskId": "task-1"},
        headers=auth(),
    )
    created = await resp.json()
    resp = await client.get(resp.headers["Location"], headers=auth())
    assert resp.status == 200
    job = await resp.json()
    assert set(job) == JOB_FIELDS
    assert job["id"] == created["jobId"]
    assert job["companyId"] == "acme"
    assert job["jobType"] == "sleep"
    assert job["status"] == "queued"
    assert job["input"] == {"seconds": 2, "steps": 4}
    assert job["sourceTaskId"] == "task-1"
    assert job["progress"] == {"percent": 0, "message": None}
    assert job["result"] is None
    assert job["resultAssetId"] is None
    assert job["errorMessage"] is None
    assert job["attempts"] == 1
    assert job["createdAt"] == created["createdAt"]
    assert job["startedAt"] is None
    assert job["finishedAt"] is None
    assert (job["dependsOn"], job["waitingOn"], job["parentJobId"]) == ([], [], None)
    parse_time(job["updatedAt"])


async def test_input_is_optional_and_defaults_to_an_empty_object(client: Client) -> None:
    """API routes: body `{"jobType", "input"?, "sourceTaskId"?}`."""
    created = await submit(client, {"jobType": "sleep"})
    job = await (await client.get(job_path(created["jobId"]), headers=auth())).json()
    assert job["input"] == {}
    assert job["sourceTaskId"] is None


async def test_input_is_stored_as_given(client: Client) -> None:
    """API job resource: `input` is the submitted object (nested values, unicode)."""
    given = {"text": "héllo ✓", "n": [1, 2.5, None, True], "nested": {"a": {"b": "c"}}}
    created = await submit(client, {"jobType": "echo", "input": given})
    job = await (await client.get(job_path(created["jobId"]), headers=auth())).json()
    assert job["input"] == given


async def test_body_of_exactly_one_mib_is_accepted(make_client: MakeClient) -> None:
    """API routes: `413` only for a body *over* 1 MiB (with room for such an input)."""
    client = await make_client(job_input_max_bytes=1024 * 1024)
    empty = orjson.dumps({"jobType": "echo", "input": {"text": ""}})
    body = orjson.dumps({"jobType": "echo", "input": {"text": "x" * (1024 * 1024 - len(empty))}})
    assert len(body) == 1024 * 1024
    resp = await client.post(
        jobs_path(), data=io.BytesIO(body), headers={**auth(), "Content-Type": "application/json"}
    )
    assert resp.status == 202, await resp.text()


async def test_body_over_one_mib_is_413(client: Client) -> None:
    """API routes: `413` body over 1 MiB, with a JSON error body."""
    body = orjson.dumps({"jobType": "echo", "input": {"text": "x" * (1024 * 1024)}})
    resp = await client.post(
        jobs_path(), data=io.BytesIO(body), headers={**auth(), "Content-Type": "application/json"}
    )
    assert resp.status == 413
    assert "1 MiB" in await error_of(resp)


async def test_input_over_job_input_max_bytes_is_413(make_client: MakeClient) -> None:
    """API routes: `413` for `input` over `JOB_INPUT_MAX_BYTES`, naming the limit."""
    client = await make_client(job_input_max_bytes=1000)
    fits = {"text": "x" * (1000 - len(b'{"text":""}'))}
    resp = await client.post(jobs_path(), json={"jobType": "echo", "input": fits}, headers=auth())
    assert resp.status == 202, await resp.text()
    over = {"text": fits["text"] + "x"}
    resp = await client.post(jobs_path(), json={"jobType": "echo", "input": over}, headers=auth())
    assert resp.status == 413
    assert "JOB_INPUT_MAX_BYTES" in await error_of(resp)


@pytest.mark.parametrize("depth", [65, 300, 1000])
async def test_deeply_nested_json_is_a_400_not_a_500(client: Client, depth: int) -> None:
    """Any client input: `4xx`, never `5xx` — JSON nested past the encoders' limits included."""
    body = b'{"jobType": "echo", "input": {"x": ' + b"[" * depth + b"]" * depth + b"}}"
    resp = await client.post(
        jobs_path(), data=body, headers={**auth(), "Content-Type": "application/json"}
    )
    assert resp.status == 400
    assert "nested" in await error_of(resp)


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"input": {}},
        {"jobType": None},
        {"jobType": 1},
        {"jobType": ["echo"]},
        {"jobType": {"name": "echo"}},
        {"jobType": True},
        {"jobType": ""},
        {"jobType": "   "},
        {"jobType": "\t\n"},
    ],
)
async def test_missing_non_string_or_blank_job_type_is_400(client: Client, body: Any) -> None:
    """API routes: `400` `jobType is required` (missing, not a string, blank)."""
    resp = await client.post(jobs_path(), json=body, headers=auth())
    assert resp.status == 400
    assert await error_of(resp) == "jobType is required"


@pytest.mark.parametrize(
    "raw",
    [b"", b"null", b"[]", b'[{"jobType": "echo"}]', b'"echo"', b"42", b"true", b"{", b"{]",
     b"jobType=echo", b"\xff\xfe{}", b'{"jobType": "echo",}', b"[" * 5000 + b"]" * 5000],
)  # fmt: skip
async def test_body_that_is_not_a_json_object_is_400(client: Client, raw: bytes) -> None:
    """API routes: `400` body not a JSON object."""
    resp = await client.post(
        jobs_path(), data=raw, headers={**auth(), "Content-Type": "application/json"}
    )
    assert resp.status == 400
    assert await error_of(resp) == "request body must be a JSON object with a jobType"


@pytest.mark.parametrize("job_input", [None, [], [1], "text", 3, True])
async def test_input_that_is_not_an_object_is_400(client: Client, job_input: Any) -> None:
    """API routes: `400` `input` not an object."""
    resp = await client.post(
        jobs_path(), json={"jobType": "echo", "input": job_input}, headers=auth()
    )
    assert resp.status == 400
    assert await error_of(resp) == "input must be a JSON object"


@pytest.mark.parametrize("source_task_id", [1, 1.5, True, [], {}, ["task"]])
async def test_source_task_id_that_is_not_a_string_is_400(
    client: Client, source_task_id: Any
) -> None:
    """API routes: `400` `sourceTaskId` not a string."""
    resp = await client.post(
        jobs_path(), json={"jobType": "echo", "sourceTaskId": source_task_id}, headers=auth()
    )
    assert resp.status == 400
    assert await error_of(resp) == "sourceTaskId must be a string"


async def test_null_source_task_id_means_none(client: Client) -> None:
    """API job resource: `sourceTaskId` is a string or null."""
    created = await submit(client, {"jobType": "echo", "sourceTaskId": None})
    job = await (await client.get(job_path(created["jobId"]), headers=auth())).json()
    assert job["sourceTaskId"] is None


@pytest.mark.parametrize("job_type", ["nope", "ECHO", "echo ", "sleep.fast"])
async def test_unknown_job_type_is_400_listing_the_known_ones(
    client: Client, job_type: str
) -> None:
    """API routes: `400` unknown `jobType` (message lists the known ones)."""
    resp = await client.post(jobs_path(), json={"jobType": job_type}, headers=auth())
    assert resp.status == 400
    message = await error_of(resp)
    assert repr(job_type) in message
    assert message.endswith("known types: " + ", ".join(load().names()))
    assert {"echo", "sleep"} <= set(load().names())


@pytest.mark.parametrize(
    ("job_input", "field"),
    [
        ({"seconds": -1}, "input.seconds"),
        ({"seconds": 3601}, "input.seconds"),
        ({"seconds": "1"}, "input.seconds"),
        ({"seconds": True}, "input.seconds"),
        ({"seconds": None}, "input.seconds"),
        ({"steps": 0}, "input.steps"),
        ({"steps": 1001}, "input.steps"),
        ({"steps": 2.5}, "input.steps"),
        ({"steps": "3"}, "input.steps"),
        ({"failAtStep": "x"}, "input.failAtStep"),
        ({"failAtStep": 0}, "input.failAtStep"),
        ({"secs": 1}, "input.secs"),
    ],
)
async def test_invalid_sleep_input_is_400_naming_the_field(
    client: Client, job_input: dict[str, Any], field: str
) -> None:
    """API job types: each type validates its input at submit time; the 400 names the field."""
    resp = await client.post(
        jobs_path(), json={"jobType": "sleep", "input": job_input}, headers=auth()
    )
    assert resp.status == 400
    message = await error_of(resp)
    assert message.startswith(f"{field}: "), message


@pytest.mark.parametrize(
    "job_input",
    [{}, {"seconds": 0}, {"seconds": 3600, "steps": 1000}, {"seconds": 0.5, "failAtStep": 2}],
)
async def test_valid_sleep_input_is_accepted(client: Client, job_input: dict[str, Any]) -> None:
    """API job types: `sleep` input `seconds` 0..3600, `steps` 1..1000, `failAtStep` int."""
    await submit(client, {"jobType": "sleep", "input": job_input})


async def test_nothing_is_stored_for_a_rejected_submission(client: Client, db: Any) -> None:
    """API routes: a 400 creates no job."""
    for body in ({"jobType": ""}, {"jobType": "nope"}, {"jobType": "sleep", "input": {"x": 1}}):
        resp = await client.post(jobs_path(), json=body, headers=auth())
        assert resp.status == 400
    assert await db.fetchval("SELECT count(*) FROM content_jobs") == 0


@pytest.mark.parametrize(
    "raw",
    [
        b'{"jobType": "echo", "input": {"a": "x\\u0000y"}}',
        b'{"jobType": "echo", "input": {"\\u0000": 1}}',
        b'{"jobType": "echo", "input": {"deep": [[{"a": ["\\u0000"]}]]}}',
        b'{"jobType": "echo", "sourceTaskId": "task\\u0000"}',
    ],
)
async def test_nul_character_in_body_is_400(client: Client, db: Any, raw: bytes) -> None:
    """API routes: client input is a 400 (Postgres cannot store U+0000), never a 500."""
    resp = await client.post(
        jobs_path(), data=raw, headers={**auth(), "Content-Type": "application/json"}
    )
    assert resp.status == 400
    assert (
        await error_of(resp) == "request body must not contain \\u0000 (Postgres cannot store it)"
    )
    assert await db.fetchval("SELECT count(*) FROM content_jobs") == 0


async def test_escaped_backslash_before_u0000_is_plain_text(client: Client) -> None:
    """API job resource: `input` is stored as given, including the text `\\u0000`."""
    raw = b'{"jobType": "echo", "input": {"a": "\\\\u0000"}}'
    resp = await client.post(
        jobs_path(), data=raw, headers={**auth(), "Content-Type": "application/json"}
    )
    assert resp.status == 202
    job = await (await client.get(resp.headers["Location"], headers=auth())).json()
    assert job["input"] == {"a": "\\u0000"}


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
async def test_body_that_does_not_match_its_content_encoding_is_400(
    client: Client, encoding: str
) -> None:
    """API routes: a body that cannot be read is the client's error: 400."""
    resp = await client.post(
        jobs_path(),
        data=b'{"jobType": "echo"}',
        headers={**auth(), "Content-Type": "application/json", "Content-Encoding": encoding},
    )
    assert resp.status == 400
    assert await error_of(resp) == "request body could not be read (check Content-Encoding)"


async def test_compressed_body_is_accepted(client: Client) -> None:
    """API routes: a correctly gzip-encoded body is an ordinary body."""
    resp = await client.post(
        jobs_path(),
        data=gzip.compress(b'{"jobType": "echo", "input": {"z": 1}}'),
        headers={**auth(), "Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert resp.status == 202

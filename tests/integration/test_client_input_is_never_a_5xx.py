"""API: any client input gets a `4xx` (with `{"error": ...}`), never a `5xx` — checked
with property-based tests (hypothesis) against a real server on loopback: submit bodies of
any JSON shape and depth, batch items, arbitrary headers, arbitrary query strings and list
cursors; and targeted cases for values Python takes but Postgres refuses."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import Client, MakeClient, auth
from tests.integration.helpers import error_of, jobs_path

PROPERTY = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=30,
)
#: ISO-8601 times over Python's whole range in any fixed zone: their edges overflow
#: Postgres's timestamptz once converted to UTC
times = st.builds(
    lambda when, minutes: when.replace(tzinfo=timezone(timedelta(minutes=minutes))).isoformat(),
    st.datetimes(),
    st.integers(min_value=-23 * 60 - 59, max_value=23 * 60 + 59),
)
fields = st.sampled_from(
    ["jobType", "input", "sourceTaskId", "runAt", "delaySeconds", "priority", "maxAttempts",
     "callbackUrl", "x"]
)  # fmt: skip
bodies = st.dictionaries(fields, json_values | times, max_size=6) | json_values
job_types = st.sampled_from(["echo", "sleep", "markdown.html", "nope", ""])


def deep(depth: int) -> Any:
    value: Any = "leaf"
    for level in range(depth):
        value = [value] if level % 2 else {"k": value}
    return value


async def check(client: Client, method: str, path: str, **kwargs: Any) -> Any:
    resp = await client.request(method, path, **kwargs)
    text = await resp.text()
    assert resp.status < 500, (resp.status, text[:300])
    if resp.status >= 400 and resp.status != 404 and path.startswith("/api/"):
        assert "error" in json.loads(text)
    return json.loads(text) if resp.content_type == "application/json" else None


@PROPERTY
@given(body=bodies, job_type=job_types)
async def test_any_submit_body(client: Client, body: Any, job_type: str) -> None:
    if isinstance(body, dict) and "jobType" not in body:
        body["jobType"] = job_type
    await check(client, "POST", jobs_path(), data=json.dumps(body), headers=auth())


@PROPERTY
@given(body=bodies, job_type=job_types)
async def test_any_batch_item_is_its_own_result(client: Client, body: Any, job_type: str) -> None:
    """Whatever one item holds, it is that item's result: the valid item beside it is kept."""
    if isinstance(body, dict) and "jobType" not in body:
        body["jobType"] = job_type
    jobs = [{"jobType": "echo"}, body]
    path = jobs_path() + ":batch"
    answer = await check(client, "POST", path, json={"jobs": jobs}, headers=auth())
    assert "jobId" in answer["results"][0], answer
    assert "jobId" in answer["results"][1] or answer["results"][1]["status"] < 500, answer


@PROPERTY
@given(depth=st.integers(min_value=1, max_value=1100), job_type=job_types)
async def test_any_nesting_depth(client: Client, depth: int, job_type: str) -> None:
    body = json.dumps({"jobType": job_type, "input": {"x": deep(depth)}})
    await check(client, "POST", jobs_path(), data=body, headers=auth())


header_names = st.sampled_from(
    ["Idempotency-Key", "Last-Event-ID", "Range", "If-None-Match", "If-Range", "X-Request-ID",
     "Content-Type", "Accept", "Cookie", "Authorization"]
)  # fmt: skip
header_values = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=300
) | st.from_regex(r"bytes=[0-9]{1,5000}-[0-9]{0,5000}", fullmatch=True)


@PROPERTY
@given(name=header_names, value=header_values)
async def test_any_header(client: Client, name: str, value: str) -> None:
    headers = {**auth(), name: value} if name != "Authorization" else {name: value}
    await check(client, "POST", jobs_path(), json={"jobType": "echo"}, headers=headers)
    await check(client, "GET", jobs_path(), headers=headers)


query_keys = st.sampled_from(
    ["limit", "cursor", "status", "jobType", "sourceTaskId", "lastEventId", "access_token", "z"]
)


@PROPERTY
@given(query=st.dictionaries(query_keys, st.text(max_size=200), max_size=4))
async def test_any_query_string(client: Client, query: dict[str, str]) -> None:
    await check(client, "GET", jobs_path(), params=query, headers=auth())


def cursor_of(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


@PROPERTY
@given(created=json_values | times, job_id=json_values | st.uuids().map(str))
async def test_any_cursor(client: Client, created: Any, job_id: Any) -> None:
    query = {"cursor": cursor_of([created, job_id])}
    await check(client, "GET", jobs_path(), params=query, headers=auth())


UUID = "00000000-0000-0000-0000-000000000000"


async def test_a_malformed_cursor_is_400_naming_cursor(client: Client) -> None:
    """The id part a number, list or object; the time part one Postgres cannot hold."""
    for value in [
        ["2026-01-01T00:00:00+00:00", 5],
        ["2026-01-01T00:00:00+00:00", [1]],
        ["2026-01-01T00:00:00+00:00", {"a": 1}],
        ["0001-01-01T00:00:00+01:00", UUID],
        ["9999-12-31T23:00:00-05:00", UUID],
        [5, UUID],
        {"a": 1, "b": 2},
    ]:
        resp = await client.get(jobs_path(), params={"cursor": cursor_of(value)}, headers=auth())
        assert resp.status == 400, value
        assert "cursor" in await error_of(resp)


async def test_a_run_at_outside_1970_to_a_year_ahead_is_400_naming_run_at(client: Client) -> None:
    """Python parses them; Postgres (or the UTC conversion on the way) refuses some."""
    for run_at in [
        "0001-01-01T00:00:00+01:00",
        "0001-01-01T00:00:00",
        "1969-12-31T23:59:59Z",
        "9999-12-31T23:00:00-05:00",
        (datetime.now(UTC) + timedelta(days=400)).isoformat(),
    ]:
        body = {"jobType": "echo", "runAt": run_at}
        resp = await client.post(jobs_path(), json=body, headers=auth())
        assert resp.status == 400, run_at
        assert "runAt" in await error_of(resp)
    ok = {"jobType": "echo", "runAt": "1970-01-01T00:00:00Z"}
    assert (await client.post(jobs_path(), json=ok, headers=auth())).status == 202


async def test_a_callback_host_that_cannot_be_encoded_is_400(make_client: MakeClient) -> None:
    """A label over 63 characters, an empty label, a bad punycode label: IDNA refuses them
    before any DNS lookup."""
    client = await make_client(webhook_allowed_hosts=("*.example.com",), webhook_secret="s")
    for host in ["a" * 64 + ".example.com", "a..example.com", ".example.com", "xn--a.example.com"]:
        body = {"jobType": "echo", "callbackUrl": f"http://{host}/hook"}
        resp = await client.post(jobs_path(), json=body, headers=auth())
        assert resp.status == 400, host
        assert "callbackUrl" in await error_of(resp)

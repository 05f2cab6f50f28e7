"""API: any client input gets a `4xx` (with `{"error": ...}`), never a `5xx` — checked
with property-based tests (hypothesis) against a real server on loopback: submit bodies of
any JSON shape and depth, arbitrary headers, arbitrary query strings."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import Client, auth
from tests.integration.helpers import jobs_path

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
fields = st.sampled_from(
    ["jobType", "input", "sourceTaskId", "runAt", "delaySeconds", "priority", "maxAttempts",
     "callbackUrl", "x"]
)  # fmt: skip
bodies = st.dictionaries(fields, json_values, max_size=6) | json_values
job_types = st.sampled_from(["echo", "sleep", "markdown.html", "nope", ""])


def deep(depth: int) -> Any:
    value: Any = "leaf"
    for level in range(depth):
        value = [value] if level % 2 else {"k": value}
    return value


async def check(client: Client, method: str, path: str, **kwargs: Any) -> None:
    resp = await client.request(method, path, **kwargs)
    text = await resp.text()
    assert resp.status < 500, (resp.status, text[:300])
    if resp.status >= 400 and resp.status != 404 and path.startswith("/api/"):
        assert "error" in json.loads(text)


@PROPERTY
@given(body=bodies, job_type=job_types)
async def test_any_submit_body(client: Client, body: Any, job_type: str) -> None:
    if isinstance(body, dict) and "jobType" not in body:
        body["jobType"] = job_type
    await check(client, "POST", jobs_path(), data=json.dumps(body), headers=auth())


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

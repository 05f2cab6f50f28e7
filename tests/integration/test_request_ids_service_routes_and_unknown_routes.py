"""HTTP plumbing: request ids, service routes, unknown routes, and no 500 for client input."""

from __future__ import annotations

import asyncio
import io
import re
import uuid
from typing import Any

import pytest

from tests.conftest import Client, auth
from tests.integration.helpers import error_of, job_path, jobs_path, submit

GENERATED_ID = re.compile(r"[0-9a-f]{32}")


async def test_request_id_is_echoed(client: Client) -> None:
    """API: every response carries `X-Request-ID`, the request's own when it sent one."""
    for request_id in ("abc-123", "req.1:2_3", "x" * 200, str(uuid.uuid4())):
        resp = await client.get("/healthz", headers={"X-Request-ID": request_id})
        assert resp.headers["X-Request-ID"] == request_id


async def test_request_id_is_generated_when_missing(client: Client) -> None:
    """API: every response carries `X-Request-ID` (a new one when none came)."""
    first = await client.get("/healthz")
    second = await client.get("/healthz")
    assert GENERATED_ID.fullmatch(first.headers["X-Request-ID"])
    assert first.headers["X-Request-ID"] != second.headers["X-Request-ID"]


@pytest.mark.parametrize("request_id", ["", "has space", "x" * 201, "<script>", "a\tb"])
async def test_unusable_request_id_is_replaced(client: Client, request_id: str) -> None:
    """API: `X-Request-ID` on every response; one unsafe to log is replaced by a new one."""
    resp = await client.get("/healthz", headers={"X-Request-ID": request_id})
    assert GENERATED_ID.fullmatch(resp.headers["X-Request-ID"])


async def test_request_id_is_on_every_kind_of_response(client: Client) -> None:
    """API: *every* response carries `X-Request-ID`: success, 4xx, unknown routes."""
    created = await submit(client)
    requests: list[tuple[str, str, dict[str, str]]] = [
        ("POST", jobs_path(), auth()),
        ("GET", jobs_path(), auth()),
        ("GET", job_path(created["jobId"]), auth()),
        ("POST", job_path(created["jobId"]) + "/cancel", auth()),
        ("POST", job_path(created["jobId"]) + "/cancel", auth()),  # 409
        ("GET", job_path(uuid.uuid4()), auth()),  # 404
        ("GET", jobs_path(), {}),  # 401
        ("GET", jobs_path("globex"), auth()),  # 403
        ("GET", "/api/nothing-here", auth()),  # 404
        ("GET", "/nothing-here", {}),  # 404
        ("GET", "/healthz", {}),
    ]
    for method, path, headers in requests:
        resp = await client.request(
            method, path, json={"jobType": "echo"}, headers={**headers, "X-Request-ID": "rid-1"}
        )
        assert resp.headers["X-Request-ID"] == "rid-1", (method, path, resp.status)


async def test_healthz(client: Client) -> None:
    """API service routes: `GET /healthz` (process alive), no token."""
    resp = await client.get("/healthz")
    assert resp.status == 200


@pytest.mark.parametrize(
    "path",
    [
        "/api/nothing-here",
        "/api/companies/acme",
        "/api/companies/acme/jobs",
        "/api/companies/acme/content-jobs/x/y/z",
        "/api/companies/acme/content-jobs/00000000-0000-0000-0000-000000000000/restart",
    ],
)
async def test_unknown_api_route_is_a_json_404(client: Client, path: str) -> None:
    """API: every `/api` error body is `{"error": ...}`, here for an unknown route."""
    resp = await client.get(path, headers=auth())
    assert resp.status == 404
    await error_of(resp)


async def test_unknown_api_method_is_a_json_405(client: Client) -> None:
    """API: every `/api` error body is `{"error": ...}`; `405` carries `Allow`."""
    resp = await client.put(jobs_path(), json={}, headers=auth())
    assert resp.status == 405
    assert {"GET", "POST"} <= set(resp.headers["Allow"].split(","))
    await error_of(resp)


GARBAGE_BODIES: list[bytes] = [
    b"\x00" * 100,
    b"\xff" * 100,
    b'{"jobType": "echo", "input": {"a": "\\u0000"}}',
    b'{"jobType": "echo", "input": {"\\u0000": 1}}',
    b'{"jobType": "echo", "sourceTaskId": "a\\u0000b"}',
    b'{"jobType": "echo\\u0000"}',
    b'{"jobType": "echo", "input": {"big": 123456789012345678901234567890}}',
    b'{"jobType": "echo", "input": {"big": 18446744073709551615}}',
    b'{"jobType": "echo", "input": {"big": -18446744073709551616}}',
    b'{"jobType": "echo", "input": {"tiny": 1e-400, "huge": 1e308}}',
    b'{"jobType": "echo", "input": {"x": 1e999}}',
    b'{"jobType": "echo", "input": {"s": "\\ud800"}}',
    b'{"jobType": "echo", "input": ' + b'{"a": ' * 200 + b"1" + b"}" * 200 + b"}",
    b'{"jobType": "echo", "input": ' + b"[" * 2000 + b"]" * 2000 + b"}",
    b'{"jobType": "echo", "jobType": "sleep"}',
    b'{"jobType": "sleep", "input": {"seconds": 1e999}}',
    b'{"jobType": "sleep", "input": {"steps": 1e3}}',
    b'{"jobType": "sleep", "input": {"failAtStep": 99999999999999999999999}}',
    b'{"jobType": "echo", "sourceTaskId": "' + b"s" * 100_000 + b'"}',
    b'{"jobType": "' + b"j" * 100_000 + b'"}',
]


@pytest.mark.parametrize("body", GARBAGE_BODIES, ids=range(len(GARBAGE_BODIES)))
async def test_garbage_bodies_never_cause_a_500(client: Client, body: bytes) -> None:
    """API: client input gives a client error (or success), never a server error."""
    resp = await client.post(
        jobs_path(), data=body, headers={**auth(), "Content-Type": "application/json"}
    )
    assert resp.status in (202, 400), await resp.text()
    if resp.status == 400:
        await error_of(resp)


@pytest.mark.parametrize(
    "headers",
    [
        {"Content-Type": "text/plain"},
        {"Content-Type": "application/x-www-form-urlencoded"},
        {"Content-Type": "multipart/form-data; boundary=x"},
        {"Content-Type": "application/json; charset=latin-1"},
        {"Content-Encoding": "gzip"},
        {"Content-Encoding": "br"},
        {"Content-Encoding": "made-up"},
        {"Idempotency-Key": "\u00ff\u00fe"},
        {"X-Request-ID": "\u00ff" * 10},
        {"Cookie": "content_jobs_token=; other=\u00ff"},
        {"Accept": "text/html"},
        {"Authorization": "Bearer \u00ff\u00fe.\u00fd.\u00fc"},
    ],
)
async def test_garbage_headers_never_cause_a_500(client: Client, headers: dict[str, str]) -> None:
    """API: odd headers give a client error (or success), never a server error."""
    resp = await client.post(
        jobs_path(), data=b'{"jobType": "echo"}', headers={**auth(), **headers}
    )
    assert resp.status < 500, await resp.text()


@pytest.mark.parametrize(
    "params",
    [
        {"jobType": "a\x00b"},
        {"sourceTaskId": "\x00"},
        {"status": "\x00"},
        {"cursor": "\x00"},
        {"limit": "\x00"},
        {"jobType": "\udcff"},
        {"jobType": "x" * 5_000},
        {"unknown": "param"},
    ],
)
async def test_garbage_query_parameters_never_cause_a_500(
    client: Client, params: dict[str, str]
) -> None:
    """API: odd list parameters give a 200 or a 400, never a server error."""
    resp = await client.get(jobs_path(), params=params, headers=auth())
    assert resp.status in (200, 400), await resp.text()
    if resp.status == 400:
        await error_of(resp)


async def test_chunked_body_is_read_like_any_other(client: Client) -> None:
    """API routes: a body sent without `Content-Length` is accepted (and limited) too."""

    async def chunks(data: bytes) -> Any:
        for i in range(0, len(data), 1000):
            yield data[i : i + 1000]

    resp = await client.post(
        jobs_path(), data=chunks(b'{"jobType": "echo", "input": {}}'), headers=auth()
    )
    assert resp.status == 202
    big = b'{"jobType": "echo", "input": {"x": "' + b"x" * (1024 * 1024) + b'"}}'
    resp = await client.post(jobs_path(), data=chunks(big), headers=auth())
    assert resp.status == 413


async def test_oversized_body_with_honest_content_length_is_413(client: Client) -> None:
    """API routes: `413` body over 1 MiB (sent as a stream of known length)."""
    big = io.BytesIO(b'{"jobType": "echo", "input": {"x": "' + b"x" * (2 * 1024 * 1024) + b'"}}')
    resp = await client.post(jobs_path(), data=big, headers=auth())
    assert resp.status == 413
    await error_of(resp)


async def raw_request(client: Client, head: bytes, body: bytes = b"") -> tuple[int, bytes]:
    """Send bytes no well-behaved client would; returns the status and the raw response."""
    reader, writer = await asyncio.open_connection(client.host, client.port)
    try:
        writer.write(head + b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
        await writer.drain()
        response = await reader.read()
    finally:
        writer.close()
        await writer.wait_closed()
    return int(response.split(b" ", 2)[1]), response


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (b"Idempotency-Key: \xff\xfe", 400),
        (b"Idempotency-Key: \xed\xa0\x80", 400),
        (b"X-Request-ID: \xc3\x28", 202),
        (b"Cookie: content_jobs_token=\xff", 202),
    ],
)
async def test_invalid_utf8_in_headers_never_causes_a_500(
    client: Client, header: bytes, expected: int
) -> None:
    """API: header bytes that are not UTF-8 give a client error or success, never a 500."""
    token = auth()["Authorization"].encode()
    status, response = await raw_request(
        client,
        b"POST /api/companies/acme/content-jobs HTTP/1.1\r\nHost: x\r\n"
        b"Authorization: " + token + b"\r\n" + header + b"\r\n"
        b"Content-Type: application/json\r\n",
        b'{"jobType": "echo"}',
    )
    assert status == expected, response
    if expected == 400:
        assert response.endswith(b'{"error":"Idempotency-Key must be UTF-8 text"}')


@pytest.mark.parametrize("token", [b"\xff\xfe", b"a.\xff.b", b"\xed\xa0\x80.e30.e30"])
async def test_invalid_utf8_token_is_401(client: Client, token: bytes) -> None:
    """API auth: a malformed token is `401`, whatever bytes it is made of."""
    for head in (
        b"GET /api/companies/acme/content-jobs HTTP/1.1\r\nAuthorization: Bearer %s\r\n",
        b"GET /api/companies/acme/content-jobs HTTP/1.1\r\nCookie: content_jobs_token=%s\r\n",
    ):
        status, response = await raw_request(client, head % token + b"Host: x\r\n")
        assert status == 401, response

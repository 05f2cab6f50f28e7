"""What the fast paths of BENCHMARKS.md must not change: token checks and the SSE bytes."""

from __future__ import annotations

import time
import uuid

import jwt
import pytest

from service.api.auth import Caller, TokenVerifier, issue_token
from service.api.errors import ApiError
from service.domain.jobs import Event

SECRET = "unit-secret-that-is-long-enough-for-hs256"
_VERIFIERS: dict[str, TokenVerifier] = {}


def decode_token(token: str, secret: str) -> Caller:
    """One verifier per secret, as one replica has: its cache is what these tests check."""
    return _VERIFIERS.setdefault(secret, TokenVerifier(secret)).caller_sync(token)


def test_a_remembered_token_still_expires() -> None:
    """API: an expired token is a 401, even one that was accepted a moment ago."""
    token = jwt.encode(
        {"sub": "t", "companies": ["acme"], "exp": time.time() + 1.0}, SECRET, algorithm="HS256"
    )
    assert decode_token(token, SECRET).companies == frozenset({"acme"})
    assert decode_token(token, SECRET).sub == "t"  # from the cache
    time.sleep(1.05)
    with pytest.raises(ApiError) as raised:
        decode_token(token, SECRET)
    assert (raised.value.status, raised.value.message) == (401, "token expired")


def test_a_remembered_token_is_not_valid_under_another_secret() -> None:
    token = issue_token(SECRET, ["acme"], sub="t")
    decode_token(token, SECRET)
    with pytest.raises(ApiError) as raised:
        decode_token(token, "another-secret-that-is-long-enough-for-hs256")
    assert raised.value.status == 401


def test_a_tampered_token_is_rejected_after_the_real_one_was_accepted() -> None:
    token = issue_token(SECRET, ["acme"], sub="t")
    decode_token(token, SECRET)
    header, payload, signature = token.split(".")
    forged = ".".join(
        [header, payload, signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")]
    )
    with pytest.raises(ApiError):
        decode_token(forged, SECRET)


def test_event_frame_is_the_sse_wire_format() -> None:
    """API: `id: <n>`, `event: status|progress`, one `data:` line of JSON, a blank line."""
    job_id = uuid.UUID("12345678-1234-5678-1234-567812345678")
    event = Event(
        job_id=job_id,
        seq=7,
        type="progress",
        data={"jobId": str(job_id), "status": "running", "progress": {"percent": 40}},
    )
    assert event.frame == (
        b"id: 7\r\nevent: progress\r\n"
        b'data: {"jobId":"12345678-1234-5678-1234-567812345678","status":"running",'
        b'"progress":{"percent":40}}\r\n\r\n'
    )
    assert event.frame is event.frame  # encoded once, whatever the number of streams

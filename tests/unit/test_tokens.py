"""Tokens: what `issue_token` signs, what `decode_token` accepts, and the company rules."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest

from service.auth import Caller, check_company_access, decode_token, issue_token
from service.cli import main
from service.errors import ApiError

SECRET = "unit-test-secret-that-is-32-bytes-or-more"


def refused(token: str) -> ApiError:
    with pytest.raises(ApiError) as caught:
        decode_token(token, SECRET)
    assert caught.value.status == 401
    assert caught.value.headers == {"WWW-Authenticate": "Bearer"}
    return caught.value


def test_issued_token_round_trips() -> None:
    """CONTRACT auth: HS256 tokens with `sub` and `companies`."""
    token = issue_token(SECRET, ["acme", "globex"], sub="svc")
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    assert decode_token(token, SECRET) == Caller(
        sub="svc", companies=frozenset({"acme", "globex"}), viewer=False
    )


def test_issued_token_without_ttl_never_expires() -> None:
    """CONTRACT command line: `token` without `--ttl` prints a token with no `exp`."""
    claims = jwt.decode(issue_token(SECRET, ["acme"]), SECRET, algorithms=["HS256"])
    assert "exp" not in claims
    assert claims["sub"] == "content-jobs-cli"


def test_ttl_sets_exp() -> None:
    """CONTRACT auth: optional `exp` (honoured)."""
    before = time.time()
    claims = jwt.decode(issue_token(SECRET, ["acme"], ttl=60), SECRET, algorithms=["HS256"])
    assert before + 59 <= claims["exp"] <= time.time() + 61


def test_viewer_token_is_read_only() -> None:
    """CONTRACT auth: optional `role` — `"viewer"` may only read."""
    caller = decode_token(issue_token(SECRET, ["acme"], viewer=True), SECRET)
    assert caller.viewer
    assert (
        jwt.decode(issue_token(SECRET, ["a"], viewer=True), SECRET, ["HS256"])["role"] == "viewer"
    )


def test_other_roles_are_not_viewers() -> None:
    token = jwt.encode({"sub": "s", "companies": ["a"], "role": "admin"}, SECRET, "HS256")
    assert not decode_token(token, SECRET).viewer


def test_expired_token_is_refused() -> None:
    """CONTRACT auth: an expired token is `401`."""
    assert refused(issue_token(SECRET, ["acme"], ttl=-1)).message == "token expired"


@pytest.mark.parametrize(
    "token",
    [
        "",
        "garbage",
        "a.b.c",
        jwt.encode({"sub": "s", "companies": ["a"]}, "another-secret-of-32-bytes-or-longer"),
        jwt.encode({"companies": ["a"]}, SECRET),
        jwt.encode({"sub": "s"}, SECRET),
        jwt.encode({"sub": "s", "companies": "a"}, SECRET),
        jwt.encode({"sub": "s", "companies": [1]}, SECRET),
        jwt.encode({"sub": ["s"], "companies": ["a"]}, SECRET),
        jwt.encode({"sub": "s", "companies": ["a"]}, key="", algorithm="none"),
        "\udcff.\udcff.\udcff",
    ],
)
def test_bad_tokens_are_refused_without_saying_why(token: str) -> None:
    """CONTRACT auth: malformed, badly signed or `alg: none` -> `401`, with no oracle."""
    assert refused(token).message == "invalid token"


def caller(*companies: str, viewer: bool = False) -> Caller:
    return Caller(sub="t", companies=frozenset(companies), viewer=viewer)


def test_company_access_rules() -> None:
    """CONTRACT auth: `companies` lists the callers' companies; `["*"]` is every company."""
    check_company_access(caller("acme"), "acme", write=True)
    check_company_access(caller("*"), "anything", write=True)
    check_company_access(caller("acme", viewer=True), "acme", write=False)


@pytest.mark.parametrize(
    ("who", "company", "write", "status", "message"),
    [
        (caller("acme"), "globex", False, 403, "forbidden: no access to this company"),
        (caller(), "acme", False, 403, "forbidden: no access to this company"),
        (caller("acme", viewer=True), "acme", True, 403, "viewer access is read-only"),
        (caller("*"), "a.b", False, 400, None),
        (caller("*"), "", False, 400, None),
        (caller("*"), "x" * 65, False, 400, None),
        (caller("*"), "*", False, 400, None),
    ],
)
def test_company_access_refusals(
    who: Caller, company: str, write: bool, status: int, message: str | None
) -> None:
    """CONTRACT auth: `403` without access or for a viewer's write; `400` for a bad id."""
    with pytest.raises(ApiError) as caught:
        check_company_access(who, company, write=write)
    assert caught.value.status == status
    if message is not None:
        assert caught.value.message == message


def test_token_command_prints_a_usable_token(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """CONTRACT command line: `content-jobs token --company ID ... [--ttl] [--sub] [--viewer]`."""
    monkeypatch.setenv("AUTH_JWT_SECRET", SECRET)
    argv = ["token", "--company", "acme", "--company", "globex", "--sub", "me", "--viewer"]
    assert main([*argv, "--ttl", "60"]) == 0
    token = capsys.readouterr().out.strip()
    assert decode_token(token, SECRET) == Caller(
        sub="me", companies=frozenset({"acme", "globex"}), viewer=True
    )
    claims: dict[str, Any] = jwt.decode(token, SECRET, algorithms=["HS256"])
    assert claims["exp"] > time.time()

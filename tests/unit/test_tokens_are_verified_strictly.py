"""Tokens: what `issue_token` signs, what `decode_token` accepts, and the company rules."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest

from service.api.auth import Caller, TokenVerifier, check_company_access, issue_token
from service.api.errors import ApiError
from service.cli import main

SECRET = "unit-test-secret-that-is-32-bytes-or-more"
HOUR = time.time() + 3600


def decode_token(token: str, secret: str) -> Caller:
    return TokenVerifier(secret).caller_sync(token)


def claims(**extra: Any) -> dict[str, Any]:
    return {"sub": "s", "companies": ["a"], "exp": HOUR, **extra}


def refused(token: str) -> ApiError:
    with pytest.raises(ApiError) as caught:
        decode_token(token, SECRET)
    assert caught.value.status == 401
    assert caught.value.headers == {"WWW-Authenticate": "Bearer"}
    return caught.value


def test_issued_token_round_trips() -> None:
    """API auth: HS256 tokens with `sub` and `companies`."""
    token = issue_token(SECRET, ["acme", "globex"], sub="svc")
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    caller = decode_token(token, SECRET)
    assert (caller.sub, caller.companies, caller.viewer) == (
        "svc",
        frozenset({"acme", "globex"}),
        False,
    )


def test_issued_token_without_ttl_expires_in_an_hour() -> None:
    """API command line: `token` defaults to a 1 h TTL (`exp` is required)."""
    decoded = jwt.decode(issue_token(SECRET, ["acme"]), SECRET, algorithms=["HS256"])
    assert time.time() + 3590 <= decoded["exp"] <= time.time() + 3610
    assert decoded["sub"] == "content-jobs-cli"


def test_ttl_sets_exp() -> None:
    """API auth: `exp` (honoured); the caller knows when its token expires."""
    before = time.time()
    decoded = jwt.decode(issue_token(SECRET, ["acme"], ttl=60), SECRET, algorithms=["HS256"])
    assert before + 59 <= decoded["exp"] <= time.time() + 61
    assert decode_token(issue_token(SECRET, ["a"], ttl=60), SECRET).expires_at <= time.time() + 61


def test_viewer_token_is_read_only() -> None:
    """API auth: optional `role` — `"viewer"` may only read."""
    caller = decode_token(issue_token(SECRET, ["acme"], viewer=True), SECRET)
    assert caller.viewer
    assert (
        jwt.decode(issue_token(SECRET, ["a"], viewer=True), SECRET, ["HS256"])["role"] == "viewer"
    )


def test_editor_role_may_write() -> None:
    """API auth: `role` absent or `"editor"` may read and write."""
    assert not decode_token(jwt.encode(claims(role="editor"), SECRET, "HS256"), SECRET).viewer
    assert not decode_token(jwt.encode(claims(), SECRET, "HS256"), SECRET).viewer


def test_admin_role_is_an_editor_and_administers_with_every_company() -> None:
    """CONTRACT "Flow control": `role: "admin"` joins the known roles: editor rights on the
    companies it names, and the admin routes only with `companies: ["*"]`."""
    token = issue_token(SECRET, ["*"], admin=True)
    assert jwt.decode(token, SECRET, ["HS256"])["role"] == "admin"
    every = decode_token(token, SECRET)
    assert every.admin and every.may_administer and not every.viewer
    named = decode_token(issue_token(SECRET, ["acme"], admin=True), SECRET)
    assert named.may_use("acme") and not named.may_use("beta")
    assert not named.may_administer
    assert not decode_token(issue_token(SECRET, ["*"]), SECRET).may_administer


@pytest.mark.parametrize("role", ["Admin", "Viewer", "", 1, ["viewer"], None])
def test_any_other_role_is_refused(role: object) -> None:
    """API auth: any other role is refused (`401`) — an unknown role got write access
    before. (`null` is not "absent".)"""
    token = jwt.encode({**claims(), "role": role}, SECRET, "HS256")
    if role is None:  # a JSON null role claim is treated as absent by dict.get: editor
        assert not decode_token(token, SECRET).viewer
        return
    assert refused(token).message == "invalid token"


def test_expired_token_is_refused() -> None:
    """API auth: an expired token is `401`."""
    assert refused(issue_token(SECRET, ["acme"], ttl=-1)).message == "token expired"


@pytest.mark.parametrize(
    "token",
    [
        "",
        "garbage",
        "a.b.c",
        jwt.encode(claims(), "another-secret-of-32-bytes-or-longer"),
        jwt.encode({"companies": ["a"], "exp": HOUR}, SECRET),
        jwt.encode({"sub": "s", "exp": HOUR}, SECRET),
        jwt.encode({"sub": "s", "companies": ["a"]}, SECRET),  # no exp: required
        jwt.encode(claims(companies="a"), SECRET),
        jwt.encode(claims(companies=[1]), SECRET),
        jwt.encode(claims(sub=["s"]), SECRET),
        jwt.encode(claims(), key="", algorithm="none"),
        "\udcff.\udcff.\udcff",
    ],
)
def test_bad_tokens_are_refused_without_saying_why(token: str) -> None:
    """API auth: malformed, badly signed or `alg: none` -> `401`, with no oracle."""
    assert refused(token).message == "invalid token"


def caller(*companies: str, viewer: bool = False) -> Caller:
    return Caller(sub="t", companies=frozenset(companies), viewer=viewer)


def test_company_access_rules() -> None:
    """API auth: `companies` lists the callers' companies; `["*"]` is every company."""
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
    """API auth: `403` without access or for a viewer's write; `400` for a bad id."""
    with pytest.raises(ApiError) as caught:
        check_company_access(who, company, write=write)
    assert caught.value.status == status
    if message is not None:
        assert caught.value.message == message


def test_token_command_prints_a_usable_token(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """API command line: `content-jobs token --company ID ... [--ttl] [--sub] [--viewer]`."""
    monkeypatch.setenv("AUTH_JWT_SECRET", SECRET)
    argv = ["token", "--company", "acme", "--company", "globex", "--sub", "me", "--viewer"]
    assert main([*argv, "--ttl", "60"]) == 0
    token = capsys.readouterr().out.strip()
    caller = decode_token(token, SECRET)
    assert (caller.sub, caller.companies, caller.viewer) == (
        "me",
        frozenset({"acme", "globex"}),
        True,
    )
    decoded: dict[str, Any] = jwt.decode(token, SECRET, algorithms=["HS256"])
    assert decoded["exp"] > time.time()

"""Authentication and company access: who may call what, and what the logs keep of tokens."""

from __future__ import annotations

import base64
import json
import time
import warnings
from typing import Any

import jwt
import pytest
from structlog.testing import capture_logs

from tests.conftest import SECRET, Client, auth, make_token
from tests.integration.helpers import error_of, job_path, jobs_path, submit


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def unsigned_token(claims: dict[str, Any]) -> str:
    """An `alg: none` JWT: header and claims, no signature."""
    return f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."


def hs512(claims: dict[str, Any]) -> str:
    """Right secret, wrong algorithm (PyJWT warns that the key is short for HS512)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jwt.warnings.InsecureKeyLengthWarning)
        return jwt.encode(claims, SECRET, "HS512")


HOUR = int(time.time()) + 3600
GOOD_CLAIMS = {"sub": "tests", "companies": ["acme"], "exp": HOUR}

BAD_TOKENS = {
    "malformed": "not-a-jwt",
    "three_garbage_parts": "a.b.c",
    "bad_signature": jwt.encode(GOOD_CLAIMS, "another-secret-of-at-least-32-bytes!", "HS256"),
    "alg_none": unsigned_token(GOOD_CLAIMS),
    "alg_none_with_signature": unsigned_token(GOOD_CLAIMS) + "c2ln",
    "hs512": hs512(GOOD_CLAIMS),
    "expired": jwt.encode({**GOOD_CLAIMS, "exp": int(time.time()) - 10}, SECRET, "HS256"),
    "no_sub": jwt.encode({"companies": ["acme"], "exp": HOUR}, SECRET, "HS256"),
    "no_companies": jwt.encode({"sub": "tests", "exp": HOUR}, SECRET, "HS256"),
    "companies_not_a_list": jwt.encode({**GOOD_CLAIMS, "companies": "acme"}, SECRET, "HS256"),
    "company_not_a_string": jwt.encode({**GOOD_CLAIMS, "companies": [1]}, SECRET, "HS256"),
    "sub_not_a_string": jwt.encode({**GOOD_CLAIMS, "sub": 5}, SECRET, "HS256"),
    # exp is required: a token that never expires cannot be revoked
    "no_exp": jwt.encode({"sub": "tests", "companies": ["acme"]}, SECRET, "HS256"),
    # an unknown role got write access before
    "unknown_role": jwt.encode({**GOOD_CLAIMS, "role": "superuser"}, SECRET, "HS256"),
}


def assert_challenge(resp: Any) -> None:
    assert resp.status == 401
    assert resp.headers["WWW-Authenticate"] == "Bearer"


async def test_no_token_is_401_on_every_api_route(client: Client) -> None:
    """API auth: every `/api/...` route needs a bearer token; none -> `401` + challenge."""
    job = "00000000-0000-0000-0000-000000000000"
    for method, path in [
        ("POST", jobs_path()),
        ("GET", jobs_path()),
        ("GET", job_path(job)),
        ("POST", job_path(job) + "/cancel"),
        ("GET", "/api/not-a-route"),
    ]:
        resp = await client.request(method, path, json={"jobType": "echo"})
        assert_challenge(resp)
        assert await error_of(resp) == "missing bearer token"


@pytest.mark.parametrize("name", BAD_TOKENS)
async def test_bad_token_is_401(client: Client, name: str) -> None:
    """API auth: malformed, badly signed, `alg: none` or expired token -> `401`."""
    headers = {"Authorization": f"Bearer {BAD_TOKENS[name]}"}
    for resp in (
        await client.get(jobs_path(), headers=headers),
        await client.post(jobs_path(), json={"jobType": "echo"}, headers=headers),
    ):
        assert_challenge(resp)
        await error_of(resp)


@pytest.mark.parametrize(
    "header", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "Token abc", "bearer", "x"]
)
async def test_malformed_authorization_header_is_401(client: Client, header: str) -> None:
    """API auth: `Authorization: Bearer <token>`; anything else is `401`."""
    resp = await client.get(jobs_path(), headers={"Authorization": header})
    assert_challenge(resp)


async def test_bearer_scheme_is_case_insensitive(client: Client) -> None:
    """API auth: `Bearer` is an HTTP auth scheme, whose name is case-insensitive."""
    resp = await client.get(jobs_path(), headers={"Authorization": f"bearer {make_token()}"})
    assert resp.status == 200


async def test_token_that_has_not_expired_is_accepted(client: Client) -> None:
    """API auth: optional `exp` (honoured)."""
    token = make_token(ttl=60)
    resp = await client.get(jobs_path(), headers={"Authorization": f"Bearer {token}"})
    assert resp.status == 200


async def test_cookie_and_query_token_work_on_get(client: Client) -> None:
    """API auth: GET routes also take the token in cookie `content_jobs_token`
    or `?access_token=`."""
    created = await submit(client)
    token = make_token()
    for path in (jobs_path(), job_path(created["jobId"])):
        resp = await client.get(path, params={"access_token": token})
        assert resp.status == 200, await resp.text()
        resp = await client.get(path, headers={"Cookie": f"content_jobs_token={token}"})
        assert resp.status == 200, await resp.text()


async def test_bad_token_in_query_or_cookie_is_401(client: Client) -> None:
    """API auth: the cookie and query tokens are checked like the header."""
    resp = await client.get(jobs_path(), params={"access_token": BAD_TOKENS["expired"]})
    assert_challenge(resp)
    resp = await client.get(
        jobs_path(), headers={"Cookie": f"content_jobs_token={BAD_TOKENS['alg_none']}"}
    )
    assert_challenge(resp)


async def test_cookie_and_query_token_are_refused_on_post(client: Client) -> None:
    """API auth: only GET routes accept the cookie or query token (no CSRF by cookie)."""
    created = await submit(client)
    token = make_token()
    for path in (jobs_path(), job_path(created["jobId"]) + "/cancel"):
        resp = await client.post(path, params={"access_token": token}, json={"jobType": "echo"})
        assert_challenge(resp)
        resp = await client.post(
            path,
            headers={"Cookie": f"content_jobs_token={token}"},
            json={"jobType": "echo"},
        )
        assert_challenge(resp)
    job = await (await client.get(job_path(created["jobId"]), headers=auth())).json()
    assert job["status"] == "queued"


async def test_viewer_may_read_but_not_write(client: Client) -> None:
    """API auth: `role: "viewer"` may only read; its POST is `403 viewer access is
    read-only`."""
    created = await submit(client)
    viewer = auth(viewer=True)
    assert (await client.get(jobs_path(), headers=viewer)).status == 200
    assert (await client.get(job_path(created["jobId"]), headers=viewer)).status == 200
    resp = await client.post(jobs_path(), json={"jobType": "echo"}, headers=viewer)
    assert resp.status == 403
    assert await resp.json() == {"error": "viewer access is read-only"}
    resp = await client.post(job_path(created["jobId"]) + "/cancel", headers=viewer)
    assert resp.status == 403
    assert await resp.json() == {"error": "viewer access is read-only"}
    job = await (await client.get(job_path(created["jobId"]), headers=auth())).json()
    assert job["status"] == "queued"


async def test_viewer_may_not_submit_a_batch(client: Client) -> None:
    """API auth: a viewer's `POST .../content-jobs:batch` is `403 viewer access is
    read-only`, and none of its jobs is stored."""
    batch = {"jobs": [{"jobType": "echo"}, {"jobType": "test"}]}
    resp = await client.post(jobs_path() + ":batch", json=batch, headers=auth(viewer=True))
    assert resp.status == 403
    assert await resp.json() == {"error": "viewer access is read-only"}
    assert await (await client.get(jobs_path(), headers=auth())).json() == []


async def test_company_not_in_token_is_403(client: Client) -> None:
    """API auth: `companies` without the path's company -> `403 forbidden: no access to
    this company`, on every route."""
    created = await submit(client, company="acme")
    other = auth("globex")
    for method, path in [
        ("POST", jobs_path("acme")),
        ("GET", jobs_path("acme")),
        ("GET", job_path(created["jobId"])),
        ("POST", job_path(created["jobId"]) + "/cancel"),
    ]:
        resp = await client.request(method, path, json={"jobType": "echo"}, headers=other)
        assert resp.status == 403
        assert await resp.json() == {"error": "forbidden: no access to this company"}


async def test_empty_companies_list_gives_no_access(client: Client) -> None:
    """API auth: `companies` lists what the caller may use; an empty list is nothing."""
    token = jwt.encode({"sub": "t", "companies": [], "exp": HOUR}, SECRET, "HS256")
    resp = await client.get(jobs_path(), headers={"Authorization": f"Bearer {token}"})
    assert resp.status == 403


async def test_company_match_is_exact(client: Client) -> None:
    """API auth: company ids are compared as given (no case folding, no prefixes)."""
    for company in ("ACME", "acm", "acme2"):
        resp = await client.get(jobs_path(company), headers=auth("acme"))
        assert resp.status == 403


async def test_wildcard_company_may_use_any_company(client: Client) -> None:
    """API auth: `["*"]` for trusted internal services."""
    star = auth("*")
    for company in ("acme", "globex", "A_b-9"):
        created = await submit(client, company=company, headers=star)
        resp = await client.get(job_path(created["jobId"], company), headers=star)
        assert resp.status == 200
        assert (await resp.json())["companyId"] == company
        resp = await client.post(job_path(created["jobId"], company) + "/cancel", headers=star)
        assert resp.status == 200


async def test_viewer_with_wildcard_still_only_reads(client: Client) -> None:
    """API auth: a viewer may only read, whatever its companies."""
    resp = await client.post(jobs_path(), json={"jobType": "echo"}, headers=auth("*", viewer=True))
    assert resp.status == 403
    assert await error_of(resp) == "viewer access is read-only"


@pytest.mark.parametrize(
    "company", ["a.b", "a%20b", "a+b", "x" * 65, "%C3%BC", "a%2Fb", "a%00b", "*"]
)
async def test_bad_company_id_is_400(client: Client, company: str) -> None:
    """API auth: company ids are 1-64 characters of `[A-Za-z0-9_-]`; anything else `400`."""
    star = auth("*")
    for method, path in [
        ("POST", jobs_path(company)),
        ("GET", jobs_path(company)),
        ("GET", job_path("00000000-0000-0000-0000-000000000000", company)),
        ("POST", job_path("00000000-0000-0000-0000-000000000000", company) + "/cancel"),
    ]:
        resp = await client.request(method, path, json={"jobType": "echo"}, headers=star)
        assert resp.status == 400, (method, path)
        assert "companyId" in await error_of(resp)


async def test_longest_company_id_is_accepted(client: Client) -> None:
    """API auth: company ids up to 64 characters."""
    company = "x" * 64
    await submit(client, company=company, headers=auth(company))


async def test_company_isolation(client: Client) -> None:
    """API auth + routes: company B can neither see, list, get nor cancel A's job."""
    a_job = (await submit(client, company="acme"))["jobId"]
    b_job = (await submit(client, company="globex"))["jobId"]
    # B's caller, even one allowed to use both companies, only reaches A's job through A.
    for headers in (auth("globex"), auth("acme", "globex")):
        listed = await (await client.get(jobs_path("globex"), headers=headers)).json()
        assert [job["id"] for job in listed] == [b_job]
        resp = await client.get(job_path(a_job, "globex"), headers=headers)
        assert resp.status == 404
        resp = await client.post(job_path(a_job, "globex") + "/cancel", headers=headers)
        assert resp.status == 404
    filtered = await client.get(
        jobs_path("globex"), params={"status": "queued", "jobType": "echo"}, headers=auth("globex")
    )
    assert [job["id"] for job in await filtered.json()] == [b_job]
    job = await (await client.get(job_path(a_job), headers=auth("acme"))).json()
    assert job["status"] == "queued"


async def test_access_log_redacts_a_token_in_the_url(client: Client) -> None:
    """API auth: a token in a URL is never written to a log (`access_token=REDACTED`)."""
    token = make_token()
    bad = BAD_TOKENS["bad_signature"]
    with capture_logs() as logs:
        ok = await client.get(jobs_path(), params={"limit": "5", "access_token": token})
        refused = await client.get(jobs_path(), params={"access_token": bad})
    assert ok.status == 200
    assert refused.status == 401
    lines = [entry for entry in logs if entry["event"] == "request"]
    assert len(lines) == 2
    assert lines[0]["path"] == "/api/companies/acme/content-jobs?limit=5&access_token=REDACTED"
    assert lines[0]["status"] == 200
    assert lines[0]["sub"] == "tests"
    assert lines[1]["path"] == "/api/companies/acme/content-jobs?access_token=REDACTED"
    assert lines[1]["status"] == 401
    for secret in (token, bad, token.split(".")[2], bad.split(".")[2]):
        assert secret not in repr(logs)


async def test_access_log_never_shows_header_or_cookie_tokens(client: Client) -> None:
    """API auth: tokens are never logged, whichever way they came."""
    token = make_token()
    with capture_logs() as logs:
        await client.get(jobs_path(), headers={"Authorization": f"Bearer {token}"})
        await client.get(jobs_path(), headers={"Cookie": f"content_jobs_token={token}"})
    assert [entry["event"] for entry in logs].count("request") == 2
    assert token.split(".")[2] not in repr(logs)

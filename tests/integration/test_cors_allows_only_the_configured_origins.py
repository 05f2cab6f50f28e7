"""CORS: off unless `CORS_ORIGINS` names origins; then only those, and only on `/api/`."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer

from service.app import create_app
from service.settings import Settings, SettingsError
from tests.conftest import SECRET, Client, auth

ALLOWED = "https://app.example.com"
JOBS = "/api/companies/acme/content-jobs"
PREFLIGHT = {
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "authorization, content-type, idempotency-key",
}


@pytest.fixture
async def cors_client(settings: Settings) -> AsyncIterator[Client]:
    cors = dataclasses.replace(settings, cors_origins=(ALLOWED, "http://localhost:3000"))
    async with TestClient(TestServer(create_app(cors))) as test_client:
        yield test_client


async def test_an_allowed_origins_preflight_is_answered_without_a_token(
    cors_client: Client,
) -> None:
    resp = await cors_client.options(JOBS, headers={"Origin": ALLOWED, **PREFLIGHT})
    assert resp.status == 200
    assert resp.headers["Access-Control-Allow-Origin"] == ALLOWED
    allowed = {h.strip().lower() for h in resp.headers["Access-Control-Allow-Headers"].split(",")}
    assert allowed == {"authorization", "content-type", "idempotency-key"}
    assert "Access-Control-Allow-Credentials" not in resp.headers


async def test_last_event_id_may_be_sent_to_the_event_stream_cross_origin(
    cors_client: Client,
) -> None:
    headers = {
        "Origin": ALLOWED,
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "last-event-id, authorization",
    }
    resp = await cors_client.options(JOBS + "/some-job", headers=headers)
    assert resp.status == 200


async def test_another_origins_preflight_is_refused(cors_client: Client) -> None:
    resp = await cors_client.options(JOBS, headers={"Origin": "https://evil.example", **PREFLIGHT})
    assert resp.status == 403
    assert "Access-Control-Allow-Origin" not in resp.headers


async def test_a_header_outside_the_list_is_refused(cors_client: Client) -> None:
    headers = {**PREFLIGHT, "Access-Control-Request-Headers": "x-custom"}
    resp = await cors_client.options(JOBS, headers={"Origin": ALLOWED, **headers})
    assert resp.status == 403


async def test_responses_expose_location_link_and_request_id(cors_client: Client) -> None:
    resp = await cors_client.post(
        JOBS, json={"jobType": "echo"}, headers={"Origin": ALLOWED, **auth()}
    )
    assert resp.status == 202
    assert resp.headers["Access-Control-Allow-Origin"] == ALLOWED
    exposed = {h.strip() for h in resp.headers["Access-Control-Expose-Headers"].split(",")}
    assert exposed == {"Location", "Link", "X-Request-ID"}


async def test_errors_carry_cors_headers_so_the_browser_can_read_them(
    cors_client: Client,
) -> None:
    resp = await cors_client.get(JOBS, headers={"Origin": ALLOWED})
    assert resp.status == 401
    assert resp.headers["Access-Control-Allow-Origin"] == ALLOWED


async def test_service_routes_are_not_cross_origin(cors_client: Client) -> None:
    resp = await cors_client.get("/healthz", headers={"Origin": ALLOWED})
    assert "Access-Control-Allow-Origin" not in resp.headers


async def test_cors_is_off_by_default(client: Client) -> None:
    resp = await client.options(JOBS, headers={"Origin": ALLOWED, **PREFLIGHT})
    assert "Access-Control-Allow-Origin" not in resp.headers
    resp = await client.get(JOBS, headers={"Origin": ALLOWED, **auth()})
    assert resp.status == 200
    assert "Access-Control-Allow-Origin" not in resp.headers


def test_cors_origins_setting_is_parsed_and_checked() -> None:
    env = {"DATABASE_URL": "postgresql://x/y", "AUTH_JWT_SECRET": SECRET}
    assert Settings.from_env(env).cors_origins == ()
    parsed = Settings.from_env({**env, "CORS_ORIGINS": " https://a.example/, http://[::1]:8000"})
    assert parsed.cors_origins == ("https://a.example", "http://[::1]:8000")
    with pytest.raises(SettingsError, match=r"^CORS_ORIGINS is invalid: 'a.example' is not"):
        Settings.from_env({**env, "CORS_ORIGINS": "a.example"})

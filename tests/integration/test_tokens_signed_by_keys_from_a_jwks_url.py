"""API auth: RS256/ES256 tokens verified against `AUTH_JWKS_URL` (cached, refreshed on an
unknown `kid`), `iss`/`aud` checked when set, HS256 beside them — against a real JWKS endpoint
on loopback whose keys rotate."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import jwt
import pytest
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from tests.conftest import Client, MakeClient, make_token
from tests.integration.helpers import jobs_path

ISSUER = "https://idp.test"
AUDIENCE = "content-jobs"


class Provider:
    """An identity provider: private keys by kid, and the public set it serves."""

    def __init__(self) -> None:
        self.keys: dict[str, tuple[Any, str]] = {}
        #: kids no longer published (their private keys can still sign: an attacker's copy)
        self.retired: set[str] = set()
        self.fetches = 0
        self.runner: web.AppRunner | None = None
        self.url = ""

    def add(self, kid: str, algorithm: str) -> None:
        key: Any = (
            rsa.generate_private_key(public_exponent=65537, key_size=2048)
            if algorithm == "RS256"
            else ec.generate_private_key(ec.SECP256R1())
        )
        self.keys[kid] = (key, algorithm)

    def token(self, kid: str, **claims: Any) -> str:
        key, algorithm = self.keys[kid]
        body = {
            "sub": "mesh-svc",
            "companies": ["acme"],
            "exp": int(time.time()) + 600,
            "iss": ISSUER,
            "aud": AUDIENCE,
            **claims,
        }
        return jwt.encode(body, key, algorithm, headers={"kid": kid})

    async def _jwks(self, request: web.Request) -> web.Response:
        self.fetches += 1
        keys = []
        for kid, (key, algorithm) in self.keys.items():
            if kid in self.retired:
                continue
            codec = RSAAlgorithm if algorithm == "RS256" else ECAlgorithm
            jwk = json.loads(codec.to_jwk(key.public_key()))
            keys.append({**jwk, "kid": kid, "alg": algorithm, "use": "sig"})
        return web.json_response({"keys": keys})

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/jwks.json", self._jwks)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = self.runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}/jwks.json"

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None


@pytest.fixture
async def provider() -> AsyncIterator[Provider]:
    provider = Provider()
    provider.add("k1", "RS256")
    await provider.start()
    yield provider
    await provider.stop()


@pytest.fixture
async def mesh(make_client: MakeClient, provider: Provider) -> Client:
    return await make_client(auth_jwks_url=provider.url, auth_issuer=ISSUER, auth_audience=AUDIENCE)


async def status(client: Client, token: str) -> int:
    resp = await client.get(jobs_path(), headers={"Authorization": f"Bearer {token}"})
    return resp.status


async def test_keys_from_the_jwks_endpoint_verify_tokens(mesh: Client, provider: Provider) -> None:
    assert await status(mesh, provider.token("k1")) == 200
    assert await status(mesh, provider.token("k1", sub="other")) == 200
    assert provider.fetches == 1  # cached
    assert await status(mesh, make_token()) == 401  # HS256 needs AUTH_JWT_SECRET: not set here


@pytest.mark.parametrize(
    "claims",
    [{"aud": "someone-else"}, {"iss": "https://evil.test"}, {"iss": None}, {"exp": 1}],
)
async def test_issuer_audience_and_expiry_are_checked(
    mesh: Client, provider: Provider, claims: dict[str, Any]
) -> None:
    body = {k: v for k, v in claims.items() if v is not None}
    token = provider.token("k1", **body)
    if claims.get("iss", "") is None:
        key, algorithm = provider.keys["k1"]
        decoded = jwt.decode(token, options={"verify_signature": False})
        del decoded["iss"]
        token = jwt.encode(decoded, key, algorithm, headers={"kid": "k1"})
    assert await status(mesh, token) == 401


async def test_rotation_new_kid_refreshes_and_a_removed_key_stops_verifying(
    mesh: Client, provider: Provider
) -> None:
    assert await status(mesh, provider.token("k1")) == 200
    provider.add("k2", "ES256")
    await asyncio.sleep(1.1)  # unknown kids refetch at most once a second
    assert await status(mesh, provider.token("k2")) == 200
    assert provider.fetches == 2
    provider.retired.add("k1")
    provider.add("k3", "RS256")
    await asyncio.sleep(1.1)
    assert await status(mesh, provider.token("k3")) == 200
    assert await status(mesh, provider.token("k1", sub="new-token")) == 401


async def test_an_unreachable_provider_does_not_take_the_service_down(
    mesh: Client, provider: Provider
) -> None:
    known = provider.token("k1")
    assert await status(mesh, known) == 200
    await provider.stop()
    provider.add("k9", "RS256")
    await asyncio.sleep(1.1)
    resp = await mesh.get(jobs_path(), headers={"Authorization": f"Bearer {provider.token('k9')}"})
    assert resp.status == 503 and resp.headers["Retry-After"]
    assert await status(mesh, known) == 200  # a token verified before still works
    assert (await mesh.get("/healthz")).status == 200


async def test_hs256_and_jwks_side_by_side(make_client: MakeClient, provider: Provider) -> None:
    client = await make_client(auth_jwks_url=provider.url)
    assert await status(client, make_token()) == 200
    assert await status(client, provider.token("k1")) == 200
    hs_with_kid = jwt.encode(
        jwt.decode(make_token(), options={"verify_signature": False}),
        "a-different-secret-that-is-long-enough",
        "HS256",
        headers={"kid": "k1"},
    )
    assert await status(client, hs_with_kid) == 401


class HangingProvider:
    """A JWKS endpoint that accepts connections and never answers; counts the attempts."""

    def __init__(self) -> None:
        self.connections = 0
        self.first_failure = asyncio.Event()
        self._server: asyncio.Server | None = None
        self._held: list[asyncio.StreamWriter] = []

    async def _hold(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._held.append(writer)
        await reader.read()  # until the fetching side gives up and closes
        self.first_failure.set()

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._hold, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/jwks.json"

    async def stop(self) -> None:
        for writer in self._held:
            writer.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


@pytest.fixture
async def hanging() -> AsyncIterator[HangingProvider]:
    provider = HangingProvider()
    yield provider
    await provider.stop()


async def test_a_provider_outage_is_a_prompt_503_and_one_fetch(
    make_client: MakeClient,
    provider: Provider,
    hanging: HangingProvider,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """While the key set cannot be fetched, requests with an unknown kid do not queue behind
    one another's fetches: one fetch is tried, its failure is remembered, and every request
    meanwhile answers 503 with Retry-After at once."""
    monkeypatch.setattr("service.api.auth.JWKS_FETCH_TIMEOUT_SECONDS", 0.5)
    client = await make_client(
        auth_jwks_url=await hanging.start(), auth_issuer=ISSUER, auth_audience=AUDIENCE
    )
    headers = {"Authorization": f"Bearer {provider.token('k1')}"}
    requests = [asyncio.ensure_future(client.get(jobs_path(), headers=headers)) for _ in range(20)]
    async with asyncio.timeout(10):
        await hanging.first_failure.wait()
    async with asyncio.timeout(5):  # queued behind one another's 0.5 s fetches: 10 s
        answers = await asyncio.gather(*requests)
    assert [r.status for r in answers] == [503] * 20
    assert all(int(r.headers["Retry-After"]) >= 1 for r in answers)
    # within the failure window: answered at once, and no fetch tried
    async with asyncio.timeout(5):
        again = await asyncio.gather(*(client.get(jobs_path(), headers=headers) for _ in range(5)))
    assert [r.status for r in again] == [503] * 5
    assert hanging.connections == 1

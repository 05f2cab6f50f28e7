"""Bearer tokens (JWT) to callers, and the company access rules of the contract.

Two kinds of keys, either or both:
- HS256 with the shared secret `AUTH_JWT_SECRET` (simple setups, `content-jobs token`);
- RS256/ES256 with public keys from `AUTH_JWKS_URL` (a mesh's identity provider), through
  PyJWT's `PyJWKClient`: the key set is cached, an unknown `kid` refreshes it (PyJWKClient
  refetches at most once per `JWKS_REFRESH_SECONDS`, so random `kid`s cannot make us hammer
  the provider), and the fetch runs in a thread so the event loop never waits on it. One
  look-up that may fetch runs at a time (`_KeySet`): concurrent requests share it rather
  than each holding a thread of the default pool (which DNS look-ups share) for up to
  `JWKS_FETCH_TIMEOUT_SECONDS`. When a fetch fails, the provider is taken for down for
  `JWKS_FAILURE_SECONDS`: meanwhile a token whose key we do not hold is a `503` with
  `Retry-After` at once (the token may be fine; we cannot tell yet), never a wait or a crash.
`exp` is required; `iss` / `aud` are checked when `AUTH_ISSUER` / `AUTH_AUDIENCE` are set.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import math
import re
import time
from collections.abc import Iterable
from typing import Any

import jwt
from aiohttp import web

from service.api.errors import ApiError
from service.domain.limits import COMPANY_ID_MESSAGE, COMPANY_ID_PATTERN

COOKIE_NAME = "content_jobs_token"
QUERY_PARAM = "access_token"
HS_ALGORITHM = "HS256"
JWKS_ALGORITHMS = ("RS256", "ES256")
#: an unknown `kid` fetches the key set again at most this often
JWKS_REFRESH_SECONDS = 1.0
#: the key set is fetched again after this long even when every kid is known
JWKS_LIFESPAN_SECONDS = 60
#: a key set fetch gives up after this long
JWKS_FETCH_TIMEOUT_SECONDS = 5.0
#: after a failed fetch, no other is tried for this long (tokens with unknown keys: 503)
JWKS_FAILURE_SECONDS = 15.0
#: `content-jobs token`'s default lifetime
DEFAULT_TTL_SECONDS = 3600
COMPANY_ID = re.compile(COMPANY_ID_PATTERN)
#: role claim -> may write; absent means editor, anything else is refused. An admin is an
#: editor of the companies it names, and with `companies: ["*"]` may use the admin routes
#: (pause and resume job types)
ROLES = {None: True, "editor": True, "viewer": False, "admin": True}
_UNAUTHORIZED_HEADERS = {"WWW-Authenticate": "Bearer"}
#: tokens verified before; a client sends the same token with every request, and checking
#: its signature and claims again costs more than the rest of a submit
_CACHE_MAX = 4096


@dataclasses.dataclass(frozen=True)
class Caller:
    sub: str
    companies: frozenset[str]
    viewer: bool
    #: the token's `exp` (unix seconds): a stream ends then
    expires_at: float = float("inf")
    #: the token's role is `admin`
    admin: bool = False

    def may_use(self, company_id: str) -> bool:
        return "*" in self.companies or company_id in self.companies

    @property
    def may_administer(self) -> bool:
        """The admin routes: role `admin` and every company (`companies: ["*"]`)."""
        return self.admin and "*" in self.companies


def issue_token(
    secret: str,
    companies: Iterable[str],
    *,
    sub: str = "content-jobs-cli",
    ttl: float = DEFAULT_TTL_SECONDS,
    viewer: bool = False,
    admin: bool = False,
) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": sub,
        "companies": list(companies),
        "iat": now,
        "exp": int(now + ttl),
    }
    if viewer:
        claims["role"] = "viewer"
    elif admin:
        claims["role"] = "admin"
    return jwt.encode(claims, secret, algorithm=HS_ALGORITHM)


class TokenVerifier:
    """Verifies tokens against the configured keys and remembers the ones it accepted."""

    def __init__(
        self,
        secret: str | None = None,
        *,
        jwks_url: str | None = None,
        issuer: str | None = None,
        audience: str | None = None,
    ) -> None:
        self._secret = secret
        self._issuer = issuer
        self._audience = audience
        # the key set is cached (refetched after JWKS_LIFESPAN_SECONDS, or on an unknown kid);
        # not each key on its own, which would keep a key the provider has removed
        self._jwks = (
            _KeySet(
                jwt.PyJWKClient(
                    jwks_url,
                    cache_keys=False,
                    lifespan=JWKS_LIFESPAN_SECONDS,
                    cooldown_duration=JWKS_REFRESH_SECONDS,
                    timeout=JWKS_FETCH_TIMEOUT_SECONDS,
                )
            )
            if jwks_url
            else None
        )
        self._cache: dict[str, Caller] = {}

    async def caller(self, token: str) -> Caller:
        """The token's caller; `ApiError` 401 for any fault (no oracle for forgers)."""
        cached = self._cache.get(token)
        if cached is not None:
            return self._unexpired(token, cached)
        key, algorithm = await self._key_for(token)
        return self._remember(token, self._verify(token, key, algorithm))

    def caller_sync(self, token: str) -> Caller:
        """`caller()` for HS256 tokens (no key to fetch): tests and the CLI."""
        cached = self._cache.get(token)
        if cached is not None:
            return self._unexpired(token, cached)
        if self._secret is None:
            raise _unauthorized("invalid token")
        return self._remember(token, self._verify(token, self._secret, HS_ALGORITHM))

    def _unexpired(self, token: str, caller: Caller) -> Caller:
        if time.time() < caller.expires_at:  # PyJWT's rule: expired when exp <= now
            return caller
        self._cache.pop(token, None)
        raise _unauthorized("token expired")

    def _remember(self, token: str, caller: Caller) -> Caller:
        if len(self._cache) >= _CACHE_MAX:
            self._cache.clear()  # a crude bound: the tokens in use are verified again once
        self._cache[token] = caller
        return caller

    async def _key_for(self, token: str) -> tuple[Any, str]:
        try:
            header = jwt.get_unverified_header(token)
        except (jwt.PyJWTError, UnicodeEncodeError):
            raise _unauthorized("invalid token") from None
        algorithm = header.get("alg")
        if algorithm == HS_ALGORITHM and self._secret is not None:
            return self._secret, algorithm
        if algorithm in JWKS_ALGORITHMS and self._jwks is not None:
            return await self._jwks_key(header.get("kid")), algorithm
        raise _unauthorized("invalid token")

    async def _jwks_key(self, kid: object) -> Any:
        assert self._jwks is not None
        if not isinstance(kid, str) or not kid:
            raise _unauthorized("invalid token")
        return await self._jwks.key(kid)

    def _verify(self, token: str, key: Any, algorithm: str) -> Caller:
        required = ["sub", "exp"] + (["iss"] if self._issuer else [])
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                issuer=self._issuer,
                audience=self._audience,
                options={"require": required, "verify_aud": self._audience is not None},
            )
        except jwt.ExpiredSignatureError:
            raise _unauthorized("token expired") from None
        except (jwt.PyJWTError, UnicodeEncodeError):  # header bytes that are not UTF-8
            raise _unauthorized("invalid token") from None
        return _caller_of(claims)


class _KeySet:
    """The provider's keys: known ones at once, the others by one look-up at a time (which
    may fetch the set), and a failed fetch remembered for `JWKS_FAILURE_SECONDS`."""

    def __init__(self, client: jwt.PyJWKClient) -> None:
        self._client = client
        #: the look-up in progress and the kid it is for
        self._lookup: asyncio.Task[Any] | None = None
        self._lookup_kid = ""
        self._down_until = 0.0

    async def key(self, kid: str) -> Any:
        """The key for `kid`; 401 when the provider does not have it, 503 while it is down."""
        while True:
            known = self._known(kid)
            if known is not None:
                return known.key  # no I/O: no thread, no waiting
            down_for = self._down_until - time.monotonic()
            if down_for > 0:
                raise _unavailable(down_for)
            if self._lookup is None:
                self._lookup, self._lookup_kid = asyncio.create_task(self._fetch(kid)), kid
                self._lookup.add_done_callback(self._looked_up)
            lookup, for_kid = self._lookup, self._lookup_kid
            if for_kid == kid:
                # shielded: a caller that hangs up does not cancel the look-up others share
                return await asyncio.shield(lookup)
            await asyncio.wait([lookup])  # another kid's: then look again (down, or known)

    def _known(self, kid: str) -> jwt.PyJWK | None:
        """The signing key `kid` from the cached set, if the set is fresh and has it."""
        cache = self._client.jwk_set_cache
        keys = cache.get() if cache is not None else None
        with contextlib.suppress(KeyError):
            if keys is not None and keys[kid].public_key_use in ("sig", None):
                return keys[kid]
        return None

    async def _fetch(self, kid: str) -> Any:
        try:
            signing_key = await asyncio.to_thread(self._client.get_signing_key, kid)
        except jwt.PyJWKClientConnectionError:
            self._down_until = time.monotonic() + JWKS_FAILURE_SECONDS
            raise _unavailable(JWKS_FAILURE_SECONDS) from None
        except jwt.PyJWKClientError:
            raise _unauthorized("invalid token") from None
        return signing_key.key

    def _looked_up(self, lookup: asyncio.Task[Any]) -> None:
        self._lookup = None
        if not lookup.cancelled():
            lookup.exception()  # retrieved: every waiter may have gone


def _unavailable(seconds: float) -> ApiError:
    retry_after = str(max(1, math.ceil(seconds)))
    return ApiError(503, "token keys are unavailable, retry later", {"Retry-After": retry_after})


def _caller_of(claims: dict[str, Any]) -> Caller:
    companies = claims.get("companies")
    sub = claims.get("sub")
    role = claims.get("role")
    if (
        not isinstance(sub, str)
        or not isinstance(companies, list)
        or not all(isinstance(c, str) for c in companies)
        or not isinstance(role, str | None)
        or role not in ROLES
    ):
        raise _unauthorized("invalid token")
    return Caller(
        sub=sub,
        companies=frozenset(companies),
        viewer=not ROLES[role],
        expires_at=float(claims["exp"]),
        admin=role == "admin",
    )


def token_from_request(request: web.Request) -> str | None:
    """The bearer token: the header always; a cookie or `?access_token=` on reads too,
    since `EventSource` cannot set headers."""
    header = request.headers.get("Authorization")
    if header is not None:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _unauthorized("Authorization header must be 'Bearer <token>'")
        return token.strip()
    if request.method in ("GET", "HEAD"):
        return request.query.get(QUERY_PARAM) or request.cookies.get(COOKIE_NAME)
    return None


async def authenticate(request: web.Request, verifier: TokenVerifier) -> Caller:
    token = token_from_request(request)
    if not token:
        raise _unauthorized("missing bearer token")
    return await verifier.caller(token)


def check_company_access(caller: Caller, company_id: str, *, write: bool) -> None:
    """400 for a malformed company id, 403 when the caller may not use it (or only read)."""
    if not COMPANY_ID.fullmatch(company_id):
        raise ApiError(400, COMPANY_ID_MESSAGE)
    if not caller.may_use(company_id):
        raise ApiError(403, "forbidden: no access to this company")
    if write and caller.viewer:
        raise ApiError(403, "viewer access is read-only")


def check_admin(caller: Caller) -> None:
    """403 unless the caller may use the admin routes."""
    if not caller.may_administer:
        raise ApiError(403, 'forbidden: admin routes need role "admin" and companies ["*"]')


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, message, headers=_UNAUTHORIZED_HEADERS)

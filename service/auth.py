"""Bearer tokens (JWT, HS256) to callers, and the company access rules of CONTRACT.md."""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Iterable
from typing import Any

import jwt
from aiohttp import web

from service.errors import ApiError

COOKIE_NAME = "content_jobs_token"
QUERY_PARAM = "access_token"
ALGORITHM = "HS256"
COMPANY_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_UNAUTHORIZED_HEADERS = {"WWW-Authenticate": "Bearer"}
#: tokens verified before, with their expiry: a client sends the same token with every
#: request, and checking its signature and claims again costs more than the rest of a submit
_VERIFIED: dict[tuple[str, str], tuple[Caller, float | None]] = {}
_VERIFIED_MAX = 4096


@dataclasses.dataclass(frozen=True)
class Caller:
    sub: str
    companies: frozenset[str]
    viewer: bool

    def may_use(self, company_id: str) -> bool:
        return "*" in self.companies or company_id in self.companies


def issue_token(
    secret: str,
    companies: Iterable[str],
    *,
    sub: str = "content-jobs-cli",
    ttl: float | None = None,
    viewer: bool = False,
) -> str:
    claims: dict[str, Any] = {"sub": sub, "companies": list(companies), "iat": int(time.time())}
    if ttl is not None:
        claims["exp"] = int(time.time() + ttl)
    if viewer:
        claims["role"] = "viewer"
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def decode_token(token: str, secret: str) -> Caller:
    """Verify a token; any fault is a 401 that does not say which (no oracle for forgers).

    A token verified before is only checked for expiry again (as PyJWT does, `exp <= now`).
    """
    cached = _VERIFIED.get((token, secret))
    if cached is not None:
        caller, expires = cached
        if expires is None or time.time() < expires:
            return caller
        _VERIFIED.pop((token, secret), None)
        raise _unauthorized("token expired")
    caller, expires = _verify(token, secret)
    if len(_VERIFIED) >= _VERIFIED_MAX:
        _VERIFIED.clear()  # a crude bound: the tokens in use are verified again once
    _VERIFIED[(token, secret)] = (caller, expires)
    return caller


def _verify(token: str, secret: str) -> tuple[Caller, float | None]:
    try:
        claims = jwt.decode(token, secret, algorithms=[ALGORITHM], options={"require": ["sub"]})
    except jwt.ExpiredSignatureError:
        raise _unauthorized("token expired") from None
    except (jwt.PyJWTError, UnicodeEncodeError):  # header bytes that are not UTF-8
        raise _unauthorized("invalid token") from None
    companies = claims.get("companies")
    sub = claims.get("sub")
    if (
        not isinstance(sub, str)
        or not isinstance(companies, list)
        or not all(isinstance(c, str) for c in companies)
    ):
        raise _unauthorized("invalid token")
    caller = Caller(sub=sub, companies=frozenset(companies), viewer=claims.get("role") == "viewer")
    expires = claims.get("exp")
    return caller, float(expires) if expires is not None else None


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


def authenticate(request: web.Request, secret: str) -> Caller:
    token = token_from_request(request)
    if not token:
        raise _unauthorized("missing bearer token")
    return decode_token(token, secret)


def check_company_access(caller: Caller, company_id: str, *, write: bool) -> None:
    """400 for a malformed company id, 403 when the caller may not use it (or only read)."""
    if not COMPANY_ID.fullmatch(company_id):
        raise ApiError(400, "companyId must be 1-64 characters of A-Z, a-z, 0-9, _ or -")
    if not caller.may_use(company_id):
        raise ApiError(403, "forbidden: no access to this company")
    if write and caller.viewer:
        raise ApiError(403, "viewer access is read-only")


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, message, headers=_UNAUTHORIZED_HEADERS)

"""Request id and the canonical log line, client errors as JSON, and authentication."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from typing import Any

import structlog
from aiohttp import web
from aiohttp.typedefs import Handler
from multidict import MultiDict

from service.api import keys
from service.api.auth import QUERY_PARAM, Caller, authenticate, check_company_access
from service.api.errors import ApiError, as_http
from service.api.responses import error_response
from service.db.pool import database_unavailable
from service.domain.errors import ClientError
from service.domain.limits import MAX_BODY_MESSAGE, REQUEST_ID_PATTERN

log = structlog.get_logger("service.http")

_REQUEST_ID = re.compile(REQUEST_ID_PATTERN)
#: what a request is logged and counted as when its client went away before the answer
#: (nginx's convention); never a 500, which would page someone for a closed browser tab
CLIENT_CLOSED = 499
#: set by an event stream that sent its last event (its status): a client closing after
#: that is done, not gone early, and the request is logged with the status it got (the
#: `watch` command closes as soon as it has the terminal event)
STREAM_COMPLETE = web.RequestKey("stream_complete", int)
#: seconds a client is asked to wait while the database is away
RETRY_AFTER_SECONDS = "2"


def redacted_path(request: web.Request) -> str:
    """The path and query for logs, with any token in the URL replaced."""
    if QUERY_PARAM not in request.query:
        return request.path_qs
    query = MultiDict(request.query)
    query[QUERY_PARAM] = "REDACTED"
    return str(request.rel_url.with_query(query))


@web.middleware
async def request_context(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Bind a request id; when the request ends, log it once and count it in the metrics."""
    incoming = request.headers.get("X-Request-ID", "")
    request_id = incoming if _REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
    request[keys.REQUEST_ID] = request_id
    structlog.contextvars.bind_contextvars(request_id=request_id)
    started = time.perf_counter()
    status = 500
    streamed = False
    try:
        response = await handler(request)
        status = response.status
        streamed = response.content_type == "text/event-stream"
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    except asyncio.CancelledError:
        complete = request.get(STREAM_COMPLETE)
        status, streamed = (CLIENT_CLOSED, False) if complete is None else (complete, True)
        raise
    except ConnectionResetError:
        status = CLIENT_CLOSED if client_gone(request) else 500
        raise
    finally:
        seconds = time.perf_counter() - started
        caller: Caller | None = request.get(keys.CALLER)
        log.info(
            "request",
            method=request.method,
            path=redacted_path(request),
            status=status,
            duration_ms=round(seconds * 1000, 2),
            company=request.match_info.get("companyId"),
            sub=caller.sub if caller else None,
        )
        structlog.contextvars.unbind_contextvars("request_id")
        _count(request, status, None if streamed or status == CLIENT_CLOSED else seconds)


def _count(request: web.Request, status: int, seconds: float | None) -> None:
    """Requests and latency by route template, never by raw path (bounded label values).
    A whole event stream (minutes long) is not a latency: it is counted, not timed."""
    resource = request.match_info.route.resource
    route = resource.canonical if resource is not None else "unmatched"
    request.app[keys.METRICS].http_request(request.method, route, status, seconds)


def client_gone(request: web.Request) -> bool:
    """Whether the client closed its connection (a reset then is its doing, not ours)."""
    transport = request.transport
    return transport is None or transport.is_closing()


async def add_request_id_header(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: also reaches streamed responses, whose headers go out early."""
    request_id = request.get(keys.REQUEST_ID)
    if request_id:
        response.headers["X-Request-ID"] = request_id


@web.middleware
async def traced(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A server span per request, parent of all it does (and of the runs of the jobs it
    submits, through `TRACEPARENT`); a caller's `traceparent` header is its parent. Added to
    the app only when tracing is on: off, requests do not pass through here at all."""
    resource = request.match_info.route.resource
    route = resource.canonical if resource is not None else "unmatched"
    with request.app[keys.TRACING].span(
        f"{request.method} {route}",
        parent=request.headers.get("traceparent"),
        kind="server",
        attributes={"http.request.method": request.method, "http.route": route},
    ) as span:
        if span.traceparent is not None:
            request[keys.TRACEPARENT] = span.traceparent
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            span.set_attribute("http.response.status_code", exc.status)
            raise
        span.set_attribute("http.response.status_code", response.status)
        if response.status >= 500:
            span.fail(f"HTTP {response.status}")
        return response


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Client errors as `{"error": ...}`; anything else a logged 500 without a stack trace."""
    try:
        return await handler(request)
    except ApiError as exc:
        return error_response(exc.status, exc.message, exc.headers)
    except ClientError as exc:
        http = as_http(exc)
        return error_response(http.status, http.message, http.headers)
    except web.HTTPRequestEntityTooLarge:
        return error_response(413, MAX_BODY_MESSAGE)
    except web.HTTPException as exc:
        if exc.status < 400 or not request.path.startswith("/api/"):
            raise
        headers = {k: v for k, v in exc.headers.items() if k in ("Allow", "WWW-Authenticate")}
        return error_response(exc.status, exc.reason, headers)
    except Exception as exc:
        if isinstance(exc, ConnectionResetError) and client_gone(request):
            raise  # there is no one to answer
        if database_unavailable(exc):
            log.warning("database_unavailable", error=str(exc) or type(exc).__name__)
            return error_response(
                503, "database unavailable, retry later", {"Retry-After": RETRY_AFTER_SECONDS}
            )
        log.exception("unhandled_error")
        return error_response(500, "internal server error")


@web.middleware
async def authentication(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every `/api/` route needs a valid token; handlers then check the company.

    A CORS preflight (`OPTIONS`) is the exception: browsers never send a token with it.
    """
    if request.path.startswith("/api/") and request.method != "OPTIONS":
        request[keys.CALLER] = await authenticate(request, request.app[keys.VERIFIER])
    return await handler(request)


def company_of(request: web.Request, *, write: bool = False) -> str:
    """The path's company id, once the caller is known to have access to it."""
    company_id = request.match_info["companyId"]
    check_company_access(request[keys.CALLER], company_id, write=write)
    return company_id


MIDDLEWARES: list[Any] = [request_context, errors, authentication]

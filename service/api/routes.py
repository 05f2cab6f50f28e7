"""Every route in one list, and the thin handlers of the job API."""

from __future__ import annotations

import base64
import binascii
import dataclasses
import uuid
from collections.abc import Awaitable, Callable, Collection
from datetime import datetime
from typing import Any

import orjson
from aiohttp import web
from yarl import URL

from service.api import (
    admin_routes,
    asset_routes,
    batch,
    health,
    keys,
    output_routes,
    overview_routes,
    schedule_routes,
    stream,
    webhook_routes,
)
from service.api.errors import ApiError, bad_request, conflict, not_found
from service.api.middlewares import company_of
from service.api.openapi import openapi_json
from service.api.pages import STATIC_DIR, index
from service.api.responses import json_response
from service.db.ports import Commands
from service.db.store import IdempotencyConflict, ListFilter
from service.domain.codec import dumps
from service.domain.jobs import Job, Status
from service.domain.limits import (
    DEFAULT_PAGE_SIZE,
    EARLIEST_TIME,
    LATEST_TIME,
    MAX_IDEMPOTENCY_KEY,
    MAX_PAGE_SIZE,
)
from service.domain.submission import check_body, parse_submission, parse_time, with_idempotency
from service.webhooks.hosts import check_callback_url

JOBS_PATH = "/api/companies/{companyId}/content-jobs"
ASSETS_PATH = "/api/companies/{companyId}/assets"


def setup_routes(app: web.Application, *, api: bool) -> None:
    app.router.add_get("/healthz", health.healthz)
    app.router.add_get("/readyz", health.readyz)
    app.router.add_get("/metrics", health.metrics)
    if not api:
        return
    app.router.add_get("/", index)
    app.router.add_static("/static/", STATIC_DIR)
    app.router.add_get("/openapi.json", openapi_json)
    app.router.add_get(ASSETS_PATH + "/{assetId}", asset_routes.get_asset)
    app.router.add_get(ASSETS_PATH + "/{assetId}/content", asset_routes.asset_content)
    app.router.add_post(JOBS_PATH, submit_job)
    app.router.add_post(JOBS_PATH + ":batch", batch.submit_batch)
    app.router.add_get(JOBS_PATH, list_jobs)
    app.router.add_get(JOBS_PATH + "/{jobId}", get_job)
    app.router.add_post(JOBS_PATH + "/{jobId}/cancel", cancel_job)
    app.router.add_post(JOBS_PATH + "/{jobId}/retry", retry_job)
    app.router.add_get("/api/job-types", list_job_types)
    app.router.add_get(JOBS_PATH + "/{jobId}/events", stream.job_events)
    app.router.add_get(JOBS_PATH + "/{jobId}/output", output_routes.job_output)
    webhook_routes.setup(app)
    schedule_routes.setup(app)
    admin_routes.setup(app)
    overview_routes.setup(app)


async def submit_job(request: web.Request) -> web.Response:
    company_id = company_of(request, write=True)
    body = await _json_object(request)
    new = parse_submission(
        body, request.app[keys.SETTINGS], request.app[keys.JOB_TYPES], company_id
    )
    if body.get("callbackUrl") is not None:
        url = await check_callback_url(body["callbackUrl"], request.app[keys.CALLBACK_POLICY])
        new = dataclasses.replace(new, callback_url=url)
    new = with_idempotency(new, body, _idempotency_key(request))
    if (traceparent := request.get(keys.TRACEPARENT)) is not None:  # tracing on
        new = dataclasses.replace(new, trace_context=traceparent)
    if new.depends_on:
        await check_dependencies(request.app[keys.STORE], company_id, new.depends_on)
    await request.app[keys.QUOTA].admit(company_id)
    try:
        job = await request.app[keys.STORE].submit(new)
    except IdempotencyConflict:
        raise conflict("Idempotency-Key was already used with a different request body") from None
    if job.created:
        request.app[keys.METRICS].jobs_submitted.labels(new.job_type).inc()
    location = f"/api/companies/{company_id}/content-jobs/{job.id}"
    return json_response(
        {"jobId": job.id, "status": job.status.value, "createdAt": job.created_at},
        status=202,
        headers={"Location": location},
    )


async def check_dependencies(jobs: Commands, company_id: str, ids: Collection[uuid.UUID]) -> None:
    """`400` naming `dependsOn` when some of `ids` are not jobs of the company (another
    company's job is as unknown as one that never was)."""
    missing = set(ids) - await jobs.existing_jobs(company_id, list(ids))
    if missing:
        raise bad_request(f"dependsOn names unknown jobs: {', '.join(sorted(map(str, missing)))}")


def _idempotency_key(request: web.Request) -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is not None and not 1 <= len(key) <= MAX_IDEMPOTENCY_KEY:
        raise bad_request(f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} characters")
    if key is not None and not _storable(key):
        raise bad_request("Idempotency-Key must be UTF-8 text")
    return key


async def list_jobs(request: web.Request) -> web.Response:
    company_id = company_of(request)
    query = request.query
    limit = _limit(query.get("limit"))
    status = query.get("status")
    if status is not None and status not in Status._value2member_map_:
        raise bad_request(f"status must be one of {', '.join(s.value for s in Status)}")
    for name in ("jobType", "sourceTaskId"):
        if not _storable(query.get(name, "")):
            raise bad_request(f"{name} must not contain NUL characters")
    cursor = query.get("cursor")
    parent = query.get("parentJobId")
    try:
        parent_job_id = None if parent is None else uuid.UUID(parent)
    except ValueError:
        raise bad_request("parentJobId must be a job id") from None
    where = ListFilter(
        status=status,
        job_type=query.get("jobType"),
        source_task_id=query.get("sourceTaskId"),
        after=_decode_cursor(cursor) if cursor else None,
        parent_job_id=parent_job_id,
    )
    jobs = await request.app[keys.STORE].list_jobs(company_id, where, limit + 1)
    headers = {}
    if len(jobs) > limit:
        jobs = jobs[:limit]
        next_url = request.rel_url.update_query(cursor=_encode_cursor(jobs[-1]))
        headers["Link"] = f'<{_without_token(next_url)}>; rel="next"'
    return json_response([job.to_json(detail=False) for job in jobs], headers=headers)


async def get_job(request: web.Request) -> web.Response:
    company_id = company_of(request)
    job = await request.app[keys.STORE].get(company_id, job_id_of(request))
    if job is None:
        raise not_found()
    return json_response(job.to_json())


async def retry_job(request: web.Request) -> web.Response:
    """A failed or cancelled job starts afresh; its event stream goes on with the next ids."""
    return await _transition(
        request,
        lambda jobs: jobs.retry,
        "only failed or cancelled jobs can be retried; this one is {}",
    )


async def list_job_types(request: web.Request) -> web.Response:
    """The installed job types with their input schemas, and whether an admin paused each
    (any valid token)."""
    settings = request.app[keys.SETTINGS]
    job_types = request.app[keys.JOB_TYPES]
    paused = await request.app[keys.STORE].paused_job_types()
    described = job_types.describe(settings.job_max_attempts, settings.timeout_for)
    return json_response([{**item, "paused": item["name"] in paused} for item in described])


async def cancel_job(request: web.Request) -> web.Response:
    return await _transition(request, lambda jobs: jobs.cancel, "job is already {}")


async def _transition(
    request: web.Request,
    change: Callable[[Commands], Callable[[str, uuid.UUID], Awaitable[Job | None]]],
    refusal: str,
) -> web.Response:
    """A client's state change of one job: the job after it, else 404 for a job that is not
    there and 409 (`refusal` with the job's status) for one whose status forbids it."""
    company_id = company_of(request, write=True)
    job_id = job_id_of(request)
    jobs: Commands = request.app[keys.STORE]
    job = await change(jobs)(company_id, job_id)
    if job is None:
        current = await jobs.get(company_id, job_id)
        if current is None:
            raise not_found()
        raise conflict(refusal.format(current.status.value))
    return json_response(job.to_json())


def job_id_of(request: web.Request) -> uuid.UUID:
    """The path's job id; a malformed one is simply a job that does not exist."""
    try:
        return uuid.UUID(request.match_info["jobId"])
    except ValueError:
        raise not_found() from None


#: a submit whose body is empty or not an object: it names the one field every job needs
NOT_AN_OBJECT = "request body must be a JSON object with a jobType"


async def _json_object(request: web.Request) -> dict[str, Any]:
    try:
        raw = await request.read()
    except web.RequestPayloadError:
        raise bad_request("request body could not be read (check Content-Encoding)") from None
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise bad_request(NOT_AN_OBJECT) from None
    if not isinstance(body, dict):
        raise bad_request(NOT_AN_OBJECT)
    check_body(body, may_hold_nul=b"\\u0000" in raw)
    return body


def _storable(text: str) -> bool:
    """Whether Postgres can store `text`: no U+0000, and no lone surrogates, which is what
    header bytes that are not UTF-8 decode to."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return "\x00" not in text


def _limit(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_PAGE_SIZE
    # plain ASCII digits only: int() would also take " 5", "+5", "5_0" and non-Latin digits
    limit = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 10 else 0
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise bad_request(f"limit must be an integer from 1 to {MAX_PAGE_SIZE}")
    return limit


def _encode_cursor(job: Job) -> str:
    raw = dumps([job.created_at, str(job.id)])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    """The opaque token back to (createdAt, id); anything else a client may send, however
    it decodes, is `400` naming `cursor`."""
    invalid = bad_request("cursor is invalid")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        decoded = orjson.loads(raw)
    except (binascii.Error, ValueError):
        raise invalid from None
    if not isinstance(decoded, list) or len(decoded) != 2:
        raise invalid
    created, job_id = parse_time(decoded[0]), decoded[1]
    if created is None or not EARLIEST_TIME <= created <= LATEST_TIME:
        raise invalid
    try:
        return created, uuid.UUID(job_id if isinstance(job_id, str) else "")
    except ValueError:
        raise invalid from None


def _without_token(url: URL) -> URL:
    """A token given in the URL is not repeated into the `Link` header."""
    return url.without_query_params("access_token") if "access_token" in url.query else url


__all__ = ["ApiError", "setup_routes"]

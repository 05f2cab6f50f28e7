"""Flow control over HTTP: pausing and resuming a job type (admins), and redriving a
company's failed or cancelled jobs (its editors).

A pause is a row the claim reads (sql/0012.flow-control.sql), so it holds on every worker
from its next claim, survives restarts, and leaves running jobs and submits alone. A redrive
is one statement: every matching job is queued again, or none is.
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from service.api import keys
from service.api.auth import check_admin
from service.api.errors import ApiError, bad_request
from service.api.middlewares import company_of
from service.api.responses import json_response
from service.domain.jobs import Status
from service.domain.limits import EARLIEST_TIME, LATEST_TIME
from service.domain.submission import parse_time

JOB_TYPE_PATH = "/api/job-types/{name}"
#: jobs one redrive queues again, at most (one statement: its locks and its NOTIFY stay small)
MAX_REDRIVE = 10_000
#: what a redrive may queue again
REDRIVABLE = (Status.FAILED, Status.CANCELLED)


def setup(app: web.Application) -> None:
    app.router.add_post(JOB_TYPE_PATH + "/pause", pause_job_type)
    app.router.add_post(JOB_TYPE_PATH + "/resume", resume_job_type)
    app.router.add_post("/api/companies/{companyId}/content-jobs:retry", redrive)


async def pause_job_type(request: web.Request) -> web.Response:
    """Its queued jobs stay queued (running ones finish; submits are still accepted)."""
    return await _set_paused(request, paused=True)


async def resume_job_type(request: web.Request) -> web.Response:
    return await _set_paused(request, paused=False)


async def _set_paused(request: web.Request, *, paused: bool) -> web.Response:
    check_admin(request[keys.CALLER])
    name = request.match_info["name"]
    job_types = request.app[keys.JOB_TYPES]
    job_type = job_types.get(name)
    if job_type is None:
        raise ApiError(404, f"unknown job type {name!r}")
    await request.app[keys.STORE].set_paused(name, paused)
    settings = request.app[keys.SETTINGS]
    described = job_types.describe(settings.job_max_attempts, settings.timeout_for)
    listed = next(item for item in described if item["name"] == name)
    return json_response({**listed, "paused": paused})


async def redrive(request: web.Request) -> web.Response:
    """`{"status", "jobType"?, "finishedAfter"?}` -> `{"retried": n}`: the company's matching
    jobs queued again as a retry does (attempts start over), at most `MAX_REDRIVE`."""
    company_id = company_of(request, write=True)
    body = await _body(request)
    status = body.get("status")
    if status not in [s.value for s in REDRIVABLE]:
        raise bad_request('status must be "failed" or "cancelled"')
    job_type = body.get("jobType")
    if job_type is not None and (not isinstance(job_type, str) or "\x00" in job_type):
        raise bad_request("jobType must be a string")
    finished_after = None
    if body.get("finishedAfter") is not None:
        finished_after = parse_time(body["finishedAfter"])
        if finished_after is None or not EARLIEST_TIME <= finished_after <= LATEST_TIME:
            raise bad_request("finishedAfter must be an ISO-8601 time")
    retried = await request.app[keys.STORE].redrive(
        company_id, Status(status), job_type, finished_after, MAX_REDRIVE
    )
    return json_response({"retried": retried})


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        raise bad_request("request body must be a JSON object with a status") from None
    if not isinstance(body, dict):
        raise bad_request("request body must be a JSON object with a status")
    return body

"""The routes of a company's schedules: viewers read them, editors create, change and delete.

The checks are the domain's (`service.domain.schedules`: a schedule's `job` passes exactly
what a submit body must); the worker replicas' scheduler submits the ticks' jobs.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
from aiohttp import web

from service.api import keys
from service.api.middlewares import company_of
from service.api.responses import json_response
from service.db.schedules import ScheduleStore
from service.domain.errors import Conflict, InvalidRequest, NotFound
from service.domain.schedules import Schedule, ScheduleSpec, parse_schedule, patched
from service.domain.submission import check_body
from service.webhooks.hosts import check_callback_url

SCHEDULES_PATH = "/api/companies/{companyId}/schedules"


def setup(app: web.Application) -> None:
    app.router.add_post(SCHEDULES_PATH, create_schedule)
    app.router.add_get(SCHEDULES_PATH, list_schedules)
    app.router.add_get(SCHEDULES_PATH + "/{scheduleId}", get_schedule)
    app.router.add_patch(SCHEDULES_PATH + "/{scheduleId}", patch_schedule)
    app.router.add_delete(SCHEDULES_PATH + "/{scheduleId}", delete_schedule)


async def create_schedule(request: web.Request) -> web.Response:
    company_id = company_of(request, write=True)
    body = await _json_object(request)
    spec = parse_schedule(body, request.app[keys.SETTINGS], request.app[keys.JOB_TYPES], company_id)
    spec = await _with_checked_callback(request, spec)
    next_run_at = None if spec.paused else spec.timing.first_after(datetime.now(UTC))
    schedule = await _schedules(request).create(company_id, spec, next_run_at)
    if schedule is None:
        raise Conflict(f"name {spec.name!r} is taken by another schedule of this company")
    location = f"/api/companies/{company_id}/schedules/{schedule.id}"
    return json_response(schedule.to_json(), status=201, headers={"Location": location})


async def list_schedules(request: web.Request) -> web.Response:
    company_id = company_of(request)
    schedules = await _schedules(request).of_company(company_id)
    return json_response([schedule.to_json() for schedule in schedules])


async def get_schedule(request: web.Request) -> web.Response:
    company_id = company_of(request)
    return json_response((await _existing(request, company_id)).to_json())


async def patch_schedule(request: web.Request) -> web.Response:
    """Any of cron, everySeconds, timezone, job, paused. A new timing, or a resume, starts
    from now (the ticks of a paused schedule are not caught up)."""
    company_id = company_of(request, write=True)
    body = await _json_object(request)
    current = await _existing(request, company_id)
    settings, job_types = request.app[keys.SETTINGS], request.app[keys.JOB_TYPES]
    spec = await _with_checked_callback(request, patched(current, body, settings, job_types))
    updated = await _schedules(request).update(
        company_id, current.id, spec, _next_run_at(current, spec)
    )
    if updated is None:
        raise NotFound("Schedule not found")
    return json_response(updated.to_json())


async def delete_schedule(request: web.Request) -> web.Response:
    """The schedule goes; the jobs it submitted stay."""
    company_id = company_of(request, write=True)
    if not await _schedules(request).delete(company_id, _schedule_id(request)):
        raise NotFound("Schedule not found")
    return web.Response(status=204)


def _next_run_at(current: Schedule, spec: ScheduleSpec) -> datetime | None:
    if spec.paused:
        return None
    if spec.timing != current.timing or current.paused or current.next_run_at is None:
        return spec.timing.first_after(datetime.now(UTC))
    return current.next_run_at


async def _with_checked_callback(request: web.Request, spec: ScheduleSpec) -> ScheduleSpec:
    """The job's `callbackUrl` checked as a submit checks it (its host may not resolve to a
    private address); the sender checks it again at each delivery."""
    raw = spec.job.get("callbackUrl")
    if raw is None:
        return spec
    try:
        url = await check_callback_url(raw, request.app[keys.CALLBACK_POLICY])
    except InvalidRequest as exc:
        raise InvalidRequest(f"job.{exc.message}") from None
    return ScheduleSpec(spec.name, spec.timing, {**spec.job, "callbackUrl": url}, spec.paused)


async def _existing(request: web.Request, company_id: str) -> Schedule:
    schedule = await _schedules(request).get(company_id, _schedule_id(request))
    if schedule is None:
        raise NotFound("Schedule not found")
    return schedule


def _schedule_id(request: web.Request) -> uuid.UUID:
    """The path's schedule id; a malformed one is a schedule that does not exist."""
    try:
        return uuid.UUID(request.match_info["scheduleId"])
    except ValueError:
        raise NotFound("Schedule not found") from None


def _schedules(request: web.Request) -> ScheduleStore:
    return request.app[keys.SCHEDULES]


async def _json_object(request: web.Request) -> dict[str, Any]:
    try:
        body = orjson.loads(await request.read())
    except (orjson.JSONDecodeError, web.RequestPayloadError):
        body = None
    if not isinstance(body, dict):
        raise InvalidRequest("request body must be a JSON object")
    check_body(body)
    return body

"""Schedules: a submit body on a clock. The checks of a schedule body, its JSON shape, and
when it ticks next. No I/O.

A schedule ticks by a standard 5-field cron expression read in an IANA time zone, or every
N seconds. Cron is read on the zone's wall clock, so a daily 02:30 job runs once a day
across DST changes: on the day the clock skips 02:30 it runs when the wall time it names
would have been (03:30 in Europe/Berlin's spring), and on the day 02:30 comes twice it
runs on the first pass only. An expression whose hour field is `*` runs on both passes of
a repeated hour (it runs every hour anyway), as cron itself does.

The parsing of cron is croniter's (maintained under pallets-eco); this module only maps its
wall times to instants.
"""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadDateError, CroniterError, croniter  # type: ignore[import-untyped]

from service.domain.errors import ClientError, InvalidRequest
from service.domain.jobs import NewJob, Row
from service.domain.limits import EVERY_SECONDS_RANGE, MAX_SCHEDULE_NAME
from service.domain.submission import parse_submission
from service.jobtypes import JobTypes
from service.settings import Settings

#: the channel worker replicas listen on for schedule changes; its payload is empty
SCHEDULES_CHANNEL = "content_jobs_schedules"
#: fields of a submit body a schedule cannot take: its ticks say when, and who
FIXED_BY_THE_SCHEDULE = ("runAt", "sourceTaskId")
#: candidates of a cron expression tried for the next tick before giving up (a repeated
#: hour skips at most an hour of minutes)
_MAX_CANDIDATES = 1000


@dataclasses.dataclass(frozen=True)
class Timing:
    """When a schedule ticks: `cron` in `timezone`, or every `every_seconds`."""

    cron: str | None
    every_seconds: int | None
    timezone: str = "UTC"

    def first_after(self, now: datetime) -> datetime:
        """The first tick of a new (or just resumed or re-timed) schedule; an `everySeconds`
        grid starts on a whole second (its ticks read well in `sourceTaskId`)."""
        if self.every_seconds is not None:
            return (now + timedelta(seconds=self.every_seconds)).replace(microsecond=0)
        return self.next_after(now)

    def next_after(self, now: datetime, due: datetime | None = None) -> datetime:
        """The first tick strictly after `now`; an `everySeconds` schedule stays on the grid
        of its `due` tick. Ticks between `due` and `now` (missed) are skipped."""
        if self.every_seconds is not None:
            if due is None:
                return self.first_after(now)
            step = timedelta(seconds=self.every_seconds)
            return due + step * ((now - due) // step + 1)
        assert self.cron is not None
        return next_cron_tick(self.cron, ZoneInfo(self.timezone), now)


def next_cron_tick(cron: str, zone: ZoneInfo, after: datetime) -> datetime:
    """The first instant strictly after `after` whose wall time in `zone` matches `cron`
    (see the module's docstring for DST)."""
    wall = after.astimezone(zone).replace(tzinfo=None, fold=0) - timedelta(seconds=1)
    candidates = croniter(cron, wall)
    every_hour = cron.split()[1] == "*"
    for _ in range(_MAX_CANDIDATES):
        candidate: datetime = candidates.get_next(datetime)
        first = candidate.replace(tzinfo=zone, fold=0)
        second = candidate.replace(tzinfo=zone, fold=1)
        repeated = (first.utcoffset() or timedelta()) > (second.utcoffset() or timedelta())
        for instant in (first, second) if repeated and every_hour else (first,):
            if instant.astimezone(UTC) > after:
                return instant.astimezone(UTC)
    raise CroniterBadDateError("no tick found")  # pragma: no cover


@dataclasses.dataclass(frozen=True)
class Schedule:
    id: uuid.UUID
    company_id: str
    name: str
    cron: str | None
    every_seconds: int | None
    timezone: str
    job: dict[str, Any]
    paused: bool
    next_run_at: datetime | None
    last_run_at: datetime | None
    created_at: datetime

    @classmethod
    def from_row(cls, row: Row) -> Schedule:
        return cls(**{f.name: row[f.name] for f in dataclasses.fields(cls)})

    @property
    def timing(self) -> Timing:
        return Timing(self.cron, self.every_seconds, self.timezone)

    def to_json(self) -> dict[str, Any]:
        """The schedule resource of docs/api.md."""
        return {
            "id": self.id,
            "name": self.name,
            "cron": self.cron,
            "everySeconds": self.every_seconds,
            "timezone": self.timezone,
            "job": self.job,
            "paused": self.paused,
            "nextRunAt": self.next_run_at,
            "lastRunAt": self.last_run_at,
            "createdAt": self.created_at,
        }


@dataclasses.dataclass(frozen=True)
class ScheduleSpec:
    """A schedule as a body asks for it, checked: what the store inserts or updates to."""

    name: str
    timing: Timing
    job: dict[str, Any]
    paused: bool


def parse_schedule(
    body: dict[str, Any], settings: Settings, job_types: JobTypes, company_id: str
) -> ScheduleSpec:
    """A `POST .../schedules` body; `InvalidRequest` names the field that is wrong."""
    name = body.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_SCHEDULE_NAME:
        raise InvalidRequest(f"name is required: 1 to {MAX_SCHEDULE_NAME} characters")
    if "job" not in body:
        raise InvalidRequest("job is required: a submit body")
    timing = parse_timing(body.get("cron"), body.get("everySeconds"), body.get("timezone"))
    job = check_job(body["job"], settings, job_types, company_id)
    return ScheduleSpec(name, timing, job, _paused(body.get("paused", False)))


def patched(
    current: Schedule,
    body: dict[str, Any],
    settings: Settings,
    job_types: JobTypes,
) -> ScheduleSpec:
    """`current` with a `PATCH` body's fields applied (any of cron, everySeconds, timezone,
    job, paused); giving `cron` drops `everySeconds` and the other way round."""
    unknown = sorted(set(body) - {"cron", "everySeconds", "timezone", "job", "paused"})
    if unknown:
        raise InvalidRequest(f"{unknown[0]} cannot be changed (name a new schedule instead)")
    cron, every = current.cron, current.every_seconds
    if "cron" in body or "everySeconds" in body:
        cron, every = body.get("cron"), body.get("everySeconds")
    timing = parse_timing(cron, every, body.get("timezone", current.timezone))
    job = current.job
    if "job" in body:
        job = check_job(body["job"], settings, job_types, current.company_id)
    paused = _paused(body.get("paused", current.paused))
    return ScheduleSpec(current.name, timing, job, paused)


def parse_timing(cron: Any, every_seconds: Any, timezone: Any) -> Timing:
    if (cron is None) == (every_seconds is None):
        raise InvalidRequest("give exactly one of cron and everySeconds")
    zone = _timezone("UTC" if timezone is None else timezone)
    if every_seconds is not None:
        low, high = EVERY_SECONDS_RANGE
        if (
            isinstance(every_seconds, bool)
            or not isinstance(every_seconds, int)
            or not low <= every_seconds <= high
        ):
            raise InvalidRequest(f"everySeconds must be an integer from {low} to {high}")
        return Timing(None, every_seconds, zone.key)
    return Timing(_cron(cron, zone), None, zone.key)


def _cron(cron: Any, zone: ZoneInfo) -> str:
    invalid = InvalidRequest(
        "cron must be 5 fields (minute hour day-of-month month day-of-week), like '30 2 * * *'"
    )
    if not isinstance(cron, str) or len(cron.split()) != 5 or "\x00" in cron:
        raise invalid
    try:
        next_cron_tick(cron, zone, datetime.now(UTC))
    except CroniterBadDateError:
        raise InvalidRequest("cron never matches a date") from None
    except (CroniterError, ValueError, KeyError, IndexError):
        raise invalid from None
    return " ".join(cron.split())


def _timezone(name: Any) -> ZoneInfo:
    if isinstance(name, str) and name and "\x00" not in name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            pass
    raise InvalidRequest("timezone must be an IANA time zone, like 'Europe/Berlin'")


def _paused(value: Any) -> bool:
    if not isinstance(value, bool):
        raise InvalidRequest("paused must be true or false")
    return value


def check_job(job: Any, settings: Settings, job_types: JobTypes, company_id: str) -> dict[str, Any]:
    """The schedule's `job`, checked exactly as a submit body is (errors name `job.<field>`)."""
    if not isinstance(job, dict):
        raise InvalidRequest("job must be a JSON object: a submit body")
    for field in FIXED_BY_THE_SCHEDULE:
        if job.get(field) is not None:
            raise InvalidRequest(f"job.{field} is set by the schedule's ticks; leave it out")
    try:
        parse_submission(job, settings, job_types, company_id)
    except ClientError as exc:
        raise type(exc)(f"job.{exc.message}") from None
    if job.get("callbackUrl") is not None and not isinstance(job["callbackUrl"], str):
        raise InvalidRequest("job.callbackUrl must be a string")
    return job


def source_task_id(name: str, tick: datetime) -> str:
    """`schedule:<name>:<tick as ISO-8601 UTC>`, the `sourceTaskId` of a tick's job."""
    return f"schedule:{name}:{tick.astimezone(UTC).isoformat().replace('+00:00', 'Z')}"


def tick_job(schedule: Schedule, tick: datetime, settings: Settings, job_types: JobTypes) -> NewJob:
    """The job a tick submits (`ClientError` when its body no longer passes, e.g. its job
    type was uninstalled since)."""
    new = parse_submission(schedule.job, settings, job_types, schedule.company_id)
    return dataclasses.replace(
        new,
        source_task_id=source_task_id(schedule.name, tick),
        callback_url=schedule.job.get("callbackUrl"),
    )

"""A submit body to a `NewJob`: every check of the contract's submit row, in its order.

One function for the single submit and for each item of a batch, so both answer
the same `400` (naming the field) for the same mistake. No I/O.
"""

from __future__ import annotations

import dataclasses
import hashlib
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from service.domain.codec import dumps
from service.domain.errors import InvalidRequest, TooLarge
from service.domain.jobs import NewJob
from service.domain.limits import (
    EARLIEST_TIME,
    LATEST_TIME,
    MAX_ATTEMPTS_RANGE,
    MAX_DELAY_SECONDS,
    MAX_DEPENDENCIES,
    MAX_JSON_DEPTH,
    MAX_SOURCE_TASK_ID,
    PRIORITY_RANGE,
    json_depth_exceeds,
)
from service.jobtypes import InvalidInput, JobTypes, validate_input
from service.settings import Settings


def parse_submission(
    body: dict[str, Any],
    settings: Settings,
    job_types: JobTypes,
    company_id: str,
    *,
    batch_index: int | None = None,
) -> NewJob:
    """The job a body asks for (without its idempotency key), of one of `job_types`;
    `ApiError` names what is wrong. A batch's item (`batch_index`) may depend on earlier
    items of its batch (`"@<index>"`)."""
    job_type = body.get("jobType")
    if not isinstance(job_type, str) or not job_type.strip():
        raise InvalidRequest("jobType is required")
    declared = job_types.get(job_type)
    if declared is None:
        raise InvalidRequest(
            f"unknown jobType {job_type!r}; known types: {', '.join(job_types.names())}"
        )
    job_input = body.get("input", {})
    if not isinstance(job_input, dict):
        raise InvalidRequest("input must be a JSON object")
    if len(dumps(job_input)) > settings.job_input_max_bytes:
        raise TooLarge(
            f"input is larger than JOB_INPUT_MAX_BYTES ({settings.job_input_max_bytes} bytes)"
        )
    source_task_id = body.get("sourceTaskId")
    if source_task_id is not None and not isinstance(source_task_id, str):
        raise InvalidRequest("sourceTaskId must be a string")
    if source_task_id is not None and len(source_task_id) > MAX_SOURCE_TASK_ID:
        raise InvalidRequest(f"sourceTaskId must be at most {MAX_SOURCE_TASK_ID} characters")
    try:
        validate_input(declared, job_input)
    except InvalidInput as exc:
        raise InvalidRequest(str(exc)) from None
    return NewJob(
        company_id=company_id,
        job_type=job_type,
        input=job_input,
        source_task_id=source_task_id,
        max_attempts=_int_in(body, "maxAttempts", MAX_ATTEMPTS_RANGE)
        or declared.max_attempts
        or settings.job_max_attempts,
        priority=_int_in(body, "priority", PRIORITY_RANGE) or 0,
        run_at=_run_at(body),
        delay_seconds=_delay(body),
        **_dependencies(body.get("dependsOn"), batch_index),
    )


def _dependencies(raw: Any, batch_index: int | None) -> dict[str, Any]:
    """`dependsOn`: job ids, and in a batch `"@<index>"` of an earlier item (only earlier
    ones: a self or forward reference, the only way to a cycle, is refused). Whether the ids
    are jobs of the company is the store's to check (`NewJob.depends_on`)."""
    if raw is None:
        return {}
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_DEPENDENCIES:
        raise InvalidRequest(f"dependsOn must be a list of 1 to {MAX_DEPENDENCIES} job ids")
    ids: dict[uuid.UUID, None] = {}
    items: dict[int, None] = {}
    for n, value in enumerate(raw):
        if isinstance(value, str) and value.startswith("@"):
            items[_item_reference(value, n, batch_index)] = None
            continue
        try:
            ids[uuid.UUID(value if isinstance(value, str) else "")] = None
        except ValueError:
            raise InvalidRequest(f"dependsOn[{n}] must be a job id") from None
    return {"depends_on": tuple(ids), "depends_on_items": tuple(items)}


def _item_reference(value: str, n: int, batch_index: int | None) -> int:
    if batch_index is None:
        raise InvalidRequest(
            f'dependsOn[{n}]: "@<index>" names an item of the same :batch request only'
        )
    digits = value[1:]
    if not (digits.isascii() and digits.isdigit() and len(digits) <= 4):
        raise InvalidRequest(f'dependsOn[{n}] must be a job id or "@<index>" of an earlier item')
    index = int(digits)
    if index == batch_index:
        raise InvalidRequest(f"dependsOn[{n}] references this item itself (jobs[{index}])")
    if index > batch_index:
        raise InvalidRequest(
            f"dependsOn[{n}] references a later item (jobs[{index}]): an item may depend "
            "only on earlier ones, so a pipeline has no cycle"
        )
    return index


def check_body(body: dict[str, Any], *, may_hold_nul: bool = True, where: str = "") -> None:
    """What no job may hold: JSON nested past `MAX_JSON_DEPTH` (the encoders' limits are
    not far above; the error names the field, after `where`, e.g. `jobs[3].`) and U+0000,
    which Postgres cannot store (`may_hold_nul=False` when the raw bytes showed none: the
    common case costs no walk)."""
    for name, value in body.items():
        if json_depth_exceeds(value, MAX_JSON_DEPTH - 1):  # the body itself is one level
            field = f"{where}{name[:64]}"
            raise InvalidRequest(f"{field} is nested more than {MAX_JSON_DEPTH} levels deep")
    if may_hold_nul and _has_nul(body):
        raise InvalidRequest("request body must not contain \\u0000 (Postgres cannot store it)")


def _has_nul(value: Any) -> bool:
    """Whether any string or key in parsed JSON holds U+0000 (iterative: JSON nests deep)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            stack.extend(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def with_idempotency(new: NewJob, body: dict[str, Any], key: str | None) -> NewJob:
    """The job with its idempotency key and the hash of the request it stands for: the
    same key with a different body is a conflict, however its fields are ordered."""
    if key is None:
        return new
    digest = hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()
    return dataclasses.replace(new, idempotency_key=key, idempotency_hash=digest)


def _int_in(body: dict[str, Any], name: str, bounds: tuple[int, int]) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    low, high = bounds
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidRequest(f"{name} must be an integer from {low} to {high}")
    return value


def _delay(body: dict[str, Any]) -> float | None:
    """`delaySeconds`: counted from the job's insert, in the database's clock."""
    delay = body.get("delaySeconds")
    if delay is None:
        return None
    if isinstance(delay, bool) or not isinstance(delay, int | float):
        raise InvalidRequest("delaySeconds must be a number")
    if not 0 <= delay <= MAX_DELAY_SECONDS:
        raise InvalidRequest(f"delaySeconds must be from 0 to {MAX_DELAY_SECONDS}")
    return float(delay)


def _run_at(body: dict[str, Any]) -> datetime | None:
    """`runAt` (ISO-8601; a time without a zone is UTC); not with `delaySeconds`."""
    raw_at = body.get("runAt")
    if raw_at is not None and body.get("delaySeconds") is not None:
        raise InvalidRequest("give runAt or delaySeconds, not both")
    if raw_at is None:
        return None
    when = parse_time(raw_at)
    if when is None:
        raise InvalidRequest("runAt must be an ISO-8601 date-time, like 2026-01-31T12:00:00Z")
    latest = min(LATEST_TIME, datetime.now(UTC) + timedelta(seconds=MAX_DELAY_SECONDS))
    if not EARLIEST_TIME <= when <= latest:
        raise InvalidRequest("runAt must be from 1970-01-01T00:00:00Z to a year from now")
    return when


def parse_time(raw: Any) -> datetime | None:
    """A client's ISO-8601 time in UTC (one without a zone is UTC), or None when it is not
    one; whether it is in `EARLIEST_TIME`..`LATEST_TIME` is the caller's to check and name."""
    if not isinstance(raw, str):
        return None
    try:
        when = datetime.fromisoformat(raw)
        return when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)
    except (ValueError, OverflowError):  # year 1 at +01:00 is before year 1 in UTC
        return None

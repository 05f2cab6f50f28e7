"""The installed job types: found once at start-up, then looked up by name.

Types come from three places, in this order: the built-in ones, the entry-point
group `content_jobs.job_types` of every installed distribution (an entry point
names a `JobType` or an iterable of them), and the modules listed in
`JOB_TYPE_MODULES` (each exposes `JOB_TYPES`, an iterable of `JobType`). Two types
with one name, a module that fails to import or a declaration that is not valid
stop start-up with a `JobTypeError` naming the culprit.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.metadata
import re
from collections.abc import Iterable, Mapping
from typing import Any

import pydantic

from service.domain.limits import MAX_ATTEMPTS_RANGE
from service.sdk import JobType
from service.settings import SettingsError

ENTRY_POINT_GROUP = "content_jobs.job_types"
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")

#: name -> declaration of every installed type (filled by `load`)
REGISTRY: dict[str, JobType[Any]] = {}


class JobTypeError(SettingsError):
    """A job type cannot be installed; the message names it and where it came from (a
    start-up error, printed as one line like a bad setting)."""


class InvalidInput(ValueError):
    """The input does not fit the job type; the message names the field path."""


def load(modules: Iterable[str] = ()) -> dict[str, JobType[Any]]:
    """Find every type (built-in, entry points, `modules`) and make them the registry."""
    from service.jobtypes import builtin

    found: dict[str, tuple[JobType[Any], str]] = {}
    sources: list[tuple[str, Any]] = [("built-in", builtin.JOB_TYPES)]
    for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        where = f"entry point {entry.name!r} ({entry.value})"
        sources.append((where, _import(where, entry.load)))
    for module in modules:
        where = f"module {module!r} (JOB_TYPE_MODULES)"
        loaded = _import(where, lambda module=module: importlib.import_module(module))
        if not hasattr(loaded, "JOB_TYPES"):
            raise JobTypeError(f"job types: {where} has no JOB_TYPES")
        sources.append((where, loaded.JOB_TYPES))
    for where, declared in sources:
        for job_type in _declarations(where, declared):
            _check(where, job_type)
            if job_type.name in found:
                raise JobTypeError(
                    f"job type {job_type.name!r} is declared twice: by {found[job_type.name][1]}"
                    f" and by {where}"
                )
            found[job_type.name] = (job_type, where)
    REGISTRY.clear()
    REGISTRY.update({name: job_type for name, (job_type, _) in sorted(found.items())})
    return REGISTRY


def _import(where: str, load: Any) -> Any:
    try:
        return load()
    except Exception as exc:
        raise JobTypeError(f"job types: {where} failed to import: {exc!r}") from exc


def _declarations(where: str, declared: Any) -> list[JobType[Any]]:
    items = [declared] if isinstance(declared, JobType) else declared
    try:
        items = list(items)
    except TypeError:
        raise JobTypeError(f"job types: {where} is neither a JobType nor a list of them") from None
    for item in items:
        if not isinstance(item, JobType):
            raise JobTypeError(f"job types: {where} declares {item!r}, which is not a JobType")
    return items


def _check(where: str, job_type: JobType[Any]) -> None:
    """The declaration's own faults, found at start-up rather than at the first job."""
    problem = None
    if not isinstance(job_type.name, str) or not NAME.fullmatch(job_type.name):
        problem = "its name must be 1-100 characters of letters, digits, '.', '_' or '-'"
    elif not (
        isinstance(job_type.input_model, type)
        and issubclass(job_type.input_model, pydantic.BaseModel)
    ):
        problem = "input_model must be a pydantic model class"
    elif job_type.cpu_bound == asyncio.iscoroutinefunction(job_type.handler):
        problem = (
            "a cpu_bound handler must be a plain function"
            if job_type.cpu_bound
            else "its handler must be an async function (or mark the type cpu_bound)"
        )
    elif job_type.timeout_seconds is not None and not job_type.timeout_seconds > 0:
        problem = "timeout_seconds must be positive"
    elif job_type.max_attempts is not None and not (
        MAX_ATTEMPTS_RANGE[0] <= job_type.max_attempts <= MAX_ATTEMPTS_RANGE[1]
    ):
        problem = "max_attempts must be from {} to {}".format(*MAX_ATTEMPTS_RANGE)
    if problem:
        raise JobTypeError(f"job type {job_type.name!r} from {where} is invalid: {problem}")


def known_types() -> list[str]:
    return list(REGISTRY)


def validate_input(job_type: JobType[Any], data: Mapping[str, Any]) -> pydantic.BaseModel:
    """The input as the type's model; `InvalidInput` names the first bad field's path."""
    try:
        model: pydantic.BaseModel = job_type.input_model.model_validate(data)
        return model
    except pydantic.ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        path = ".".join(["input", *(str(part) for part in error["loc"])])
        raise InvalidInput(f"{path}: {error['msg']}") from None


def describe(job_type: JobType[Any], default_max_attempts: int, timeout: float) -> dict[str, Any]:
    """A type as `GET /api/job-types` lists it."""
    return {
        "name": job_type.name,
        "description": job_type.description,
        "inputSchema": input_schema(job_type),
        "timeoutSeconds": timeout,
        "maxAttempts": job_type.max_attempts or default_max_attempts,
        "retry": {
            "baseSeconds": job_type.retry.base_seconds,
            "maxSeconds": job_type.retry.max_seconds,
        },
        "cpuBound": job_type.cpu_bound,
    }


def input_schema(job_type: JobType[Any]) -> dict[str, Any]:
    """The input's JSON Schema (2020-12), as pydantic writes it."""
    schema: dict[str, Any] = job_type.input_model.model_json_schema()
    return schema

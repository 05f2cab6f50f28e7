"""The installed job types: found once at start-up (`load`), then looked up by name.

There is no module-global registry: `load` returns a `JobTypes`, which the app factory
keeps (`service.api.keys.JOB_TYPES`) and hands to the runner and to whatever checks a
submission; a test builds its own (`load().plus(...)`) instead of patching a global.

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
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import pydantic

from service.domain.flow import RateLimit, parse_rate
from service.domain.limits import MAX_ATTEMPTS_RANGE
from service.sdk import JobType
from service.settings import SettingsError

ENTRY_POINT_GROUP = "content_jobs.job_types"
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


class JobTypeError(SettingsError):
    """A job type cannot be installed; the message names it and where it came from (a
    start-up error, printed as one line like a bad setting)."""


class InvalidInput(ValueError):
    """The input does not fit the job type; the message names the field path."""


class JobTypes(Mapping[str, JobType[Any]]):
    """Job types by name, in name order: an immutable value, one per application."""

    def __init__(self, types: Iterable[JobType[Any]] = ()) -> None:
        by_name: dict[str, JobType[Any]] = {}
        for job_type in types:
            if job_type.name in by_name:
                raise JobTypeError(f"job type {job_type.name!r} is declared twice")
            by_name[job_type.name] = job_type
        self._types = dict(sorted(by_name.items()))

    def __getitem__(self, name: str) -> JobType[Any]:
        return self._types[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._types)

    def __len__(self) -> int:
        return len(self._types)

    def names(self) -> list[str]:
        """Every type's name, sorted (what `400 unknown jobType` and the page list)."""
        return list(self._types)

    def cpu_bound_names(self) -> list[str]:
        """The types whose handlers run in the CPU pool (the claim bounds how many)."""
        return [name for name, job_type in self._types.items() if job_type.cpu_bound]

    def describe(
        self, default_max_attempts: int, timeout_for: Callable[[str, float | None], float]
    ) -> list[dict[str, Any]]:
        """Every type as `GET /api/job-types` lists it; `timeout_for(name, declared)` is the
        type's effective timeout (`Settings.timeout_for`)."""
        return [
            describe(t, default_max_attempts, timeout_for(t.name, t.timeout_seconds))
            for t in self._types.values()
        ]

    def rate_limits(self) -> list[RateLimit]:
        """The limits the types declare in their code (`rate_limit=`)."""
        return [parse_rate(t.name, t.rate_limit) for t in self._types.values() if t.rate_limit]

    def plus(self, *types: JobType[Any]) -> JobTypes:
        """These types and `types` (tests add their own handlers this way)."""
        return JobTypes([*self._types.values(), *types])


def load(modules: Iterable[str] = ()) -> JobTypes:
    """Find every type (built-in, entry points, `modules`): the application's `JobTypes`."""
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
    return JobTypes(job_type for job_type, _ in found.values())


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
    elif job_type.rate_limit is not None:
        try:
            parse_rate(job_type.name, job_type.rate_limit)
        except ValueError as exc:
            problem = f"rate_limit {exc}"
    if problem:
        raise JobTypeError(f"job type {job_type.name!r} from {where} is invalid: {problem}")


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

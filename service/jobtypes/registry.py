"""The job-type registry: a job type is one decorated async function and its input check.

Adding a type touches one module: write `async def handler(ctx, input)` in
`service/jobtypes/<name>.py`, decorate it with `@job_type("name", validate=...)`
and import the module in `service/jobtypes/__init__.py`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol


class InvalidInput(ValueError):
    """The input does not fit the job type; the message names the field."""


class JobContext(Protocol):
    """What a running handler may do; the runner provides it."""

    async def progress(self, percent: int, message: str | None = None) -> None:
        """Report progress; cheap to call often (writes are coalesced)."""

    async def store_asset(self, data: bytes, content_type: str, filename: str | None = None) -> str:
        """Store a result file; the job's `resultAssetId` names it once the job is done."""


Input = dict[str, Any]
Handler = Callable[[JobContext, Input], Awaitable[Any]]
Validator = Callable[[Mapping[str, Any]], Input]


@dataclasses.dataclass(frozen=True)
class JobType:
    name: str
    handler: Handler
    validate: Validator
    #: seconds before a run fails as timed out; None: the service default
    timeout: float | None = None


REGISTRY: dict[str, JobType] = {}


def job_type(
    name: str, *, validate: Validator, timeout: float | None = None
) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        if name in REGISTRY:
            raise ValueError(f"job type {name!r} is registered twice")
        REGISTRY[name] = JobType(name, handler, validate, timeout)
        return handler

    return register


def known_types() -> list[str]:
    return sorted(REGISTRY)


# --- small input checks shared by the types ---------------------------------------


def reject_unknown(data: Mapping[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise InvalidInput(f"input.{unknown[0]} is not a known field")


def number(data: Mapping[str, Any], key: str, low: float, high: float, default: float) -> float:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise InvalidInput(f"input.{key} must be a number from {low:g} to {high:g}")
    return float(value)


def integer(
    data: Mapping[str, Any], key: str, low: int | None = None, high: int | None = None
) -> int | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"input.{key} must be an integer")
    if (low is not None and value < low) or (high is not None and value > high):
        if low is None or high is None:
            bound = f"at least {low}" if high is None else f"at most {high}"
            raise InvalidInput(f"input.{key} must be an integer of {bound}")
        raise InvalidInput(f"input.{key} must be an integer from {low} to {high}")
    return value


def string(data: Mapping[str, Any], key: str, *, required: bool, max_length: int) -> str | None:
    value = data.get(key)
    if value is None:
        if required:
            raise InvalidInput(f"input.{key} is required")
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"input.{key} must be a string")
    if len(value) > max_length:
        raise InvalidInput(f"input.{key} must be at most {max_length} characters")
    return value

"""`echo`: the result is the input, done at once. The smallest possible job."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from service.jobtypes.registry import Input, JobContext, job_type


def validate(data: Mapping[str, Any]) -> Input:
    return dict(data)


@job_type("echo", validate=validate, timeout=60)
async def echo(ctx: JobContext, data: Input) -> Any:
    return data

"""`test`: a no-op, done at once with result `{}`.

The seed plan's own acceptance cases submit `{"jobType": "test"}` and expect `202`; this
type lets them pass as written. Any input object is accepted and ignored, so a case that
sends one is not refused either.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from service.sdk import JobContext, JobType


class NoopInput(BaseModel):
    """Any JSON object (ignored)."""

    model_config = ConfigDict(extra="allow")


async def noop(ctx: JobContext[NoopInput]) -> Any:
    return {}


TEST = JobType(
    name="test",
    description="Does nothing and is done at once with result {} (for smoke tests).",
    input_model=NoopInput,
    handler=noop,
    timeout_seconds=60,
)

"""`sleep`: waits in steps, reporting progress at each, and can fail on purpose.

It exists so clients, load balancers and tests can exercise every path of a
job's life (progress, failure, retries, cancellation, timeouts) without real work.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from service.domain.limits import MAX_ATTEMPTS_RANGE
from service.sdk import JobContext, JobType, PermanentError, RetryPolicy, TransientError

MAX_SECONDS = 3600


class SleepInput(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)

    seconds: float = Field(1, ge=0, le=MAX_SECONDS, description="How long, in all")
    steps: int = Field(10, ge=1, le=1000, description="Progress events, one per step")
    failAtStep: int | None = Field(  # noqa: N815 (the contract's field name)
        None, ge=1, le=1000, description="Fail for good at this step (a permanent error)"
    )
    failAttempts: int = Field(  # noqa: N815
        0,
        ge=0,
        le=MAX_ATTEMPTS_RANGE[1],
        description="The first k attempts fail with a transient error",
    )


async def sleep(ctx: JobContext[SleepInput]) -> Any:
    data = ctx.input
    if ctx.attempt <= data.failAttempts:
        raise TransientError(f"transient failure on attempt {ctx.attempt}")
    pause = data.seconds / data.steps
    for step in range(1, data.steps + 1):
        if data.failAtStep == step:
            raise PermanentError(f"failed at step {step}")
        await asyncio.sleep(pause)
        await ctx.progress(round(100 * step / data.steps), f"step {step} of {data.steps}")
    return {"slept": data.seconds, "steps": data.steps}


SLEEP = JobType(
    name="sleep",
    description="Waits `seconds` in `steps`, reporting progress; can fail on purpose.",
    input_model=SleepInput,
    handler=sleep,
    timeout_seconds=MAX_SECONDS + 60,
    retry=RetryPolicy(base_seconds=1, max_seconds=10),
)

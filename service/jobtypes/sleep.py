"""`sleep`: waits in steps, reporting progress at each, and can fail on purpose.

It exists so clients, load balancers and tests can exercise every path of a
job's life (progress, failure, cancellation, timeouts, retries) without real work.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from service.jobtypes.registry import (
    Input,
    JobContext,
    integer,
    job_type,
    number,
    reject_unknown,
)

MAX_SECONDS = 3600


class StepFailed(Exception):
    pass


def validate(data: Mapping[str, Any]) -> Input:
    reject_unknown(data, {"seconds", "steps", "failAtStep"})
    seconds = number(data, "seconds", 0, MAX_SECONDS, default=1)
    steps = integer(data, "steps", 1, 1000)
    fail_at = integer(data, "failAtStep", 1, 1000)
    return {"seconds": seconds, "steps": 10 if steps is None else steps, "failAtStep": fail_at}


@job_type("sleep", validate=validate, timeout=MAX_SECONDS + 60)
async def sleep(ctx: JobContext, data: Input) -> Any:
    steps: int = data["steps"]
    pause = data["seconds"] / steps
    for step in range(1, steps + 1):
        if data["failAtStep"] == step:
            raise StepFailed(f"failed at step {step}")
        await asyncio.sleep(pause)
        await ctx.progress(round(100 * step / steps), f"step {step} of {steps}")
    return {"slept": data["seconds"], "steps": steps}

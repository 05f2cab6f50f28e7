"""`echo`: the result is the input, done at once. The smallest possible job."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from service.sdk import JobContext, JobType


class EchoInput(BaseModel):
    """Any JSON object."""

    model_config = ConfigDict(extra="allow")


async def echo(ctx: JobContext[EchoInput]) -> Any:
    return ctx.input.model_dump()


ECHO = JobType(
    name="echo",
    description="Returns its input as the result, at once.",
    input_model=EchoInput,
    handler=echo,
    timeout_seconds=60,
)

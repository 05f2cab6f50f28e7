"""`text.typewriter`: writes a text out chunk by chunk, as streamed output.

It exists so clients, load balancers and tests can exercise streamed output (`output`
events, `GET .../output`, a replayed stream) without a real generator behind it, the way
`sleep` exercises progress and failures.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from service.sdk import JobContext, JobType

MAX_TEXT_CHARS = 100_000


class TypewriterInput(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    text: str = Field(max_length=MAX_TEXT_CHARS, description="What to write out")
    chunkChars: int = Field(  # noqa: N815 (the contract's field name)
        5, ge=1, le=1000, description="Characters per chunk"
    )
    delayMs: int = Field(  # noqa: N815
        20, ge=0, le=1000, description="Milliseconds between chunks"
    )


async def typewriter(ctx: JobContext[TypewriterInput]) -> Any:
    data = ctx.input
    size = data.chunkChars
    for start in range(0, len(data.text), size):
        await ctx.output(data.text[start : start + size])
        await asyncio.sleep(data.delayMs / 1000)  # also lets a delayed output write run
    return {"chars": len(data.text)}


#: the longest run: every chunk of the longest text, one character each, at the longest delay
_LONGEST_SECONDS = MAX_TEXT_CHARS * 1.0

TYPEWRITER = JobType(
    name="text.typewriter",
    description="Writes `text` out as streamed output, `chunkChars` at a time, `delayMs` apart.",
    input_model=TypewriterInput,
    handler=typewriter,
    timeout_seconds=_LONGEST_SECONDS + 60,
)

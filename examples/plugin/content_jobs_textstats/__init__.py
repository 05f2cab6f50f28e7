"""Text statistics for content-jobs: `text.stats` (async, with progress and retries) and
`text.wordfreq` (CPU-bound: it runs in content-jobs' worker processes)."""

from __future__ import annotations

import asyncio
import collections
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from service.sdk import JobContext, JobType, RetryPolicy, TransientError

WORD = re.compile(r"\w+")


class StatsInput(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    text: str = Field(max_length=200_000, description="The text to measure")
    chunks: int = Field(4, ge=1, le=100, description="Progress reports while counting")
    flakyAttempts: int = Field(  # noqa: N815
        0, ge=0, le=5, description="Fail this many first attempts (to see retries)"
    )


async def stats(ctx: JobContext[StatsInput]) -> dict[str, Any]:
    data = ctx.input
    if ctx.attempt <= data.flakyAttempts:
        # a dependency that is briefly away: retried with the type's backoff
        raise TransientError(f"dictionary service unavailable (attempt {ctx.attempt})")
    lines = data.text.splitlines()
    words = 0
    size = max(1, len(lines) // data.chunks)
    for start in range(0, len(lines) or 1, size):
        if ctx.cancelled:
            break
        words += sum(len(WORD.findall(line)) for line in lines[start : start + size])
        await ctx.progress(min(99, 100 * (start + size) // max(1, len(lines))), "counting")
        await asyncio.sleep(0)
    ctx.log.info("text_measured", words=words)
    return {"characters": len(data.text), "lines": len(lines), "words": words}


class FrequencyInput(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    text: str = Field(max_length=1_000_000)
    top: int = Field(10, ge=1, le=1000)


def word_frequencies(data: FrequencyInput) -> dict[str, Any]:
    """CPU-bound, so a plain function: content-jobs runs it in a worker process."""
    counts = collections.Counter(word.lower() for word in WORD.findall(data.text))
    return {"top": counts.most_common(data.top), "distinct": len(counts)}


JOB_TYPES = [
    JobType(
        name="text.stats",
        description="Counts the characters, lines and words of a text.",
        input_model=StatsInput,
        handler=stats,
        timeout_seconds=60,
        max_attempts=4,
        retry=RetryPolicy(base_seconds=0.5, max_seconds=5),
    ),
    JobType(
        name="text.wordfreq",
        description="The most frequent words of a text.",
        input_model=FrequencyInput,
        handler=word_frequencies,
        timeout_seconds=120,
        cpu_bound=True,
    ),
]

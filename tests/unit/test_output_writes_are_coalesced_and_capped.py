"""`ctx.output()`: a handler may call it in a tight loop, yet its job gets at most one write
per 50 ms (about 20 a second), every chunk in order and none twice; output past the job's
byte cap is dropped (cut between whole characters) and the job marked truncated, once.
Against the in-memory store (tests/unit/fake_leases.py); the SQL is tested in
tests/integration/test_streamed_output.py."""

from __future__ import annotations

import asyncio
import time

from service.domain.jobs import Job
from service.worker.context import (
    OUTPUT_BACKLOG_CHARS,
    OUTPUT_EVENT_MAX_CHARS,
    OUTPUT_INTERVAL,
    RunContext,
)
from tests.unit.fake_leases import FakeLeases


async def _claimed(leases: FakeLeases) -> Job:
    leases.add()
    [job] = await leases.claim("w", 30.0, 1)
    return job


async def test_a_tight_loop_of_output_is_at_most_one_write_per_50_ms() -> None:
    leases = FakeLeases()
    job = await _claimed(leases)
    context = RunContext(job, None, "w", leases, None, output_max_bytes=10**6)
    sent: list[str] = []
    started = time.monotonic()
    while time.monotonic() - started < 0.5:
        chunk = f"{len(sent)},"
        sent.append(chunk)
        await context.output(chunk)
        await asyncio.sleep(0)
    elapsed = time.monotonic() - started
    written_meanwhile = len(leases.outputs)
    await context.flush()  # the end: what is pending goes now
    writes = [chunk for _, chunk, _ in leases.outputs]
    assert len(sent) > 100  # the loop did call it often
    assert written_meanwhile <= elapsed / OUTPUT_INTERVAL + 2
    assert "".join(writes) == "".join(sent)  # every chunk, in order, once
    assert not any(truncated for _, _, truncated in leases.outputs)


async def test_output_past_the_cap_is_cut_between_characters_and_marks_the_job() -> None:
    leases = FakeLeases()
    job = await _claimed(leases)
    context = RunContext(job, None, "w", leases, None, output_max_bytes=7)
    await context.output("héllo")  # 6 bytes
    await context.flush()
    await context.output("wörld")  # room for 1 byte: "w", not half of "ö"
    await context.flush()
    await context.output("more")  # dropped: no write at all
    await context.flush()
    assert leases.outputs == [(job.id, "héllo", False), (job.id, "w", True)]
    assert leases.jobs[job.id].output_truncated


async def test_a_run_that_lost_its_job_writes_no_output() -> None:
    leases = FakeLeases()
    job = await _claimed(leases)
    context = RunContext(job, None, "w", leases, None, output_max_bytes=100)
    leases.cancel(job.id)
    await context.output("late")
    await context.flush()
    assert leases.outputs == []


async def test_a_long_output_is_written_in_events_of_bounded_size_in_order() -> None:
    """One event never carries more than OUTPUT_EVENT_MAX_CHARS (a stream's slow-client
    limit must let any one event through); the rest follows in the next writes."""
    leases = FakeLeases()
    job = await _claimed(leases)
    context = RunContext(job, None, "w", leases, None, output_max_bytes=10**7)
    text = "".join(f"{n:07d}," for n in range(OUTPUT_EVENT_MAX_CHARS // 2))  # 4 events' worth
    await context.output(text)
    while not leases.outputs or sum(len(c) for _, c, _ in leases.outputs) < len(text) // 2:
        await asyncio.sleep(OUTPUT_INTERVAL / 2)  # the delayed writes carry on by themselves
    await context.flush()
    chunks = [chunk for _, chunk, _ in leases.outputs]
    assert "".join(chunks) == text
    assert max(len(chunk) for chunk in chunks) == OUTPUT_EVENT_MAX_CHARS
    assert len(chunks) == 4


class SlowLeases(FakeLeases):
    """Output writes that wait at a gate: the database is slow until the test opens it."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.started = 0

    async def append_output(self, job: Job, chunk: str, truncated: bool) -> int | None:
        self.started += 1
        await self.gate.wait()
        return await super().append_output(job, chunk, truncated)


async def test_a_slow_database_makes_output_events_bigger_not_the_handler_slower() -> None:
    leases = SlowLeases()
    job = await _claimed(leases)
    context = RunContext(job, None, "w", leases, None, output_max_bytes=10**6)
    for n in range(100):
        await context.output(f"{n},")  # returns at once although no write can finish
        await asyncio.sleep(0)
    assert leases.started == 1  # the first write waits at the gate; the rest is pending
    leases.gate.set()
    await context.flush()
    chunks = [chunk for _, chunk, _ in leases.outputs]
    assert "".join(chunks) == "".join(f"{n}," for n in range(100))
    assert len(chunks) <= 3


async def test_past_the_backlog_output_waits_for_the_database() -> None:
    leases = SlowLeases()
    job = await _claimed(leases)
    context = RunContext(job, None, "w", leases, None, output_max_bytes=10**7)
    await context.output("first")
    big = asyncio.create_task(context.output("x" * (OUTPUT_BACKLOG_CHARS + 1)))
    for _ in range(10):
        await asyncio.sleep(0)
    assert not big.done()  # held: too much output waits unwritten
    leases.gate.set()
    await asyncio.wait_for(big, 5)
    await context.flush()
    assert "".join(chunk for _, chunk, _ in leases.outputs) == "first" + "x" * (
        OUTPUT_BACKLOG_CHARS + 1
    )

"""CPU-bound runs: a crashed worker process fails its run and is replaced (no slot leaks), a
job's timeout counts its handler's time and not the wait for a process, and a worker claims
no more CPU-bound jobs than it has processes free."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic import BaseModel

from service.db.store import Store, Submitted
from service.domain.jobs import Job, NewJob, Status
from service.jobtypes import JobTypes
from service.sdk import JobType, PermanentError
from service.settings import Settings
from service.worker.runner import Runner


class Work(BaseModel):
    seconds: float = 0.0
    crash: bool = False


def cpu_work(work: Work) -> dict[str, Any]:
    """Runs in a worker process: dies abruptly when asked to, else sleeps (a stand-in for
    CPU work: it holds the process for as long)."""
    if work.crash:
        os._exit(1)
    time.sleep(work.seconds)
    return {"pid": os.getpid()}


CPU_TYPE = JobType(
    "cpu-test", "", Work, cpu_work, cpu_bound=True, max_attempts=1, timeout_seconds=1.5
)


@pytest.fixture
def cpu_type() -> str:
    return CPU_TYPE.name


async def _submit(store: Store, **work: Any) -> Submitted:
    return await store.submit(NewJob("acme", "cpu-test", work, None, max_attempts=1))


async def _ended(store: Store, job_id: uuid.UUID, timeout: float = 20) -> Job:
    async with asyncio.timeout(timeout):
        while True:
            job = await store.get("acme", job_id)
            assert job is not None
            if job.status.terminal:
                return job
            await asyncio.sleep(0.02)


@pytest.fixture
async def one_process_runner(
    settings: Settings, store: Store, job_types: JobTypes
) -> AsyncIterator[Runner]:
    runner = Runner(
        store,
        dataclasses.replace(settings, cpu_workers=1, runner_concurrency=4, job_lease_seconds=3.0),
        job_types.plus(CPU_TYPE),
    )
    runner.start()
    yield runner
    await runner.stop()


async def test_a_crashed_process_fails_its_job_and_the_next_one_runs(
    cpu_type: str, one_process_runner: Runner, store: Store
) -> None:
    crashed = await _submit(store, crash=True)
    failed = await _ended(store, crashed.id)
    assert failed.status is Status.FAILED
    assert failed.error_message is not None and "worker process" in failed.error_message
    assert "died" in failed.error_message
    # the only slot got a fresh process: the next CPU-bound job runs (it stalled forever)
    after = await _submit(store, seconds=0.0)
    assert (await _ended(store, after.id, timeout=15)).status is Status.DONE
    assert one_process_runner.cpu.crashed == 1


async def test_a_process_that_died_while_idle_is_replaced(
    cpu_type: str, one_process_runner: Runner, store: Store
) -> None:
    first = await _submit(store, seconds=0.0)
    assert (await _ended(store, first.id)).status is Status.DONE
    pid = (await store.get("acme", first.id)).result["pid"]  # type: ignore[union-attr]
    os.kill(pid, 9)  # the idle process is killed (an OOM killer's choice)
    await asyncio.sleep(0.2)
    second = await _submit(store, seconds=0.0)
    done = await _ended(store, second.id, timeout=15)
    assert done.status is Status.DONE, done.error_message
    assert done.result["pid"] != pid


async def test_the_timeout_does_not_count_the_wait_for_a_process(
    cpu_type: str, one_process_runner: Runner, store: Store
) -> None:
    """Three jobs of 0.6 s on one process with a 1.5 s timeout: each would time out if the
    wait for the process counted (the third starts 1.2 s after it is claimed)."""
    jobs = [await _submit(store, seconds=0.6) for _ in range(3)]
    ended = [await _ended(store, job.id) for job in jobs]
    assert [(job.status, job.error_message) for job in ended] == [(Status.DONE, None)] * 3


async def test_a_worker_claims_no_more_cpu_bound_jobs_than_it_has_processes(
    cpu_type: str, one_process_runner: Runner, store: Store
) -> None:
    jobs = [await _submit(store, seconds=0.3) for _ in range(3)]
    echo = await store.submit(NewJob("acme", "echo", {}, None, max_attempts=1))
    most_running = 0
    async with asyncio.timeout(20):
        while True:
            current = [await store.get("acme", job.id) for job in jobs]
            statuses = [job.status for job in current if job is not None]
            most_running = max(most_running, statuses.count(Status.RUNNING))
            if all(status.terminal for status in statuses):
                break
            await asyncio.sleep(0.01)
    assert most_running == 1
    # other types are claimed meanwhile: the echo job did not wait for the CPU-bound ones
    finished = await store.get("acme", echo.id)
    assert finished is not None and finished.status is Status.DONE
    assert finished.finished_at is not None and current[-1] is not None
    assert current[-1].finished_at is not None
    assert finished.finished_at < current[-1].finished_at


class Anything(BaseModel):
    pass


async def _returns_nul(ctx: Any) -> dict[str, str]:
    return {"text": "a\x00b"}


async def _raises_nul(ctx: Any) -> None:
    raise PermanentError("bad\x00input")


@pytest.mark.parametrize(
    ("handler", "expected"),
    [
        (_returns_nul, "result holds a NUL character"),
        (_raises_nul, "bad\ufffdinput"),
    ],
)
async def test_a_nul_in_a_result_or_error_fails_the_job_at_once_naming_it(
    settings: Settings, store: Store, job_types: JobTypes, handler: Any, expected: str
) -> None:
    """JSON allows `\\u0000`, Postgres refuses it: the job fails at once with the cause (it
    retried its final write for 60 s, then the reaper reran it and it ended "worker lost")."""
    nul_test = JobType("nul-test", "", Anything, handler, max_attempts=3)
    runner = Runner(store, settings, job_types.plus(nul_test))
    runner.start()
    try:
        job = await store.submit(NewJob("acme", "nul-test", {}, None, max_attempts=3))
        started = time.monotonic()
        failed = await _ended(store, job.id, timeout=10)
    finally:
        await runner.stop()
    assert failed.status is Status.FAILED and failed.attempts == 1
    assert failed.error_message is not None and expected in failed.error_message
    assert time.monotonic() - started < 5

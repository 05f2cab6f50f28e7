"""The runner's lifecycle against an in-memory store (tests/unit/fake_leases.py): a run whose
lease is lost or whose job is cancelled is stopped, shutdown requeues what its grace did not
finish, a final write is retried and then given up, a write the database refuses fails the
job, and the runner keeps to its slots (handlers, runs waiting for their last write, CPU
processes). Milliseconds each, no Postgres; the SQL behind them (fair share, fencing,
reaping) is tested against Postgres in tests/integration."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import pytest
from pydantic import BaseModel

from service.domain.jobs import Job, Status
from service.jobtypes import JobTypes, load
from service.sdk import JobContext, JobType
from service.settings import Settings
from service.worker.runner import Runner
from tests.unit.fake_leases import FakeLeases

INSTALLED = load()
#: the runner's watch loop, sped up: cancellations are checked this often
CHECK_INTERVAL = 0.02


class Anything(BaseModel):
    pass


def settings(**overrides: Any) -> Settings:
    """A worker's settings; its database is never contacted (the store is the fake)."""
    values: dict[str, Any] = {
        "job_lease_seconds": 0.3,
        "shutdown_grace_seconds": 5.0,
        "poll_interval_seconds": 0.05,  # the fake wakes no idle runner: it polls
    }
    values.update(overrides)
    return Settings.from_env(
        {"DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none", "AUTH_JWT_SECRET": "x" * 32},
        role="worker",
        **values,
    )


def types(*handlers: tuple[str, Callable[..., Any]], cpu_bound: bool = False) -> JobTypes:
    return INSTALLED.plus(
        *(JobType(name, "", Anything, handler, cpu_bound=cpu_bound) for name, handler in handlers)
    )


@pytest.fixture(autouse=True)
def quick_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("service.worker.runner.CANCEL_CHECK_INTERVAL", CHECK_INTERVAL)


@pytest.fixture
def leases() -> FakeLeases:
    return FakeLeases()


@contextlib.asynccontextmanager
async def running(
    leases: FakeLeases, job_types: JobTypes = INSTALLED, **overrides: Any
) -> AsyncIterator[Runner]:
    runner = Runner(leases, settings(**overrides), job_types)
    runner.start()
    try:
        yield runner
    finally:
        if runner._tasks and not runner._stopping:
            await runner.stop()


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait for `condition` (checked every loop turn or so), at most `timeout` seconds."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.001)


class Blocked:
    """A handler that waits until released or stopped; it remembers how it ended."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.started = 0
        self.running = 0
        self.most_at_once = 0
        self.ended: list[str] = []

    async def __call__(self, ctx: JobContext[Anything]) -> dict[str, str]:
        self.started += 1
        self.running += 1
        self.most_at_once = max(self.most_at_once, self.running)
        try:
            await self.release.wait()
            return {"ok": "yes"}
        finally:
            self.running -= 1
            self.ended.append("stopped" if ctx.cancelled else "returned")


async def test_a_run_that_cannot_renew_its_lease_is_stopped_after_the_lease(
    leases: FakeLeases, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past its lease without a renewal another worker may have the job: the handler stops."""
    handler = Blocked()

    async def unreachable(*args: Any, **kwargs: Any) -> Any:
        raise OSError("network partition")

    for watch in ("renew_leases", "still_running", "reap_expired_leases"):
        monkeypatch.setattr(leases, watch, unreachable)
    job = leases.add("blocked")
    async with running(leases, types(("blocked", handler))) as runner:
        await until(lambda: handler.started == 1)
        started = time.monotonic()
        await until(lambda: not runner.runs)
        stopped_after = time.monotonic() - started
    assert handler.ended == ["stopped"]
    assert runner.finished == {"lease_lost": 1}
    assert 0.25 <= stopped_after < 3.0  # the lease was 0.3 s
    assert leases.status(job) is Status.RUNNING  # the run wrote nothing: the reaper's job


async def test_cancel_stops_the_handler_within_the_check_interval(leases: FakeLeases) -> None:
    handler = Blocked()
    job = leases.add("blocked")
    async with running(leases, types(("blocked", handler))) as runner:
        await until(lambda: handler.started == 1)
        leases.cancel(job.id)
        started = time.monotonic()
        await until(lambda: handler.ended != [])
        stopped_after = time.monotonic() - started
        await until(lambda: not runner.runs)
    assert handler.ended == ["stopped"]
    assert stopped_after < CHECK_INTERVAL + 0.5  # one check, plus a loaded machine's slack
    assert runner.finished == {"cancelled": 1}
    assert leases.status(job) is Status.CANCELLED


async def test_shutdown_lets_runs_finish_within_the_grace_then_requeues_the_rest(
    leases: FakeLeases,
) -> None:
    long, short = Blocked(), Blocked()
    long_job, short_job = leases.add("long"), leases.add("short")
    job_types = types(("long", long), ("short", short))
    async with running(leases, job_types, shutdown_grace_seconds=1.0) as runner:
        await until(lambda: long.started == 1 and short.started == 1)
        asyncio.get_running_loop().call_later(0.05, short.release.set)
        started = time.monotonic()
        await runner.stop()
        stopped_after = time.monotonic() - started
    assert leases.status(short_job) is Status.DONE
    requeued = leases.jobs[long_job.id]
    assert requeued.status is Status.QUEUED and requeued.attempts == 1  # not counted
    assert long.ended == ["stopped"]
    assert 1.0 <= stopped_after < 4.0  # the whole grace for the long run, and no more
    assert not runner.runs
    assert runner.finished == {"done": 1, "shutdown": 1}


async def test_a_final_write_that_keeps_failing_forgets_the_run_after_the_retry_window(
    leases: FakeLeases, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run is forgotten, its lease no longer renewed, and the reaper takes the job: it
    is never left `running` for good."""
    monkeypatch.setattr("service.worker.runner.FINAL_WRITE_RETRY_SECONDS", 0.5)
    writes = 0

    async def away(*args: Any, **kwargs: Any) -> bool:
        nonlocal writes
        writes += 1
        raise OSError("database away")

    monkeypatch.setattr(leases, "finish", away)
    job = leases.add("echo", max_attempts=1)
    async with running(leases) as runner:
        await until(lambda: writes > 0)
        started = time.monotonic()
        await until(lambda: not runner.runs)
        forgotten_after = time.monotonic() - started
        await until(lambda: leases.status(job) is Status.FAILED)  # reaped after its lease
    assert 0.4 <= forgotten_after < 3.0
    assert writes >= 2  # retried meanwhile
    assert leases.jobs[job.id].error_message == "worker lost"


async def test_a_write_the_database_refuses_fails_the_job_naming_why(
    leases: FakeLeases, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not retried for a minute (the database is there, it refuses the value): the job
    fails at once, its error saying so."""
    finish = leases.finish
    refused: list[Status] = []

    async def refusing(job: Job, status: Any, **kwargs: Any) -> bool:
        if status is Status.DONE:
            refused.append(status)
            raise asyncpg.exceptions.UntranslatableCharacterError("unsupported Unicode escape")
        return await finish(job, status, **kwargs)

    monkeypatch.setattr(leases, "finish", refusing)
    job = leases.add("echo")
    async with running(leases) as runner:
        await until(lambda: leases.status(job) is Status.FAILED)
    assert refused == [Status.DONE]
    message = leases.jobs[job.id].error_message
    assert message == "the result could not be stored: unsupported Unicode escape"
    assert runner.finished == {"failed": 1}


async def test_no_more_handlers_run_than_the_concurrency(leases: FakeLeases) -> None:
    handler = Blocked()
    jobs = [leases.add("blocked") for _ in range(5)]
    async with running(leases, types(("blocked", handler)), runner_concurrency=2):
        await until(lambda: handler.started == 2)
        for _ in range(20):  # the claim loop has had its turns: it waits for a free slot
            await asyncio.sleep(0)
        assert len(leases.claims) == 1
        assert [leases.status(job) for job in jobs].count(Status.QUEUED) == 3
        handler.release.set()
        await until(lambda: all(leases.status(job) is Status.DONE for job in jobs))
    assert handler.most_at_once == 2
    assert all(claim.limit <= 2 for claim in leases.claims)


async def test_runs_waiting_for_their_last_write_are_at_most_twice_the_concurrency(
    leases: FakeLeases, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run whose handler returned frees its slot while its write commits, so the next
    claim overlaps it; but a database that takes claims and stalls finishes must not pile
    runs up."""
    gate = asyncio.Event()
    finish = leases.finish

    async def stalled(job: Job, status: Any, **kwargs: Any) -> bool:
        await gate.wait()
        return await finish(job, status, **kwargs)

    monkeypatch.setattr(leases, "finish", stalled)
    first, second, third = [leases.add("echo") for _ in range(3)]
    async with running(leases, runner_concurrency=1) as runner:
        await until(lambda: len(runner.runs) == 2)
        await until(lambda: all(run.handler_done for run in runner.runs.values()))
        claims = len(leases.claims)
        for _ in range(20):  # the claim loop has had its turns: it waits for a free slot
            await asyncio.sleep(0)
        assert len(leases.claims) == claims
        assert {run.job.id for run in runner.runs.values()} == {first.id, second.id}
        assert leases.status(third) is Status.QUEUED
        gate.set()
        await until(lambda: all(leases.status(j) is Status.DONE for j in (first, second, third)))


class HeldCpu:
    """Stands in for the CPU pool: one process, held by its run until released."""

    size = 1

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.runs = 0

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[HeldCpu]:
        yield self

    async def start(self, function: Callable[[Any], Any]) -> None:
        pass

    async def run(self, function: Callable[[Any], Any], argument: Any) -> Any:
        self.runs += 1
        await self.release.wait()
        return function(argument)

    async def close(self) -> None:
        pass


def cpu_work(argument: Any) -> dict[str, Any]:
    return {}


async def test_no_more_cpu_bound_jobs_are_claimed_than_free_processes(
    leases: FakeLeases,
) -> None:
    """A CPU-bound job the worker cannot start at once would wait holding its lease while
    another worker could run it: the claim takes at most the free processes' worth."""
    cpu_jobs = [leases.add("cpu-test") for _ in range(3)]
    cpu = HeldCpu()
    job_types = types(("cpu-test", cpu_work), cpu_bound=True)
    runner = Runner(leases, settings(runner_concurrency=4), job_types)
    runner.cpu = cpu  # type: ignore[assignment]
    runner.start()
    try:
        await until(lambda: cpu.runs == 1)
        echo = leases.add("echo")  # an I/O job still has a slot
        runner.wake()
        await until(lambda: leases.status(echo) is Status.DONE)
        assert [leases.status(job) for job in cpu_jobs].count(Status.RUNNING) == 1
        assert "cpu-test" in leases.claims[0].cpu_types and leases.claims[0].cpu_free == 1
        assert all(claim.cpu_free == 0 for claim in leases.claims[1:])
        cpu.release.set()
        await until(lambda: all(leases.status(job) is Status.DONE for job in cpu_jobs))
    finally:
        cpu.release.set()
        await runner.stop()

"""Worker processes for CPU-bound handlers: the event loop never runs their work.

Each slot is a one-process executor, so a run that times out or is cancelled
can be stopped the only way CPU work can be stopped — by killing its process —
without touching the other slots; the slot then gets a fresh process. Processes
come from a `forkserver` (a small clean parent), not from forking the replica
with its sockets and event loop.

A process that dies on its own (killed by the OOM killer, a segfault, `os._exit`)
breaks its executor: the run it was doing fails with `WorkerCrashed` (a failed
attempt, retried by the job's policy), and the slot gets a fresh process. Whatever
happens, a slot taken is given back (`slot()` is a context manager), so one crash
can never leave later CPU-bound runs waiting for a slot that no longer exists.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import multiprocessing
from collections.abc import AsyncIterator, Callable
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import structlog

log = structlog.get_logger(__name__)


def _ready(function: Callable[[Any], Any]) -> None:
    """Runs in the worker process: by now it has started and imported `function`'s module."""


class WorkerCrashed(Exception):
    """The process running a CPU-bound handler died before it returned."""


class CpuSlot:
    """One slot of the pool, held by one run: `run()` calls into its process."""

    def __init__(self, pool: CpuPool, executor: concurrent.futures.ProcessPoolExecutor | None):
        self._pool = pool
        self.executor = executor

    async def start(self, function: Callable[[Any], Any]) -> None:
        """Have a process that has `function` loaded: starting a Python process and importing
        the handler's module (which unpickling `function` does) are not a job's time."""
        loop = asyncio.get_running_loop()
        if self.executor is not None:
            try:  # one round trip: its process is alive and has `function` loaded
                await loop.run_in_executor(self.executor, _ready, function)
                return
            except BrokenProcessPool:  # its process died while the slot was idle
                self._pool.discard(self.executor)
        self.executor = self._pool.new_executor()
        await loop.run_in_executor(self.executor, _ready, function)

    async def run(self, function: Callable[[Any], Any], argument: Any) -> Any:
        """`function(argument)` in this slot's process; cancelling this kills that process."""
        if self.executor is None:
            self.executor = self._pool.new_executor()
        try:
            future = asyncio.get_running_loop().run_in_executor(self.executor, function, argument)
        except BrokenProcessPool:  # its process died while the slot was idle: start afresh
            self._pool.discard(self.executor)
            self.executor = self._pool.new_executor()
            future = asyncio.get_running_loop().run_in_executor(self.executor, function, argument)
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            future.cancel()
            self._pool.kill(self.executor)
            self.executor = None
            raise
        except BrokenProcessPool:
            self._pool.discard(self.executor)
            self.executor = None
            self._pool.crashed += 1
            log.warning("cpu_worker_crashed")
            raise WorkerCrashed(
                "the worker process running this job died (killed, out of memory or crashed)"
            ) from None


class CpuPool:
    def __init__(self, size: int) -> None:
        self.size = size
        self._context = multiprocessing.get_context("forkserver")
        self._free: asyncio.Queue[concurrent.futures.ProcessPoolExecutor | None] = asyncio.Queue()
        for _ in range(size):
            self._free.put_nowait(None)  # a process is started on first use
        self._started: set[concurrent.futures.ProcessPoolExecutor] = set()
        #: processes killed because their run was stopped (metrics, tests)
        self.killed = 0
        #: processes that died on their own while running a job
        self.crashed = 0

    def new_executor(self) -> concurrent.futures.ProcessPoolExecutor:
        executor = concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=self._context)
        self._started.add(executor)
        return executor

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[CpuSlot]:
        """Wait for a free slot and hold it; it is given back however the run ends."""
        slot = CpuSlot(self, await self._free.get())
        try:
            yield slot
        finally:
            self._free.put_nowait(slot.executor)

    def discard(self, executor: concurrent.futures.ProcessPoolExecutor) -> None:
        executor.shutdown(wait=False, cancel_futures=True)
        self._started.discard(executor)

    def kill(self, executor: concurrent.futures.ProcessPoolExecutor) -> None:
        # ProcessPoolExecutor has no public way to stop a running call: kill its process
        for process in list(getattr(executor, "_processes", {}).values()):
            with contextlib.suppress(Exception):
                process.kill()
        self.discard(executor)
        self.killed += 1
        log.info("cpu_worker_killed")

    async def close(self) -> None:
        """Stop the worker processes (in a thread: joining them blocks)."""
        for executor in list(self._started):
            await asyncio.to_thread(executor.shutdown, wait=True, cancel_futures=True)
        self._started.clear()

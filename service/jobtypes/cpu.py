"""Worker processes for CPU-bound handlers: the event loop never runs their work.

Each slot is a one-process executor, so a run that times out or is cancelled
can be stopped the only way CPU work can be stopped — by killing its process —
without touching the other slots; the slot then gets a fresh process. Processes
come from a `forkserver` (a small clean parent), not from forking the replica
with its sockets and event loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import multiprocessing
from collections.abc import Callable
from typing import Any

import structlog

log = structlog.get_logger(__name__)


class CpuPool:
    def __init__(self, size: int) -> None:
        self._context = multiprocessing.get_context("forkserver")
        self._free: asyncio.Queue[concurrent.futures.ProcessPoolExecutor | None] = asyncio.Queue()
        for _ in range(size):
            self._free.put_nowait(None)  # a process is started on first use
        self._started: set[concurrent.futures.ProcessPoolExecutor] = set()
        #: processes killed because their run was stopped (metrics, tests)
        self.killed = 0

    def _executor(self) -> concurrent.futures.ProcessPoolExecutor:
        executor = concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=self._context)
        self._started.add(executor)
        return executor

    async def run(self, function: Callable[[Any], Any], argument: Any) -> Any:
        """`function(argument)` in a worker process; cancelling this kills that process."""
        executor = await self._free.get() or self._executor()
        future = asyncio.get_running_loop().run_in_executor(executor, function, argument)
        try:
            result = await asyncio.shield(future)
        except asyncio.CancelledError:
            future.cancel()
            self._kill(executor)
            executor = self._executor()
            raise
        finally:
            self._free.put_nowait(executor)
        return result

    def _kill(self, executor: concurrent.futures.ProcessPoolExecutor) -> None:
        # ProcessPoolExecutor has no public way to stop a running call: kill its process
        for process in list(getattr(executor, "_processes", {}).values()):
            with contextlib.suppress(Exception):
                process.kill()
        executor.shutdown(wait=False, cancel_futures=True)
        self._started.discard(executor)
        self.killed += 1
        log.info("cpu_worker_killed")

    async def close(self) -> None:
        """Stop the worker processes (in a thread: joining them blocks)."""
        for executor in list(self._started):
            await asyncio.to_thread(executor.shutdown, wait=True, cancel_futures=True)
        self._started.clear()

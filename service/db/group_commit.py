"""Group commit: operations that arrive while one statement is in flight go together.

One statement (one round trip, one durable commit) carries every item waiting when it
starts, so under load many callers share a commit; a lone caller goes at once, with no
timer. If a batch fails, its items are run one by one, so a failure is only ever the
failing item's (a database that is away fails each of them, and each caller retries).

Submissions and the runner's terminal writes (both in `service/db/store.py`) use it: both
are one commit per job otherwise, and a commit is what a job costs Postgres.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class GroupCommit(Generic[T, R]):
    def __init__(
        self, run_many: Callable[[list[T]], Awaitable[list[R]]], name: str, max_batch: int = 256
    ) -> None:
        """`run_many(items)` runs one statement for all of them; its results are in order."""
        self._run_many = run_many
        self._name = name
        self._max_batch = max_batch
        self._waiting: list[tuple[T, asyncio.Future[R]]] = []
        self._drainer: asyncio.Task[None] | None = None

    async def run(self, item: T) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        if self._drainer is None:
            self._drainer = asyncio.create_task(self._drain(), name=self._name)
        return await future

    async def _drain(self) -> None:
        try:
            while self._waiting:
                batch = self._waiting[: self._max_batch]
                del self._waiting[: self._max_batch]
                results: list[R | BaseException]
                try:
                    results = [*await self._run_many([item for item, _ in batch])]
                except Exception as exc:
                    if len(batch) == 1:
                        _settle(batch[0][1], exc)
                        continue
                    results = await self._one_by_one(batch)
                for (_, future), result in zip(batch, results, strict=True):
                    _settle(future, result)
        finally:
            self._drainer = None

    async def _one_by_one(
        self, batch: list[tuple[T, asyncio.Future[R]]]
    ) -> list[R | BaseException]:
        results: list[R | BaseException] = []
        for item, _ in batch:
            try:
                results += await self._run_many([item])
            except Exception as exc:
                results.append(exc)
        return results


def _settle(future: asyncio.Future[Any], outcome: Any) -> None:
    """Hand an item's result (or its error) to its caller, unless that caller was cancelled."""
    if future.done():
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)

"""Group commit: items that arrive while a statement is in flight share the next one; a
failing batch is retried item by item so that only the failing item fails."""

from __future__ import annotations

import asyncio

import pytest

from service.db.group_commit import GroupCommit


async def test_items_arriving_together_share_one_call() -> None:
    calls: list[list[int]] = []

    async def double(items: list[int]) -> list[int]:
        calls.append(items)
        await asyncio.sleep(0.01)
        return [item * 2 for item in items]

    group: GroupCommit[int, int] = GroupCommit(double, "test")
    results = await asyncio.gather(*(group.run(i) for i in range(10)))
    assert results == [i * 2 for i in range(10)]
    assert sum(len(c) for c in calls) == 10 and len(calls) <= 2


async def test_a_failing_item_fails_alone() -> None:
    async def picky(items: list[int]) -> list[int]:
        await asyncio.sleep(0)
        if 3 in items:
            raise ValueError("three")
        return items

    group: GroupCommit[int, int] = GroupCommit(picky, "test")
    outcomes = await asyncio.gather(*(group.run(i) for i in range(6)), return_exceptions=True)
    assert [o if not isinstance(o, Exception) else "error" for o in outcomes] == [
        0, 1, 2, "error", 4, 5,
    ]  # fmt: skip


async def test_a_cancelled_caller_does_not_disturb_the_others() -> None:
    async def slow(items: list[int]) -> list[int]:
        await asyncio.sleep(0.05)
        return items

    group: GroupCommit[int, int] = GroupCommit(slow, "test")
    first = asyncio.create_task(group.run(1))
    second = asyncio.create_task(group.run(2))
    await asyncio.sleep(0.01)
    second.cancel()
    assert await first == 1
    with pytest.raises(asyncio.CancelledError):
        await second

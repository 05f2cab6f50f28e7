"""`Overviews`: a company's counts are read once per second per replica, however many callers
ask at once; a failed read is not kept; a caller that goes away cancels no one's read."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from service.db.overview import Overview, Overviews

AT = datetime(2026, 1, 1, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Reads:
    """A read function that counts its calls and finishes when `release` is set."""

    def __init__(self) -> None:
        self.calls = 0
        self.release = asyncio.Event()
        self.fail: Exception | None = None

    async def __call__(self) -> Overview:
        self.calls += 1
        await self.release.wait()
        if self.fail is not None:
            raise self.fail
        return Overview({"echo": {"done": self.calls}}, AT)


async def test_callers_at_once_share_one_read() -> None:
    overviews, reads = Overviews(clock=Clock()), Reads()
    callers = [asyncio.create_task(overviews.get("acme", reads)) for _ in range(50)]
    await asyncio.sleep(0)
    reads.release.set()
    answers = await asyncio.gather(*callers)
    assert reads.calls == 1
    assert {answer.submitted for answer in answers} == {1}


async def test_an_answer_is_kept_for_the_ttl_per_company() -> None:
    clock, reads = Clock(), Reads()
    reads.release.set()
    overviews = Overviews(ttl=1.0, clock=clock)
    assert (await overviews.get("acme", reads)).finished == 1
    clock.now += 0.9
    assert (await overviews.get("acme", reads)).finished == 1
    assert reads.calls == 1
    assert (await overviews.get("globex", reads)).finished == 2  # another company: its own
    clock.now += 0.1
    assert (await overviews.get("acme", reads)).finished == 3
    assert reads.calls == 3


async def test_a_failed_read_reaches_every_caller_and_is_not_kept() -> None:
    overviews, reads = Overviews(clock=Clock()), Reads()
    reads.fail = ConnectionError("database away")
    callers = [asyncio.create_task(overviews.get("acme", reads)) for _ in range(3)]
    await asyncio.sleep(0)
    reads.release.set()
    results = await asyncio.gather(*callers, return_exceptions=True)
    assert all(isinstance(result, ConnectionError) for result in results)
    reads.fail = None
    assert (await overviews.get("acme", reads)).submitted == 2
    assert reads.calls == 2


async def test_a_caller_that_goes_away_cancels_no_one_elses_read() -> None:
    overviews, reads = Overviews(clock=Clock()), Reads()
    leaving = asyncio.create_task(overviews.get("acme", reads))
    staying = asyncio.create_task(overviews.get("acme", reads))
    await asyncio.sleep(0)
    leaving.cancel()
    await asyncio.sleep(0)
    reads.release.set()
    assert (await staying).submitted == 1
    with pytest.raises(asyncio.CancelledError):
        await leaving
    assert reads.calls == 1


def test_the_counts_add_up_by_status() -> None:
    overview = Overview({"echo": {"queued": 2, "done": 1}, "sleep": {"failed": 4}}, AT)
    assert overview.by_status == {"queued": 2, "running": 0, "done": 1, "failed": 4, "cancelled": 0}
    assert (overview.submitted, overview.finished) == (7, 5)

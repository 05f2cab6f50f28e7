"""The queue quota (`service/domain/quota.py`): one count per company in flight, only the
first submit waits for one, the others are admitted against the last figure plus their own
additions, and the interval between counts grows with what a count costs."""

from __future__ import annotations

import asyncio

import pytest

from service.domain import quota
from service.domain.errors import OverQuota
from service.domain.quota import QueueQuota


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeCounts:
    """A store whose count takes `seconds` of the fake clock and waits for `release` when
    it is held: it records how many counts ran, and how many at once."""

    def __init__(self, clock: Clock, queued: int = 0, seconds: float = 0.002) -> None:
        self.clock = clock
        self.queued = queued
        self.seconds = seconds
        self.calls = 0
        self.in_flight = 0
        self.most_at_once = 0
        self.release = asyncio.Event()
        self.release.set()
        self.fail: Exception | None = None

    async def queued_count(self, company_id: str, up_to: int) -> int:
        self.calls += 1
        self.in_flight += 1
        self.most_at_once = max(self.most_at_once, self.in_flight)
        try:
            await asyncio.sleep(0)
            await self.release.wait()
            self.clock.now += self.seconds
            if self.fail is not None:
                raise self.fail
            return min(self.queued, up_to)
        finally:
            self.in_flight -= 1


async def settle() -> None:
    """Let tasks started by the quota run to their end (the fake count does no I/O)."""
    for _ in range(10):
        await asyncio.sleep(0)


async def test_concurrent_first_submits_share_one_count() -> None:
    clock = Clock()
    counts = FakeCounts(clock, queued=10)
    counts.release.clear()
    q = QueueQuota(counts, limit=100, clock=clock)
    waiting = [asyncio.create_task(q.admit("acme")) for _ in range(50)]
    await settle()
    assert not any(task.done() for task in waiting)  # they wait: there is no figure yet
    counts.release.set()
    await asyncio.gather(*waiting)
    assert (counts.calls, counts.most_at_once) == (1, 1)
    # 10 counted + 50 admitted: 40 more fit, the 41st does not
    await asyncio.gather(*(q.admit("acme") for _ in range(40)))
    with pytest.raises(OverQuota):
        await q.admit("acme")
    assert counts.calls == 1


async def test_after_the_first_count_no_submit_waits_and_one_count_runs() -> None:
    clock = Clock()
    counts = FakeCounts(clock, queued=500)
    q = QueueQuota(counts, limit=10_000, clock=clock)
    await q.admit("acme")
    counts.release.clear()  # every count from now on hangs until released
    clock.now += 5  # stale
    for _ in range(300):  # each returns at once: none awaits the count
        await asyncio.wait_for(q.admit("acme"), timeout=1)
        await asyncio.sleep(0)  # the count in flight gets the loop between submits
    assert (counts.calls, counts.in_flight, counts.most_at_once) == (2, 1, 1)
    counts.queued = 2_000  # what the count will see (its snapshot has none of the 300)
    counts.release.set()
    await settle()
    # the new figure is the count plus the 300 admitted while it ran: 7,700 more fit
    for _ in range(7_700):
        await q.admit("acme")
    with pytest.raises(OverQuota):
        await q.admit("acme")
    assert counts.calls == 2


async def test_each_company_has_its_own_count() -> None:
    clock = Clock()
    counts = FakeCounts(clock)
    counts.release.clear()
    q = QueueQuota(counts, limit=10, clock=clock)
    waiting = [asyncio.create_task(q.admit(c)) for c in ("a", "b", "c") for _ in range(5)]
    await settle()
    assert counts.in_flight == 3
    counts.release.set()
    await asyncio.gather(*waiting)
    assert counts.calls == 3


@pytest.mark.parametrize(
    ("count_seconds", "interval"),
    [(0.002, quota.REFRESH_SECONDS), (0.4, 0.4 / quota.COUNT_SHARE),
     (30.0, quota.MAX_REFRESH_SECONDS)],
)  # fmt: skip
async def test_the_interval_grows_with_the_counts_duration(
    count_seconds: float, interval: float
) -> None:
    clock = Clock()
    counts = FakeCounts(clock, seconds=count_seconds)
    q = QueueQuota(counts, limit=1_000_000, clock=clock)
    await q.admit("acme")  # count 1 ended at started + count_seconds
    started = clock.now - count_seconds
    clock.now = started + interval - 0.01
    await q.admit("acme")
    await settle()
    assert counts.calls == 1  # not yet
    clock.now = started + interval
    await q.admit("acme")
    await settle()
    assert counts.calls == 2


async def test_a_large_backlog_is_counted_as_rarely_as_it_costs() -> None:
    """Submits arriving all along, for one simulated minute: with a count that takes 0.4 s
    (a million jobs) the counts take COUNT_SHARE of the time, as with a cheap count."""
    for count_seconds, limit in ((0.003, 10_000), (0.4, 1_000_000)):
        clock = Clock()
        counts = FakeCounts(clock, queued=limit // 2, seconds=count_seconds)
        q = QueueQuota(counts, limit=limit, clock=clock)
        began = clock.now
        while clock.now - began < 60:
            await q.admit("acme")
            await settle()
            clock.now += 0.01
        busy = counts.calls * count_seconds / (clock.now - began)
        assert busy <= 1.5 * quota.COUNT_SHARE, (limit, counts.calls)
        assert counts.most_at_once == 1


async def test_a_refused_submit_is_told_to_wait_for_the_next_count() -> None:
    clock = Clock()
    counts = FakeCounts(clock, queued=1_000_000, seconds=0.4)
    q = QueueQuota(counts, limit=1_000_000, clock=clock)
    with pytest.raises(OverQuota) as refused:
        await q.admit("acme")
    assert refused.value.retry_after == 20  # 0.4 s / 2 %, less the 0.4 s the count took: 19.6
    assert "COMPANY_MAX_QUEUED" in refused.value.message
    cheap = QueueQuota(FakeCounts(clock, queued=5), limit=5, clock=clock)
    with pytest.raises(OverQuota) as refused:
        await cheap.admit("acme")
    assert refused.value.retry_after == quota.RETRY_AFTER_SECONDS


async def test_a_failed_first_count_fails_its_waiters_and_the_next_submit_counts_again() -> None:
    clock = Clock()
    counts = FakeCounts(clock)
    counts.fail = ConnectionError("database away")
    q = QueueQuota(counts, limit=10, clock=clock)
    outcomes = await asyncio.gather(*(q.admit("acme") for _ in range(5)), return_exceptions=True)
    assert all(isinstance(o, ConnectionError) for o in outcomes)
    assert counts.calls == 1
    counts.fail = None
    await q.admit("acme")
    assert counts.calls == 2


async def test_a_failed_background_count_keeps_the_last_figure() -> None:
    clock = Clock()
    counts = FakeCounts(clock, queued=3)
    q = QueueQuota(counts, limit=5, clock=clock)
    await q.admit("acme")  # 4
    counts.fail = ConnectionError("database away")
    clock.now += 2
    await q.admit("acme")  # 5, and a count that fails
    await settle()
    assert counts.calls == 2
    with pytest.raises(OverQuota):
        await q.admit("acme")
    await settle()
    assert counts.calls == 2  # not again before the interval
    counts.fail, counts.queued = None, 0
    clock.now += 2
    with pytest.raises(OverQuota):  # admitted against the last figure while it counts
        await q.admit("acme")
    await settle()
    await q.admit("acme")  # the new count: 0 queued
    assert counts.calls == 3


async def test_a_submit_that_gives_up_does_not_cancel_the_count_others_wait_for() -> None:
    clock = Clock()
    counts = FakeCounts(clock)
    counts.release.clear()
    q = QueueQuota(counts, limit=10, clock=clock)
    impatient = asyncio.create_task(q.admit("acme"))
    patient = asyncio.create_task(q.admit("acme"))
    await settle()
    impatient.cancel()
    await settle()
    counts.release.set()
    await patient
    assert impatient.cancelled() and counts.calls == 1

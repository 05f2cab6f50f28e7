"""The listener's one ticker drives every stream's heartbeat and token expiry (no task or
timer per stream): a quiet stream gets a `: ping` before it has been silent for the
heartbeat interval, a stream with traffic gets none, the streams opened together are looked
at in slices, and a stream ends once its token has expired.

No database: `subscribe` without a connection skips its LISTEN (the reconnect would make it).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence

from service.domain.jobs import Event
from service.events.listener import Listener, Subscription

UNUSED = "postgresql://unused"  # never connected: these tests drive the ticker by hand


class FakeLog:
    async def snapshot(self, company_id: str, job_id: uuid.UUID) -> Event | None:
        return None

    async def events_after(self, job_id: uuid.UUID, seq: int) -> list[Event]:
        return []

    async def events_after_many(self, after: dict[uuid.UUID, int]) -> dict[uuid.UUID, list[Event]]:
        return {}

    async def event_seqs(self, job_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, int]:
        return {}


class Sink:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.pings = 0

    def write(self, data: bytes) -> bool:
        self.writes.append(data)
        return True

    def ping(self) -> bool:
        self.pings += 1
        return True


async def stream(listener: Listener, expires_at: float = math.inf) -> tuple[Subscription, Sink]:
    subscription = await listener.subscribe(uuid.uuid4(), 1, "caller", expires_at=expires_at)
    sink = Sink()
    subscription.sink = sink
    subscription.wait(1)  # parked
    return subscription, sink


def event(job_id: uuid.UUID, seq: int) -> Event:
    return Event(job_id=job_id, seq=seq, type="progress", data={"status": "running"})


async def test_a_quiet_stream_is_pinged_and_a_busy_one_is_not() -> None:
    listener = Listener(UNUSED, FakeLog(), heartbeat_seconds=2.0)
    quiet, quiet_sink = await stream(listener)
    busy, busy_sink = await stream(listener)
    for second in range(1, 7):
        busy.topic.remember([event(busy.topic.job_id, second + 1)])
        busy.topic.wake()  # pushed through the sink: the stream stays parked
        listener.tick(float(second))
    assert len(busy_sink.writes) == 6 and busy_sink.pings == 0
    # looked at every second (two looks per interval): never silent for more than 2 s
    assert quiet_sink.pings == 3
    assert not quiet.closed and not busy.closed


async def test_streams_opened_together_are_pinged_in_slices() -> None:
    """With the default 15 s heartbeat, a tick a second looks at a seventh of the topics."""
    listener = Listener(UNUSED, FakeLog(), heartbeat_seconds=15.0)
    sinks = [(await stream(listener))[1] for _ in range(70)]
    pinged_per_tick = []
    for second in range(1, 15):
        before = sum(s.pings for s in sinks)
        listener.tick(float(second))
        pinged_per_tick.append(sum(s.pings for s in sinks) - before)
    assert all(sink.pings == 1 for sink in sinks)  # each once in 14 s of silence
    assert max(pinged_per_tick) == 10


async def test_a_stream_ends_at_its_tokens_expiry_and_no_other() -> None:
    listener = Listener(UNUSED, FakeLog(), heartbeat_seconds=15.0)
    expiring, _ = await stream(listener, expires_at=100.5)
    lasting, _ = await stream(listener, expires_at=1000.0)
    listener.tick(100.0)
    assert not expiring.closed
    listener.tick(101.0)
    assert expiring.closed and not lasting.closed
    listener.tick(1000.0)
    assert lasting.closed


async def test_a_stream_without_a_sink_is_woken_to_write_its_heartbeat() -> None:
    """An HTTP/1.0 client's stream has no sink: its own task writes the ping."""
    listener = Listener(UNUSED, FakeLog(), heartbeat_seconds=2.0)
    subscription = await listener.subscribe(uuid.uuid4(), 1, "caller")
    waiter = subscription.wait(1)
    listener.tick(1.0)
    assert not waiter.done()
    listener.tick(2.0)
    assert waiter.done() and subscription.ping_due
    assert subscription.resume() == 1

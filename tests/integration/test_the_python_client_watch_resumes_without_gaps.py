"""`ContentJobsClient.watch()` against a real server that drops, ends early, fails and stalls.

docs/api.md, "The event stream": a reconnect with `Last-Event-ID: <n>` gets
every event after `n` and no fresh snapshot; the stream ends after the
terminal status event; an unknown job is a 404 with an SSE `event: error`.
"""

from __future__ import annotations

import pytest

from service.client import ContentJobsClient, ContentJobsError, JobEvent, Reconnect
from tests.fake_events import JOB_ID, FakeEventServer, job_events, serving

FAST = Reconnect(initial_delay=0.001, max_delay=0.01, max_failures=3, idle_timeout=5)


async def watch_all(
    fake: FakeEventServer, job_id: str = JOB_ID, reconnect: Reconnect = FAST, **kwargs: int
) -> list[JobEvent]:
    async with serving(fake), ContentJobsClient(fake.url, "t", "acme", reconnect=reconnect) as c:
        return [event async for event in c.watch(job_id, **kwargs)]


def ids(events: list[JobEvent]) -> list[int]:
    return [event.id for event in events]


async def test_reads_every_event_and_stops_after_the_terminal_one() -> None:
    fake = FakeEventServer(job_events("done"))
    events = await watch_all(fake)
    assert ids(events) == [1, 2, 3, 4, 5, 6]
    assert [e.event for e in events] == [
        "status",
        "status",
        "progress",
        "progress",
        "progress",
        "status",
    ]
    assert events[3].data["progress"] == {"percent": 66, "message": "step 2 of 3"}
    assert events[-1].terminal
    assert not events[-2].terminal
    assert fake.resumed_from == [None]


async def test_a_cut_connection_resumes_from_the_last_event_id_without_repeats() -> None:
    fake = FakeEventServer(job_events("done"), cut_after={3})
    events = await watch_all(fake)
    assert ids(events) == [1, 2, 3, 4, 5, 6]
    assert fake.resumed_from == [None, "3"]


async def test_a_stream_that_ends_before_the_job_is_resumed_too() -> None:
    fake = FakeEventServer(job_events("failed", error="failed at step 3"), end_after={2, 4})
    events = await watch_all(fake)
    assert ids(events) == [1, 2, 3, 4, 5, 6]
    assert events[-1].data["errorMessage"] == "failed at step 3"
    assert fake.resumed_from == [None, "2", "4"]


async def test_server_errors_are_retried_and_successes_reset_the_count() -> None:
    """Two 503s, then two events and a cut: the events reset the count of failures."""
    fake = FakeEventServer(job_events("done"), unavailable=2, cut_after={2})
    events = await watch_all(fake)
    assert ids(events) == [1, 2, 3, 4, 5, 6]
    assert fake.resumed_from == [None, None, None, "2"]


async def test_gives_up_after_max_failures_in_a_row() -> None:
    fake = FakeEventServer(job_events("done"), unavailable=10)
    with pytest.raises(ContentJobsError) as caught:
        await watch_all(fake)
    assert caught.value.status == 0
    assert "gave up after 3" in caught.value.message
    assert "try again" in caught.value.message
    assert len(fake.resumed_from) == 3


async def test_a_silent_connection_is_taken_for_dead_and_replaced() -> None:
    fake = FakeEventServer(job_events("cancelled"), silent=1)
    reconnect = Reconnect(initial_delay=0.001, max_failures=3, idle_timeout=0.3)
    events = await watch_all(fake, reconnect=reconnect)
    assert ids(events) == [1, 2, 3, 4, 5, 6]
    assert events[-1].data["status"] == "cancelled"
    assert len(fake.resumed_from) == 2


async def test_an_unknown_job_raises_404_at_once_with_the_sse_error_message() -> None:
    fake = FakeEventServer(job_events("done"))
    with pytest.raises(ContentJobsError) as caught:
        await watch_all(fake, job_id="9f0b6f64-0000-4000-8000-000000000000")
    assert (caught.value.status, caught.value.message) == (404, "Job not found")
    assert len(fake.resumed_from) == 1


async def test_watch_from_a_known_event_id_gets_only_later_events() -> None:
    fake = FakeEventServer(job_events("done"))
    events = await watch_all(fake, last_event_id=4)
    assert ids(events) == [5, 6]
    assert fake.resumed_from == ["4"]

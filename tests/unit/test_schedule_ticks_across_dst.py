"""CONTRACT.md, "Schedules": cron is read on the zone's wall clock, and a daily 02:30 job
runs once (not zero times, not twice) on the days the clock skips or repeats 02:30; an
`everySeconds` schedule stays on its grid and skips, not floods, missed ticks."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from service.domain.errors import InvalidRequest
from service.domain.schedules import Timing, next_cron_tick, parse_timing, source_task_id

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def ticks(cron: str, zone: ZoneInfo, start: datetime, end: datetime) -> list[datetime]:
    found, at = [], start - timedelta(microseconds=1)
    while (at := next_cron_tick(cron, zone, at)) < end:
        found.append(at.astimezone(zone))
    return found


def day(zone: ZoneInfo, year: int, month: int, date: int) -> tuple[datetime, datetime]:
    start = datetime(year, month, date, tzinfo=zone)
    return start.astimezone(UTC), (start + timedelta(days=1)).astimezone(UTC)


@pytest.mark.parametrize(
    ("zone", "skipped_day", "repeated_day"),
    [(BERLIN, (2026, 3, 29), (2026, 10, 25)), (NEW_YORK, (2026, 3, 8), (2026, 11, 1))],
)
def test_a_daily_0230_job_runs_once_on_both_dst_days(
    zone: ZoneInfo, skipped_day: tuple[int, int, int], repeated_day: tuple[int, int, int]
) -> None:
    spring = ticks("30 2 * * *", zone, *day(zone, *skipped_day))
    assert len(spring) == 1
    assert (spring[0].hour, spring[0].minute) == (3, 30)  # when 02:30 would have been
    autumn = ticks("30 2 * * *", zone, *day(zone, *repeated_day))
    assert len(autumn) == 1
    assert (autumn[0].hour, autumn[0].minute, autumn[0].fold) == (2, 30, 0)  # the first pass


def test_the_days_around_a_dst_change_keep_their_wall_time() -> None:
    start, _ = day(BERLIN, 2026, 3, 27)
    _, end = day(BERLIN, 2026, 3, 31)
    found = ticks("0 9 * * *", BERLIN, start, end)
    assert [(t.day, t.hour) for t in found] == [(27, 9), (28, 9), (29, 9), (30, 9), (31, 9)]
    assert {t.utcoffset() for t in found} == {timedelta(hours=1), timedelta(hours=2)}


def test_an_hourly_job_runs_in_both_passes_of_a_repeated_hour() -> None:
    found = ticks("30 * * * *", BERLIN, *day(BERLIN, 2026, 10, 25))
    assert len(found) == 25  # the day has 25 hours
    instants = [t.astimezone(UTC) for t in found]
    assert all(b - a == timedelta(hours=1) for a, b in itertools.pairwise(instants))


def test_a_minutely_job_skips_nothing_and_repeats_nothing_across_the_gap() -> None:
    found = ticks("*/15 * * * *", BERLIN, *day(BERLIN, 2026, 3, 29))
    assert len(found) == 23 * 4  # the day has 23 hours
    assert len(set(found)) == len(found)


def test_the_next_tick_is_strictly_after_now() -> None:
    at = datetime(2026, 1, 1, 2, 30, tzinfo=UTC)
    assert next_cron_tick("30 2 * * *", ZoneInfo("UTC"), at) == at + timedelta(days=1)
    just_before = at - timedelta(microseconds=1)
    assert next_cron_tick("30 2 * * *", ZoneInfo("UTC"), just_before) == at


def test_every_seconds_stays_on_its_grid_and_skips_missed_ticks() -> None:
    due = datetime(2026, 1, 1, tzinfo=UTC)
    every = Timing(None, 10)
    assert every.next_after(due + timedelta(seconds=0.01), due) == due + timedelta(seconds=10)
    # an hour late: the next tick is the first of the grid after now, not 360 ticks to catch up
    late = due + timedelta(hours=1, seconds=3)
    assert every.next_after(late, due) == due + timedelta(hours=1, seconds=10)


@pytest.mark.parametrize(
    ("cron", "every", "zone"),
    [
        ("30 2 * * *", 5, None),
        (None, None, None),
        ("30 2 * *", None, None),
        ("30 2 * * * *", None, None),
        ("99 2 * * *", None, None),
        ("0 0 31 2 *", None, None),
        ("30 2 * * *", None, "Europe/Atlantis"),
        ("30 2 * * *", None, ""),
        (None, 0, None),
        (None, 86401, None),
        (None, 1.5, None),
    ],
)
def test_bad_timings_are_refused(cron: object, every: object, zone: object) -> None:
    with pytest.raises(InvalidRequest):
        parse_timing(cron, every, zone)


def test_a_ticks_source_task_id_names_the_schedule_and_the_tick_in_utc() -> None:
    tick = datetime(2026, 3, 29, 3, 30, tzinfo=BERLIN)
    assert source_task_id("nightly", tick) == "schedule:nightly:2026-03-29T01:30:00Z"

"""The CronJob schedule logic, against a brute-force minute-by-minute oracle."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pilothouse.apiserver.simulation import cronjobs
from pilothouse.apiserver.simulation.cronjobs import ScheduleError, parse_schedule

UTC = dt.UTC
WINDOW = dt.timedelta(days=3)


def _matches(s: cronjobs.Schedule, t: dt.datetime) -> bool:
    w = t.astimezone(s.zone)
    if w.minute not in s.minutes or w.hour not in s.hours or w.month not in s.months:
        return False
    dom = w.day in s.days
    dow = (w.weekday() + 1) % 7 in s.weekdays
    return (dom and dow) if (s.days_star or s.weekdays_star) else (dom or dow)


def _brute_next(s: cronjobs.Schedule, t: dt.datetime) -> dt.datetime | None:
    c = t.replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
    while c <= t + WINDOW:
        if _matches(s, c):
            return c
        c += dt.timedelta(minutes=1)
    return None


def _field(low: int, high: int) -> st.SearchStrategy[str]:
    num = st.integers(low, high)
    rng = st.tuples(num, num).map(lambda ab: f"{min(ab)}-{max(ab)}")
    step = st.tuples(st.sampled_from(["*", f"{low}"]), st.integers(1, 7)).map(
        lambda a: f"{a[0]}/{a[1]}"
    )
    single = st.one_of(num.map(str), rng, step, st.just("*"))
    return st.lists(single, min_size=1, max_size=3).map(",".join)


schedules = st.tuples(_field(0, 59), _field(0, 23), _field(1, 31), _field(1, 12), _field(0, 6)).map(
    " ".join
)
instants = st.datetimes(
    min_value=dt.datetime(2020, 1, 1), max_value=dt.datetime(2035, 1, 1), timezones=st.just(UTC)
)


@settings(max_examples=60, deadline=None)
@given(schedules, instants)
def test_next_after_matches_brute_force(text: str, now: dt.datetime) -> None:
    s = parse_schedule(text)
    got = s.next_after(now)
    want = _brute_next(s, now)
    if want is not None:
        assert got == want
    else:
        assert got is None or got > now + WINDOW
    if got is not None:
        assert _matches(s, got)
        # prev_at_or_before is its inverse: nothing fires strictly between.
        assert s.prev_at_or_before(got) == got
        before = s.prev_at_or_before(got - dt.timedelta(seconds=1))
        assert before is None or before <= now


@settings(max_examples=60, deadline=None)
@given(schedules, instants)
def test_prev_at_or_before_matches(text: str, now: dt.datetime) -> None:
    s = parse_schedule(text)
    prev = s.prev_at_or_before(now)
    if prev is not None:
        assert prev <= now and _matches(s, prev)
        nxt = s.next_after(prev)
        assert nxt is None or nxt > now


def test_every_minute_and_macros() -> None:
    now = dt.datetime(2026, 3, 14, 10, 30, 15, tzinfo=UTC)
    assert parse_schedule("* * * * *").next_after(now) == now.replace(minute=31, second=0)
    assert parse_schedule("* * * * *").prev_at_or_before(now) == now.replace(second=0)
    assert parse_schedule("@hourly").next_after(now) == dt.datetime(2026, 3, 14, 11, tzinfo=UTC)
    assert parse_schedule("@daily").next_after(now) == dt.datetime(2026, 3, 15, tzinfo=UTC)
    assert parse_schedule("@weekly").next_after(now) == dt.datetime(2026, 3, 15, tzinfo=UTC)
    assert parse_schedule("@monthly").next_after(now) == dt.datetime(2026, 4, 1, tzinfo=UTC)
    assert parse_schedule("@yearly").next_after(now) == dt.datetime(2027, 1, 1, tzinfo=UTC)
    assert parse_schedule("0 0 29 2 *").next_after(now) == dt.datetime(2028, 2, 29, tzinfo=UTC)


def test_field_sets() -> None:
    s = parse_schedule("* * * * *")
    assert s.minutes == frozenset(range(60)) and s.hours == frozenset(range(24))
    assert s.days == frozenset(range(1, 32)) and s.months == frozenset(range(1, 13))
    assert s.weekdays == frozenset(range(7))
    s = parse_schedule("*/20 1-10/3 7 */5 1")
    assert s.minutes == {0, 20, 40} and s.hours == {1, 4, 7, 10}
    assert s.days == {7} and s.months == {1, 6, 11} and s.weekdays == {1}
    assert parse_schedule("5/15 * * * *").minutes == {5, 20, 35, 50}


def test_names_and_sunday_seven() -> None:
    s = parse_schedule("0 12 * jan-mar MON,wed,7")
    assert s.months == frozenset({1, 2, 3})
    assert s.weekdays == frozenset({1, 3, 0})
    assert parse_schedule("0 0 * * 5-7").weekdays == frozenset({5, 6, 0})


def test_day_of_month_or_day_of_week() -> None:
    # Both restricted: either matches (the 13th, or any Friday).
    s = parse_schedule("0 0 13 * 5")
    start = dt.datetime(2026, 11, 1, tzinfo=UTC)
    assert s.next_after(start) == dt.datetime(2026, 11, 6, tzinfo=UTC)  # a Friday
    # Day of week "*": only the 13th.
    s = parse_schedule("0 0 13 * *")
    assert s.next_after(start) == dt.datetime(2026, 11, 13, tzinfo=UTC)


def test_time_zone() -> None:
    s = parse_schedule("0 9 * * *", "America/New_York")
    now = dt.datetime(2026, 7, 1, tzinfo=UTC)
    assert s.next_after(now) == dt.datetime(2026, 7, 1, 13, tzinfo=UTC)  # EDT
    now = dt.datetime(2026, 12, 1, tzinfo=UTC)
    assert s.next_after(now) == dt.datetime(2026, 12, 1, 14, tzinfo=UTC)  # EST
    prefixed = parse_schedule("CRON_TZ=Asia/Tokyo 0 9 * * *")
    assert prefixed.zone == zoneinfo.ZoneInfo("Asia/Tokyo")
    assert prefixed.next_after(now) == dt.datetime(2026, 12, 2, 0, tzinfo=UTC)  # strictly after


def test_dst_gap_is_skipped() -> None:
    # 02:30 does not exist in New York on 2026-03-08 (clocks jump from 02:00 to 03:00).
    s = parse_schedule("30 2 * * *", "America/New_York")
    now = dt.datetime(2026, 3, 8, 5, tzinfo=UTC)  # 00:00 EST
    assert s.next_after(now) == dt.datetime(2026, 3, 9, 6, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    "text",
    ["", "* * * *", "* * * * * *", "60 * * * *", "* 24 * * *", "* * 0 * *", "* * * 13 *",
     "*/0 * * * *", "5-1 * * * *", "x * * * *", "* * * * 8"],
)  # fmt: skip
def test_invalid(text: str) -> None:
    with pytest.raises(ScheduleError):
        parse_schedule(text)


def test_unknown_zone() -> None:
    with pytest.raises(ScheduleError):
        parse_schedule("* * * * *", "Mars/Olympus")

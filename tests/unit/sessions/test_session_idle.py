"""The idle / max-duration schedule and wake decisions, as pure functions of times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from pilothouse.operators.sessions import idle, lifecycle
from pilothouse.runtime import clock as clock_mod

T0 = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def decide(now: float, **kw: object) -> idle.Decision:
    args: dict[str, object] = {
        "last_activity": None,
        "started_at": at(0),
        "created_at": at(-100),
        "idle_timeout": 1800.0,
        "max_duration": None,
        "grace": 60.0,
    }
    args.update(kw)
    return idle.evaluate(at(now), **args)  # type: ignore[arg-type]


def test_next_check_is_the_first_moment_the_session_can_be_idle() -> None:
    d = decide(100)
    assert d.stop is None and d.next_check == at(1860)
    assert d.requeue_after(at(100)) == 1760


def test_idle_exactly_at_timeout_plus_grace_not_before() -> None:
    assert decide(1859.999).stop is None
    assert decide(1860).stop == "idle"


def test_activity_moves_the_deadline() -> None:
    d = decide(1000, last_activity=at(900))
    assert d.stop is None and d.next_check == at(900 + 1860)


def test_old_activity_from_before_a_wake_does_not_stop_a_fresh_start() -> None:
    # Hibernated for a day, woken at 0: yesterday's activity is not today's idleness.
    d = decide(10, last_activity=at(-86_400))
    assert d.stop is None and d.next_check == at(1860)


def test_creation_time_when_nothing_else_is_known() -> None:
    d = decide(0, started_at=None)
    assert d.next_check == at(-100 + 1860)


def test_zero_idle_timeout_never_idles() -> None:
    d = decide(10**9, idle_timeout=0.0)
    assert d == idle.Decision(None, None)
    assert d.requeue_after(at(0)) is None


def test_max_duration_counts_from_start_regardless_of_activity() -> None:
    d = decide(500, max_duration=600.0, last_activity=at(499))
    assert d.stop is None and d.next_check == at(600)
    stopped = decide(600, max_duration=600.0, last_activity=at(599))
    assert stopped.stop == "max-duration" and "maximum" in stopped.note


def test_max_duration_wins_when_both_are_due() -> None:
    assert decide(10_000, max_duration=600.0).stop == "max-duration"


def test_requeue_after_is_never_negative() -> None:
    assert idle.Decision(None, at(0)).requeue_after(at(5)) == 0.0


@given(
    start=st.floats(min_value=-1e6, max_value=1e6),
    activity=st.none() | st.floats(min_value=-1e6, max_value=1e6),
    timeout=st.floats(min_value=1, max_value=1e5),
    grace=st.floats(min_value=0, max_value=600),
    max_duration=st.none() | st.floats(min_value=1, max_value=1e5),
    now=st.floats(min_value=-1e6, max_value=3e6),
)
def test_stops_exactly_when_a_deadline_passed_else_schedules_the_earliest(
    start: float,
    activity: float | None,
    timeout: float,
    grace: float,
    max_duration: float | None,
    now: float,
) -> None:
    last = at(activity) if activity is not None else None
    d = decide(
        now,
        started_at=at(start),
        last_activity=last,
        idle_timeout=timeout,
        grace=grace,
        max_duration=max_duration,
    )
    base = max(start, activity) if activity is not None else start
    idle_at = at(base) + timedelta(seconds=timeout + grace)
    deadlines = [idle_at] + ([at(start) + timedelta(seconds=max_duration)] if max_duration else [])
    due = [t for t in deadlines if at(now) >= t]
    if due:
        assert d.stop in ("idle", "max-duration") and d.next_check is None
    else:
        assert d.stop is None and d.next_check == min(deadlines)
        assert d.next_check > at(now)


def test_wake_only_when_newer_than_the_stop() -> None:
    stopped = at(100)
    assert idle.wake_requested("2026-01-01T12:01:41Z", stopped)
    assert not idle.wake_requested("2026-01-01T12:01:40Z", stopped)  # same second: not newer
    assert not idle.wake_requested("2026-01-01T12:00:00Z", stopped)
    assert not idle.wake_requested("yesterday", stopped)
    assert not idle.wake_requested(None, stopped)
    assert not idle.wake_requested("2026-01-01T12:05:00Z", None)


def test_time_round_trip_at_second_precision() -> None:
    assert idle.format_time(at(1.9)) == "2026-01-01T12:00:01Z"
    assert idle.parse_time("2026-01-01T12:00:01Z") == at(1)
    assert idle.parse_time("2026-01-01T13:00:01+01:00") == at(1)
    assert idle.parse_time("2026-01-01T12:00:01") == at(1)  # naive: read as UTC
    assert idle.parse_time("") is None and idle.parse_time(5) is None


def test_wall_clock_moves_with_the_runtime_clock() -> None:
    fake = clock_mod.FakeClock(start=100.0)
    now = lifecycle.wall_clock(fake)
    before = now()
    fake.advance(1860)
    assert now() - before == timedelta(seconds=1860)

"""Heartbeat coalescing (:mod:`pilothouse.operators.sessions.api.heartbeats`), driven by
an explicit fake clock: the write rate bound, the latest time winning, retries."""

from __future__ import annotations

import asyncio
import itertools
import math
from datetime import UTC, datetime, timedelta

import pytest

from pilothouse.operators.sessions.api import heartbeats

KEY = ("default", "s1")
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_a_quiet_session_is_written_at_once() -> None:
    c = heartbeats.Coalescer(interval=10.0)
    assert c.record(KEY, at(0), now=100.0) == 100.0
    assert c.pop_due(100.0) == [(KEY, at(0))]
    assert c.next_due() is None


def test_heartbeats_within_the_interval_make_one_write_with_the_latest_time() -> None:
    c = heartbeats.Coalescer(interval=10.0)
    c.record(KEY, at(0), now=100.0)
    assert c.pop_due(100.0) == [(KEY, at(0))]
    for i in range(1, 50):
        c.record(KEY, at(i * 0.1), now=100.0 + i * 0.1)
    # Nothing before the interval has passed since the last write...
    assert c.next_due() == 110.0
    assert c.pop_due(109.99) == []
    # ...then one write, carrying the newest heartbeat.
    assert c.pop_due(110.0) == [(KEY, at(4.9))]
    assert c.pop_due(1000.0) == []


def test_an_older_heartbeat_never_replaces_a_newer_one() -> None:
    c = heartbeats.Coalescer(interval=10.0)
    c.record(KEY, at(5), now=0.0)
    c.record(KEY, at(3), now=0.0)
    assert c.pop_due(0.0) == [(KEY, at(5))]


def test_the_write_rate_is_bounded_whatever_the_heartbeat_rate() -> None:
    interval, span = 1.0, 20.0
    c = heartbeats.Coalescer(interval=interval)
    writes: list[tuple[float, datetime]] = []
    now = 0.0
    while now <= span:  # 100 heartbeats a second
        c.record(KEY, at(now), now=now)
        writes += [(now, when) for _, when in c.pop_due(now)]
        now = round(now + 0.01, 2)
    writes += [(now, when) for _, when in c.pop_due(now + interval)]
    assert len(writes) <= math.ceil(span / interval) + 1
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(writes)]
    assert all(g >= interval - 1e-9 for g in gaps)
    assert writes[-1][1] == at(span)


def test_sessions_are_coalesced_independently() -> None:
    c = heartbeats.Coalescer(interval=10.0)
    other = ("default", "s2")
    c.record(KEY, at(0), now=0.0)
    c.record(other, at(1), now=1.0)
    assert c.pop_due(0.5) == [(KEY, at(0))]
    assert c.pop_due(1.0) == [(other, at(1))]


def test_a_failed_write_is_retried_one_interval_later() -> None:
    c = heartbeats.Coalescer(interval=10.0)
    c.record(KEY, at(0), now=0.0)
    [(_, when)] = c.pop_due(0.0)
    c.retry(KEY, when, now=1.0)
    assert c.pop_due(5.0) == []
    assert c.pop_due(11.0) == [(KEY, at(0))]


def test_a_forgotten_session_is_not_written() -> None:
    c = heartbeats.Coalescer(interval=10.0)
    c.record(KEY, at(0), now=0.0)
    c.forget(KEY)
    assert c.pop_due(100.0) == []
    assert c.pending(KEY) is None


def test_quiet_entries_expire() -> None:
    c = heartbeats.Coalescer(interval=10.0)
    c.record(KEY, at(0), now=0.0)
    c.pop_due(0.0)
    c.expire(5.0)
    assert KEY in c._entries
    c.expire(10.0)
    assert KEY not in c._entries


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_the_flusher_writes_and_stop_flushes_what_is_pending() -> None:
    clock = FakeClock()
    written: list[tuple[heartbeats.Key, datetime]] = []
    done = asyncio.Event()

    async def write(key: heartbeats.Key, when: datetime) -> None:
        written.append((key, when))
        done.set()

    flusher = heartbeats.HeartbeatFlusher(write, 10.0, clock=clock)
    flusher.start()
    try:
        flusher.record(KEY, at(0))
        await asyncio.wait_for(done.wait(), 5)
        assert written == [(KEY, at(0))]
        # Within the interval: pending (the fake clock does not move), written at stop.
        flusher.record(KEY, at(1))
        flusher.record(KEY, at(2))
    finally:
        await flusher.stop()
    assert written == [(KEY, at(0)), (KEY, at(2))]
    assert flusher.writes == 2


async def test_the_flusher_drops_a_session_that_is_gone() -> None:
    calls: list[heartbeats.Key] = []
    done = asyncio.Event()

    async def write(key: heartbeats.Key, when: datetime) -> None:
        calls.append(key)
        done.set()
        raise LookupError("gone")

    flusher = heartbeats.HeartbeatFlusher(write, 10.0, clock=FakeClock())
    flusher.start()
    try:
        flusher.record(KEY, at(0))
        await asyncio.wait_for(done.wait(), 5)
    finally:
        await flusher.stop()
    assert calls == [KEY]
    assert flusher.coalescer.next_due() is None


def test_the_interval_must_be_positive() -> None:
    async def write(key: heartbeats.Key, when: datetime) -> None:
        raise AssertionError("never called")

    with pytest.raises(ValueError):
        heartbeats.HeartbeatFlusher(write, 0.0)

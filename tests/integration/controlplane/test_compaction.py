"""Compactor against a real single-member etcd (one process per module).

The tests of this module run in order on one store, so every assertion is relative to the
revision the test itself reads.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncGenerator, AsyncIterator

import pytest

from pilothouse.controlplane.etcd import Etcd, EtcdCompacted, Revision
from pilothouse.controlplane.maintenance import Compactor
from pilothouse.testing.eventually import eventually_async

PREFIX = b"/test-compaction/"


@pytest.fixture
async def etcd(etcd_endpoint: str) -> AsyncIterator[Etcd]:
    async with Etcd([etcd_endpoint]) as client:
        yield client


async def _first_revision(etcd: Etcd, start: int) -> Revision:
    """The first revision a watch of PREFIX from ``start`` delivers (the watch is closed)."""
    watch = etcd.watch(PREFIX, prefix=True, start_revision=start)
    assert isinstance(watch, AsyncGenerator)
    try:
        async with asyncio.timeout(5):
            first: Revision = await anext(watch)
            return first
    finally:
        await watch.aclose()


async def test_compacts_to_the_keep_window_and_watches_below_it_fail(etcd: Etcd) -> None:
    for i in range(30):
        await etcd.put(PREFIX + b"k", b"v%d" % i)
    compactor = Compactor(etcd, keep_revisions=10)
    report = await compactor.run_once()
    assert report.compacted_to == report.revision - 10 == compactor.compacted_to
    assert not report.defragmented  # far below the default 64 MiB of free space
    assert report.db_size_after == report.db_size

    # The window is kept: a watcher that fell up to keep_revisions behind can resume.
    first = await _first_revision(etcd, report.compacted_to)
    assert first.revision == report.compacted_to and first.events
    first = await _first_revision(etcd, report.compacted_to + 1)
    assert first.revision == report.compacted_to + 1
    # One further behind must resync with a full read.
    with pytest.raises(EtcdCompacted):
        await _first_revision(etcd, report.compacted_to - 1)

    # Nothing new to compact until the store moves past the window again.
    again = await compactor.run_once()
    assert again.compacted_to is None and again.revision == report.revision
    for i in range(5):
        await etcd.put(PREFIX + b"k", b"w%d" % i)
    moved = await compactor.run_once()
    assert moved.compacted_to == report.compacted_to + 5


async def test_only_compacts_when_told_it_may(etcd: Etcd) -> None:
    for i in range(5):
        await etcd.put(PREFIX + b"follower", b"v%d" % i)
    leading = False
    compactor = Compactor(etcd, keep_revisions=1, should_compact=lambda: leading)
    assert (await compactor.run_once()).compacted_to is None
    leading = True
    report = await compactor.run_once()
    assert report.compacted_to == report.revision - 1


async def test_defragments_when_free_space_crosses_both_thresholds(etcd: Etcd) -> None:
    value = os.urandom(8 << 10)  # random: bbolt pages do not shrink by compression
    for _ in range(150):
        await etcd.put(PREFIX + b"big", value)
    strict = Compactor(etcd, keep_revisions=1, defrag_ratio=0.1, defrag_min_bytes=1 << 40)
    report = await strict.run_once()
    assert report.compacted_to is not None and not report.defragmented

    async def freed() -> int:
        # etcd recomputes db_size_in_use when its backend commits, and commits only when
        # there is something to write: the put makes the freed pages show.
        await etcd.put(PREFIX + b"tick", b"")
        status = await etcd.status()
        free = status.db_size - status.db_size_in_use
        return free if free > 0.1 * status.db_size else 0

    free = await eventually_async(freed, timeout=10, message="compaction frees pages")
    report = await Compactor(etcd, defrag_ratio=0.1, defrag_min_bytes=1).run_once()
    assert report.defragmented
    assert report.db_size_after < report.db_size
    status = await etcd.status()
    assert status.db_size == report.db_size_after
    assert status.db_size - status.db_size_in_use < free


async def test_run_repeats_every_interval_and_survives_failures() -> None:
    periods: list[float] = []
    third = asyncio.Event()

    async def sleep(seconds: float) -> None:
        periods.append(seconds)
        if len(periods) == 3:
            third.set()
            await asyncio.Event().wait()  # park here until the test cancels the loop

    # A port that is bound but not listening refuses connections: every pass fails, and
    # the loop must go on.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"127.0.0.1:{s.getsockname()[1]}"
        async with Etcd([dead], timeout=0.5) as unreachable:
            task = asyncio.create_task(Compactor(unreachable, interval=7.5, sleep=sleep).run())
            try:
                async with asyncio.timeout(10):
                    await third.wait()
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
    assert periods == [7.5, 7.5, 7.5]


async def test_settings_are_validated(etcd: Etcd) -> None:
    with pytest.raises(ValueError, match="keep_revisions"):
        Compactor(etcd, keep_revisions=0)
    with pytest.raises(ValueError, match="interval"):
        Compactor(etcd, interval=0.0)
    with pytest.raises(ValueError, match="defrag_ratio"):
        Compactor(etcd, defrag_ratio=1.0)
    with pytest.raises(ValueError, match="defrag_min_bytes"):
        Compactor(etcd, defrag_min_bytes=-1)

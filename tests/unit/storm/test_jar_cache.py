"""JarCache: hits, expiry, LRU bound, invalidation, single flight, cancellation, persistence."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from pilothouse.operators.storm.nimbus import jarcache

SHA_A = "a" * 64
SHA_B = "b" * 64


class FakeClock:
    """Both clocks the cache reads; only ``advance`` moves them."""

    def __init__(self, now: float = 1000.0, wall: float = 1_700_000_000.0) -> None:
        self.now = now
        self.wall = wall

    def __call__(self) -> float:
        return self.now

    def wall_clock(self) -> float:
        return self.wall

    def advance(self, seconds: float) -> None:
        self.now += seconds
        self.wall += seconds


class Uploader:
    """An upload function that counts its calls and can be held open or made to fail."""

    def __init__(self) -> None:
        self.calls = 0
        self.release = asyncio.Event()
        self.release.set()
        self.error: Exception | None = None
        self.started = asyncio.Event()
        self.finished = False

    def __call__(self, location: str = "/inbox/stormjar-1.jar") -> Callable[[], Awaitable[str]]:
        async def upload() -> str:
            self.calls += 1
            self.started.set()
            await self.release.wait()
            if self.error is not None:
                raise self.error
            self.finished = True
            return location

        return upload


def make_cache(clock: FakeClock, **kwargs: object) -> jarcache.JarCache:
    return jarcache.JarCache(clock=clock, wall_clock=clock.wall_clock, **kwargs)  # type: ignore[arg-type]


async def test_miss_uploads_then_hit_does_not() -> None:
    clock, uploader = FakeClock(), Uploader()
    cache = make_cache(clock)
    first = await cache.get_or_upload("prod", SHA_A, uploader("/inbox/a.jar"))
    second = await cache.get_or_upload("prod", SHA_A.upper(), uploader("/inbox/other.jar"))
    assert first == jarcache.CacheResult("/inbox/a.jar", cached=False)
    assert second == jarcache.CacheResult("/inbox/a.jar", cached=True)
    assert uploader.calls == 1
    assert cache.lookup("prod", SHA_A) == "/inbox/a.jar"
    # Another cluster, or another JAR, is another key.
    await cache.get_or_upload("staging", SHA_A, uploader())
    await cache.get_or_upload("prod", SHA_B, uploader())
    assert uploader.calls == 3
    assert cache.stats() == jarcache.CacheStats(hits=1, misses=3, uploads=3, entries=3)


async def test_entries_expire_after_ttl() -> None:
    clock, uploader = FakeClock(), Uploader()
    cache = make_cache(clock, ttl=100.0)
    await cache.get_or_upload("prod", SHA_A, uploader())
    clock.advance(99)
    assert (await cache.get_or_upload("prod", SHA_A, uploader())).cached
    clock.advance(1)
    assert cache.lookup("prod", SHA_A) is None
    assert not (await cache.get_or_upload("prod", SHA_A, uploader())).cached
    assert uploader.calls == 2
    assert cache.stats().expirations == 1


def test_ttl_for_follows_the_inbox_expiry() -> None:
    assert jarcache.JarCache.ttl_for({}) == 2700.0
    assert jarcache.JarCache.ttl_for({"nimbus.inbox.jar.expiration.secs": 600}) == 450.0
    assert jarcache.JarCache.ttl_for({"nimbus.inbox.jar.expiration.secs": "1200"}) == 900.0
    for bad in (0, -5, True, "soon", None, float("inf"), [3600]):
        with pytest.raises(ValueError, match="must be a positive number"):
            jarcache.JarCache.ttl_for({"nimbus.inbox.jar.expiration.secs": bad})
    assert jarcache.JarCache().ttl == 2700.0


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="max_entries"):
        jarcache.JarCache(max_entries=0)
    with pytest.raises(ValueError, match="ttl"):
        jarcache.JarCache(ttl=0)


async def test_least_recently_used_entry_is_evicted_beyond_the_bound() -> None:
    clock, uploader = FakeClock(), Uploader()
    cache = make_cache(clock, max_entries=2)
    await cache.get_or_upload("prod", "1" * 64, uploader("/one"))
    await cache.get_or_upload("prod", "2" * 64, uploader("/two"))
    await cache.get_or_upload("prod", "1" * 64, uploader())  # a hit makes "1" the most recent
    await cache.get_or_upload("prod", "3" * 64, uploader("/three"))
    assert cache.lookup("prod", "1" * 64) == "/one"
    assert cache.lookup("prod", "2" * 64) is None
    assert cache.lookup("prod", "3" * 64) == "/three"
    assert cache.stats().evictions == 1
    assert cache.stats().entries == 2


async def test_invalidate_forces_one_new_upload() -> None:
    clock, uploader = FakeClock(), Uploader()
    cache = make_cache(clock)
    await cache.get_or_upload("prod", SHA_A, uploader("/old"))
    assert cache.invalidate("prod", SHA_A)
    assert not cache.invalidate("prod", SHA_A)
    again = await cache.get_or_upload("prod", SHA_A, uploader("/new"))
    assert again == jarcache.CacheResult("/new", cached=False)
    assert (await cache.get_or_upload("prod", SHA_A, uploader())).location == "/new"
    assert uploader.calls == 2


async def test_concurrent_callers_share_one_upload() -> None:
    clock, uploader = FakeClock(), Uploader()
    uploader.release.clear()
    cache = make_cache(clock)
    callers = [
        asyncio.create_task(cache.get_or_upload("prod", SHA_A, uploader(f"/inbox/{i}.jar")))
        for i in range(50)
    ]
    await uploader.started.wait()
    uploader.release.set()
    results = await asyncio.gather(*callers)
    assert uploader.calls == 1
    assert {r.location for r in results} == {"/inbox/0.jar"}
    assert not any(r.cached for r in results)
    assert cache.stats() == jarcache.CacheStats(misses=50, uploads=1, entries=1)


async def test_a_failed_upload_reaches_every_waiter_and_is_not_cached() -> None:
    clock, uploader = FakeClock(), Uploader()
    uploader.release.clear()
    uploader.error = RuntimeError("nimbus said no")
    cache = make_cache(clock)
    callers = [
        asyncio.create_task(cache.get_or_upload("prod", SHA_A, uploader())) for _ in range(10)
    ]
    await uploader.started.wait()
    uploader.release.set()
    results = await asyncio.gather(*callers, return_exceptions=True)
    assert all(isinstance(r, RuntimeError) and str(r) == "nimbus said no" for r in results)
    assert uploader.calls == 1
    assert cache.lookup("prod", SHA_A) is None
    uploader.error = None
    assert not (await cache.get_or_upload("prod", SHA_A, uploader())).cached
    assert uploader.calls == 2
    assert cache.stats().failures == 1


async def test_cancelling_a_waiter_leaves_the_shared_upload_running() -> None:
    clock, uploader = FakeClock(), Uploader()
    uploader.release.clear()
    cache = make_cache(clock)
    starter = asyncio.create_task(cache.get_or_upload("prod", SHA_A, uploader("/a")))
    await uploader.started.wait()
    other = asyncio.create_task(cache.get_or_upload("prod", SHA_A, uploader("/b")))
    await asyncio.sleep(0)  # let "other" join the upload
    starter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await starter
    uploader.release.set()
    assert await other == jarcache.CacheResult("/a", cached=False)
    assert uploader.calls == 1


async def test_an_upload_nobody_waits_for_still_completes_and_is_cached() -> None:
    clock, uploader = FakeClock(), Uploader()
    uploader.release.clear()
    cache = make_cache(clock)
    waiter = asyncio.create_task(cache.get_or_upload("prod", SHA_A, uploader("/a")))
    await uploader.started.wait()
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    uploader.release.set()
    deadline = asyncio.get_running_loop().time() + 5
    while cache.lookup("prod", SHA_A) is None:
        assert asyncio.get_running_loop().time() < deadline, "the upload never completed"
        await asyncio.sleep(0)
    assert uploader.finished
    assert (await cache.get_or_upload("prod", SHA_A, uploader())).cached


async def test_aclose_cancels_running_uploads() -> None:
    clock, uploader = FakeClock(), Uploader()
    uploader.release.clear()
    cache = make_cache(clock)
    waiter = asyncio.create_task(cache.get_or_upload("prod", SHA_A, uploader()))
    await uploader.started.wait()
    await cache.aclose()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert not uploader.finished
    assert cache.lookup("prod", SHA_A) is None


async def test_aclose_before_the_upload_started_does_not_wedge_the_key() -> None:
    clock, uploader = FakeClock(), Uploader()
    cache = make_cache(clock)
    waiter = asyncio.create_task(cache.get_or_upload("prod", SHA_A, uploader("/a")))
    await asyncio.sleep(0)  # the waiter started the upload task, which has not run yet
    await cache.aclose()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert uploader.calls == 0
    assert await cache.get_or_upload("prod", SHA_A, uploader("/b")) == jarcache.CacheResult(
        "/b", cached=False
    )


async def test_persistence_survives_a_restart_within_the_ttl(tmp_path: Path) -> None:
    path = tmp_path / "jars.json"
    clock, uploader = FakeClock(), Uploader()
    cache = make_cache(clock, path=path, ttl=100.0)
    await cache.get_or_upload("prod", SHA_A, uploader("/a"))
    clock.advance(50)
    await cache.get_or_upload("prod", SHA_B, uploader("/b"))
    assert names(tmp_path) == ["jars.json"]  # no temporary file left behind

    # A restarted controller: a new monotonic clock, the same wall clock 10 s later.
    restarted_clock = FakeClock(now=5.0, wall=clock.wall + 10)
    restarted = make_cache(restarted_clock, path=path, ttl=100.0)
    assert restarted.lookup("prod", SHA_A) == "/a"
    assert restarted.lookup("prod", SHA_B) == "/b"
    restarted_clock.advance(39)  # "a" was uploaded 60 s before the restart: 1 s left
    assert (await restarted.get_or_upload("prod", SHA_A, uploader())).cached
    restarted_clock.advance(1)
    assert restarted.lookup("prod", SHA_A) is None
    assert restarted.lookup("prod", SHA_B) == "/b"
    assert uploader.calls == 2
    # The file keeps the LRU order: with room for one entry, the older "a" goes.
    smaller = make_cache(FakeClock(wall=clock.wall), path=path, ttl=100.0, max_entries=1)
    assert smaller.lookup("prod", SHA_A) is None
    assert smaller.lookup("prod", SHA_B) == "/b"


def names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


async def test_persisted_invalidation_and_expired_or_future_entries(tmp_path: Path) -> None:
    path = tmp_path / "jars.json"
    clock, uploader = FakeClock(), Uploader()
    cache = make_cache(clock, path=path, ttl=100.0)
    await cache.get_or_upload("prod", SHA_A, uploader("/a"))
    await cache.get_or_upload("prod", SHA_B, uploader("/b"))
    cache.invalidate("prod", SHA_B)
    assert make_cache(FakeClock(wall=clock.wall), path=path).lookup("prod", SHA_B) is None
    assert (
        make_cache(FakeClock(wall=clock.wall + 100), path=path, ttl=100.0).lookup("prod", SHA_A)
        is None
    )
    # The wall clock went back: an entry "from the future" is not trusted.
    assert make_cache(FakeClock(wall=clock.wall - 1), path=path).lookup("prod", SHA_A) is None


@pytest.mark.parametrize(
    "content",
    [
        b"{not json",
        b"\xff\xfe binary",
        b"[]",
        b'{"version": 99, "entries": []}',
        b'{"version": 1}',
        b'{"version": 1, "entries": 7}',
        b'{"version": 1, "entries": [{"cluster": "prod"}]}',
        b'{"version": 1, "entries": [{"cluster": 1, "sha256": "a", "location": "/a",'
        b' "uploaded_at": 1}]}',
        b'{"version": 1, "entries": [{"cluster": "p", "sha256": "a", "location": "/a",'
        b' "uploaded_at": "yesterday"}]}',
    ],
)
async def test_a_corrupt_file_is_ignored_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, content: bytes
) -> None:
    path = tmp_path / "jars.json"
    path.write_bytes(content)
    clock, uploader = FakeClock(), Uploader()
    with caplog.at_level(logging.WARNING, logger=jarcache.__name__):
        cache = make_cache(clock, path=path)
    assert "ignoring the JAR cache file" in caplog.text
    assert cache.stats().entries == 0
    # Still usable, and the next save replaces the corrupt file with a valid one.
    await cache.get_or_upload("prod", SHA_A, uploader("/a"))
    assert json.loads(path.read_text())["entries"][0]["location"] == "/a"


async def test_a_failed_save_is_a_warning_not_an_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "missing-dir" / "jars.json"
    clock, uploader = FakeClock(), Uploader()
    cache = make_cache(clock, path=path)
    with caplog.at_level(logging.WARNING, logger=jarcache.__name__):
        result = await cache.get_or_upload("prod", SHA_A, uploader("/a"))
    assert result.location == "/a"
    assert "cannot save the JAR cache" in caplog.text

"""Which JARs a Storm cluster already holds: (cluster, sha256) → uploaded location.

Submitting a topology needs its JAR uploaded to Nimbus first. A controller that
resubmits the same JAR (a restart, a rebalance by kill and submit, many
topologies from one JAR) would upload the same bytes every time; ``JarCache``
remembers where each upload went so that it happens once.

Contract of ``JarCache.get_or_upload(cluster, sha256, upload)``:

- **Hit**: a fresh entry for the key returns its location; ``upload`` is not called.
- **Miss**: ``upload()`` is called **exactly once** for any number of concurrent
  callers asking for the same key (single flight). Its location is cached and
  returned to all of them. If it fails, every waiter gets that exception and
  nothing is cached; the next call uploads again.
- **Cancellation**: the shared upload runs in its own task. Cancelling a waiter
  (even the one that started it) cancels only that waiter; the upload carries on
  for the others and is cached when it succeeds, even if nobody is left waiting.
  ``aclose`` cancels uploads still running.
- **Expiry**: an entry lives ``ttl`` seconds from the end of its upload. Nimbus
  deletes JARs from its inbox ``nimbus.inbox.jar.expiration.secs`` (3600 s by
  default) after their last write, so ``ttl`` must stay below that: ``ttl_for``
  derives it from Nimbus's config (75 %, 2700 s by default), leaving margin for
  the submit that follows a hit and for clock differences.
- **Bound**: beyond ``max_entries`` the least recently used entry is evicted.
- **Invalidation**: a cached location can still be gone (Nimbus restarted, a new
  leader with its own inbox, an inbox cleaned early). The client calls
  ``invalidate`` when Nimbus rejects a cached location and uploads once more.
  Callers that want leader changes to miss outright can fold the leader into
  ``cluster``.

What the cache trusts: the sha256 it is given. It hashes nothing itself; the
client keys entries by the hash it streamed and checked during the upload.

Persistence (optional, ``path``): the entries are written to a JSON file after
every change (an upload, an eviction, an expiry, an invalidation; a hit does not
rewrite it, so the file's LRU order is as of the last change), with wall-clock
upload times, so a restarted controller keeps
using its uploads for the rest of their ``ttl`` instead of uploading again. The
write is atomic (temporary file, then rename), so a crash never leaves half a
file; it is synchronous because a few kB into the page cache costs less than a
hop to a worker thread, and it is not fsynced, because losing the file only
costs re-uploads. A file that cannot be read or parsed is ignored with a
warning, never an error; so is a failed write. Entries whose wall-clock age is
negative (the clock went back) are dropped rather than trusted.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import functools
import json
import logging
import math
import os
import tempfile
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

#: Storm's default ``nimbus.inbox.jar.expiration.secs``.
DEFAULT_INBOX_EXPIRATION = 3600.0

#: The share of Nimbus's inbox expiry an entry may live.
TTL_FRACTION = 0.75

_FORMAT_VERSION = 1

Key = tuple[str, str]


@dataclasses.dataclass(frozen=True, slots=True)
class CacheResult:
    """A location for ``submitTopology``; ``cached`` when no upload was needed for it."""

    location: str
    cached: bool


@dataclasses.dataclass(frozen=True, slots=True)
class CacheStats:
    """Counters since creation.

    ``hits``/``misses`` count ``get_or_upload`` calls (a caller that joins an
    upload already running is a miss); ``uploads`` counts ``upload()`` calls,
    ``failures`` those that raised; ``evictions`` are LRU evictions and
    ``expirations`` entries dropped for age; ``entries`` is the current size.
    """

    hits: int = 0
    misses: int = 0
    uploads: int = 0
    failures: int = 0
    evictions: int = 0
    expirations: int = 0
    entries: int = 0


@dataclasses.dataclass(slots=True)
class _Entry:
    location: str
    uploaded: float  # on the cache's monotonic clock
    uploaded_wall: float  # on the wall clock, for the file


class JarCache:
    """(cluster, sha256) → uploaded JAR location, with single-flight uploads; see the module doc."""

    def __init__(
        self,
        max_entries: int = 256,
        ttl: float = DEFAULT_INBOX_EXPIRATION * TTL_FRACTION,
        clock: Callable[[], float] = time.monotonic,
        path: Path | None = None,
        *,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        if max_entries < 1:
            raise ValueError(f"max_entries must be at least 1, got {max_entries}")
        if not ttl > 0:
            raise ValueError(f"ttl must be positive, got {ttl}")
        self.max_entries = max_entries
        self.ttl = ttl
        self.path = path
        self._clock = clock
        self._wall_clock = wall_clock
        self._entries: collections.OrderedDict[Key, _Entry] = collections.OrderedDict()
        self._inflight: dict[Key, asyncio.Task[str]] = {}
        self._stats = CacheStats()
        if path is not None:
            self._load(path)

    @staticmethod
    def ttl_for(nimbus_conf: Mapping[str, Any]) -> float:
        """The ttl for a cluster whose ``getNimbusConf()`` (parsed JSON) is ``nimbus_conf``.

        75 % of ``nimbus.inbox.jar.expiration.secs`` (Storm's default 3600 s when
        absent); ``ValueError`` if the value is not a positive, finite number.
        """
        raw = nimbus_conf.get("nimbus.inbox.jar.expiration.secs", DEFAULT_INBOX_EXPIRATION)
        try:
            # Storm reads it with ObjectReader.getInt, which takes numbers and numeric strings.
            seconds = float(raw) if isinstance(raw, int | float | str) else math.nan
        except ValueError:
            seconds = math.nan
        if isinstance(raw, bool) or not seconds > 0 or math.isinf(seconds):
            raise ValueError(f"nimbus.inbox.jar.expiration.secs must be a positive number: {raw!r}")
        return seconds * TTL_FRACTION

    def stats(self) -> CacheStats:
        """The counters, and the number of entries right now."""
        return dataclasses.replace(self._stats, entries=len(self._entries))

    def _count(self, **deltas: int) -> None:
        self._stats = dataclasses.replace(
            self._stats, **{k: getattr(self._stats, k) + v for k, v in deltas.items()}
        )

    def lookup(self, cluster: str, sha256: str) -> str | None:
        """The cached location for the key, if fresh; counts nothing and calls nothing."""
        entry = self._fresh((cluster, sha256.lower()))
        return entry.location if entry else None

    def _fresh(self, key: Key) -> _Entry | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if self._clock() - entry.uploaded >= self.ttl:
            del self._entries[key]
            self._count(expirations=1)
            self._save()
            return None
        return entry

    async def get_or_upload(
        self, cluster: str, sha256: str, upload: Callable[[], Awaitable[str]]
    ) -> CacheResult:
        """The location of the JAR ``sha256`` on ``cluster``, uploading it if needed.

        ``upload`` performs the upload and returns Nimbus's location; it is called
        at most once per miss, however many callers wait. Its exception reaches
        every waiter and is not cached.
        """
        key = (cluster, sha256.lower())
        entry = self._fresh(key)
        if entry is not None:
            self._entries.move_to_end(key)
            self._count(hits=1)
            return CacheResult(entry.location, True)
        self._count(misses=1)
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.create_task(self._upload(key, upload), name=f"jar-upload:{key}")
            self._inflight[key] = task
            task.add_done_callback(functools.partial(self._upload_done, key))
        # shield: cancelling this waiter must not cancel the upload the others share.
        return CacheResult(await asyncio.shield(task), False)

    async def _upload(self, key: Key, upload: Callable[[], Awaitable[str]]) -> str:
        self._count(uploads=1)
        try:
            location = await upload()
        except Exception:
            self._count(failures=1)
            raise
        finally:
            # Before the waiters resume: a caller arriving later starts a new upload
            # (after a failure) or finds the entry (after success), never this task.
            del self._inflight[key]
        self._store(key, location)
        return location

    def _upload_done(self, key: Key, task: asyncio.Task[str]) -> None:
        # A task cancelled before it ran never reached _upload's finally.
        if self._inflight.get(key) is task:
            del self._inflight[key]
        # Mark the exception retrieved: when every waiter was cancelled, nobody else does.
        if not task.cancelled():
            task.exception()

    def _store(self, key: Key, location: str) -> None:
        self._entries[key] = _Entry(location, self._clock(), self._wall_clock())
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
            self._count(evictions=1)
        self._save()

    def invalidate(self, cluster: str, sha256: str) -> bool:
        """Forget the key (Nimbus no longer has that upload); whether it was cached."""
        removed = self._entries.pop((cluster, sha256.lower()), None) is not None
        if removed:
            self._save()
        return removed

    async def aclose(self) -> None:
        """Cancel uploads still running and wait for them to end."""
        tasks = list(self._inflight.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- persistence ---------------------------------------------------------------------------

    def _save(self) -> None:
        if self.path is None:
            return
        document = {
            "version": _FORMAT_VERSION,
            # Oldest first, so that loading keeps the LRU order.
            "entries": [
                {
                    "cluster": cluster,
                    "sha256": sha256,
                    "location": entry.location,
                    "uploaded_at": entry.uploaded_wall,
                }
                for (cluster, sha256), entry in self._entries.items()
            ],
        }
        try:
            _write_atomic(self.path, json.dumps(document, indent=1).encode())
        except OSError as exc:
            log.warning("cannot save the JAR cache to %s (uploads may repeat): %s", self.path, exc)

    def _load(self, path: Path) -> None:
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return
        except (OSError, UnicodeDecodeError) as exc:
            log.warning("ignoring the JAR cache file %s: cannot read it: %s", path, exc)
            return
        try:
            loaded = _parse(json.loads(text))
        except (ValueError, TypeError, KeyError) as exc:
            log.warning("ignoring the JAR cache file %s: not a valid cache: %s", path, exc)
            return
        now, wall_now = self._clock(), self._wall_clock()
        for key, location, uploaded_at in loaded:
            age = wall_now - uploaded_at
            if 0 <= age < self.ttl:
                self._entries[key] = _Entry(location, now - age, uploaded_at)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
        log.debug(
            "loaded %d of %d JAR cache entries from %s", len(self._entries), len(loaded), path
        )


def _parse(document: Any) -> list[tuple[Key, str, float]]:
    """The entries of a cache file's JSON, or ``ValueError``/``TypeError``/``KeyError``."""
    if not isinstance(document, dict) or document.get("version") != _FORMAT_VERSION:
        raise ValueError(f"expected a version {_FORMAT_VERSION} cache document")
    entries = []
    for item in document["entries"]:
        cluster, sha256, location = item["cluster"], item["sha256"], item["location"]
        uploaded_at = item["uploaded_at"]
        if not all(isinstance(v, str) for v in (cluster, sha256, location)):
            raise TypeError(f"cluster, sha256 and location must be strings: {item!r}")
        if isinstance(uploaded_at, bool) or not isinstance(uploaded_at, int | float):
            raise TypeError(f"uploaded_at must be a number: {item!r}")
        entries.append(((cluster, sha256.lower()), location, float(uploaded_at)))
    return entries


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise

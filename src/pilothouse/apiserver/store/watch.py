"""Watch fan-out with a retained history window.

Every committed :class:`~pilothouse.apiserver.store.records.Event` is appended to a bounded
history ring and handed to the watchers of its resource. A watcher is a bounded queue drained
by its own HTTP response task, so a slow client only ever stalls itself: when its backlog
passes ``max_backlog`` events it is closed (the client sees its stream end and re-watches
from its last resourceVersion), which is what kube-apiserver does with watchers that cannot
keep up.

A watch may start at any resourceVersion still inside the history window; older ones get
``410 Gone`` (:class:`Expired`), and the client relists.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable, Iterable

import orjson

from pilothouse.apiserver.store import records

#: Decides whether a record is visible to a watcher (namespace, label and field selectors).
Matcher = Callable[[records.Record], bool]


class Expired(Exception):
    """The requested resourceVersion is older than the retained history."""

    def __init__(self, requested: int, oldest: int) -> None:
        super().__init__(f"too old resource version: {requested} ({oldest})")
        self.requested = requested
        self.oldest = oldest


class Watcher:
    """One watch stream's queue. Items are ``(type, event)`` pairs."""

    def __init__(
        self, hub: WatchHub, group_resource: str, matcher: Matcher, max_backlog: int
    ) -> None:
        self._hub = hub
        self.group_resource = group_resource
        self.matcher = matcher
        self.max_backlog = max_backlog
        self.queue: collections.deque[tuple[str, records.Event]] = collections.deque()
        self.closed = False
        self.close_reason = ""
        self._wakeup = asyncio.Event()
        #: Highest resourceVersion this watcher is known to be up to date with.
        self.last_rv = 0
        #: Events at or below this resourceVersion are already known to the client.
        self.start_rv = 0

    def offer(self, event: records.Event) -> None:
        if event.rv <= self.start_rv:
            return
        new_ok = self.matcher(event.record)
        if event.type == records.ADDED:
            type_ = records.ADDED if new_ok else None
        elif event.type == records.DELETED:
            type_ = records.DELETED if new_ok else None
        else:
            old_ok = event.prev is not None and self.matcher(event.prev)
            if new_ok:
                type_ = records.MODIFIED if old_ok else records.ADDED
            else:
                type_ = records.DELETED if old_ok else None
        self.last_rv = event.rv
        if type_ is None:
            return
        if len(self.queue) >= self.max_backlog:
            self.close("watcher could not keep up")
            return
        self.queue.append((type_, event))
        self._wakeup.set()

    def close(self, reason: str = "") -> None:
        if not self.closed:
            self.closed = True
            self.close_reason = reason
            self._hub.unsubscribe(self)
            self._wakeup.set()

    async def wait(self, timeout: float | None) -> bool:
        """Wait until events are queued or the watcher closes; False on timeout."""
        if self.queue or self.closed:
            return True
        self._wakeup.clear()
        try:
            async with asyncio.timeout(timeout):
                await self._wakeup.wait()
        except TimeoutError:
            return False
        return True

    def drain(self) -> list[bytes]:
        """Every queued event as wire lines (DELETED-by-filter events carry the previous
        object state at the deletion's resourceVersion, as the real watch cache sends)."""
        out: list[bytes] = []
        while self.queue:
            type_, event = self.queue.popleft()
            if type_ == records.DELETED and event.type == records.MODIFIED and event.prev:
                obj = event.prev.obj()
                obj.setdefault("metadata", {})["resourceVersion"] = str(event.rv)
                out.append(b'{"type":"DELETED","object":' + orjson.dumps(obj) + b"}\n")
            else:
                out.append(event.wire(type_))
        return out


class WatchHub:
    """History window plus the set of live watchers per resource."""

    def __init__(self, history_size: int = 100_000, max_backlog: int = 20_000) -> None:
        self.history: collections.deque[records.Event] = collections.deque(maxlen=history_size)
        self.max_backlog = max_backlog
        self._watchers: dict[str, set[Watcher]] = collections.defaultdict(set)
        #: resourceVersion of the newest dispatched event (or the store's revision at boot).
        self.dispatched_rv = 0
        #: Watches may start from any rv >= this one.
        self.oldest_rv = 0

    def reset(self, revision: int) -> None:
        self.dispatched_rv = revision
        self.oldest_rv = revision

    def dispatch(self, events: Iterable[records.Event]) -> None:
        for event in events:
            self.history.append(event)
            if len(self.history) == self.history.maxlen:
                # The event just pushed out is no longer replayable.
                self.oldest_rv = self.history[0].rv - 1
            self.dispatched_rv = event.rv
            for watcher in tuple(self._watchers.get(event.record.group_resource, ())):
                watcher.offer(event)

    def subscribe(
        self,
        group_resource: str,
        matcher: Matcher,
        from_rv: int,
        *,
        replay: bool = True,
    ) -> Watcher:
        """A watcher receiving every event after ``from_rv``. Raises :class:`Expired` if that
        is older than the history window. With ``replay=False`` the caller has already sent a
        snapshot that is current as of ``from_rv``."""
        watcher = Watcher(self, group_resource, matcher, self.max_backlog)
        watcher.start_rv = from_rv
        if replay and from_rv < self.dispatched_rv:
            if from_rv < self.oldest_rv:
                raise Expired(from_rv, self.oldest_rv + 1)
            for event in self._since(from_rv):
                if event.record.group_resource == group_resource:
                    watcher.offer(event)
        watcher.last_rv = max(from_rv, self.dispatched_rv) if replay else from_rv
        self._watchers[group_resource].add(watcher)
        return watcher

    def _since(self, rv: int) -> Iterable[records.Event]:
        # History is ordered by rv; walk from the right end, which is where resumptions land.
        hist = self.history
        idx = len(hist)
        while idx > 0 and hist[idx - 1].rv > rv:
            idx -= 1
        for i in range(idx, len(hist)):
            yield hist[i]

    def unsubscribe(self, watcher: Watcher) -> None:
        self._watchers.get(watcher.group_resource, set()).discard(watcher)

    def close_all(self, group_resource: str | None = None) -> None:
        targets = (
            [w for ws in self._watchers.values() for w in ws]
            if group_resource is None
            else list(self._watchers.get(group_resource, ()))
        )
        for w in targets:
            w.close("server closed the watch")

    def watcher_count(self) -> int:
        return sum(len(w) for w in self._watchers.values())

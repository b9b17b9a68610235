"""One shared watch of the namespace's Sessions, fanned out to WebSocket subscribers.

Why one watch: a watch per connected browser would multiply API-server watches by the
number of open dashboards. Instead :class:`SessionStream` keeps a single list + watch of
Sessions per API process, mirrors them in memory (an informer in miniature), and hands
each subscriber (:meth:`SessionStream.subscribe`) the changes to its user's sessions.

Consistency: a subscription's snapshot is taken from the mirror at the moment the
subscriber is registered, with no ``await`` in between, so every later event reaches it
exactly once and none before it is repeated. The watch resumes from the last
resourceVersion seen (bookmarks included) when its stream ends or breaks, which loses and
repeats nothing; only when the server answers 410 Gone (or the list itself failed) does it
re-list, and then every subscriber receives a fresh snapshot, since events in between
cannot be replayed.

Back-pressure: each subscriber's queue holds at most ``queue_limit`` messages. A subscriber
that falls that far behind is dropped and gets a :class:`Close` with
:data:`CLOSE_TOO_SLOW` instead of the stream growing without bound; it can reconnect and
start again from a snapshot.

Messages are JSON-ready dicts: ``{"type": "snapshot", "sessions": [...]}`` and
``{"type": "ADDED" | "MODIFIED" | "DELETED", "session": {...}}``, a session in the shape
of the GET routes (:func:`.schemas.session_out`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from pilothouse.client import client as client_mod
from pilothouse.client import errors
from pilothouse.operators.sessions import session as session_mod
from pilothouse.operators.sessions.api import schemas

__all__ = [
    "CLOSE_GOING_AWAY",
    "CLOSE_TOO_SLOW",
    "Close",
    "Message",
    "SessionStream",
    "Subscription",
]

log = logging.getLogger(__name__)

SESSION = session_mod.Session.kind_info()
#: WebSocket close code for a subscriber that fell behind (application range 4000-4999;
#: 4429 echoes HTTP's "Too Many Requests").
CLOSE_TOO_SLOW = 4429
#: The standard "going away": the API process is shutting down.
CLOSE_GOING_AWAY = 1001
# The server ends each watch after this long, so a connection that died silently is noticed
# by the inactivity timeout (a little longer) rather than hanging the stream forever.
_WATCH_SECONDS = 300
_INACTIVITY_SECONDS = 330.0
_BACKOFF_MIN = 0.1
_BACKOFF_MAX = 5.0

Message = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Close:
    """The end of a subscription: the WebSocket is closed with ``code`` and ``reason``
    (``code`` None: the client went away itself, nothing to send)."""

    code: int | None
    reason: str = ""


def _user_of(obj: dict[str, Any]) -> str | None:
    # The spec decides whose a session is (labels are only a filter: anyone may edit one).
    user = (obj.get("spec") or {}).get("user")
    return user if isinstance(user, str) else None


def _session_json(obj: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = schemas.session_out(obj).model_dump(mode="json", by_alias=True)
    return out


class Subscription:
    """One subscriber's queue of messages (see the module docstring)."""

    def __init__(self, user: str, limit: int) -> None:
        self.user = user
        self._limit = limit
        # Unbounded as an asyncio.Queue, bounded by push(): one slot is always left for the
        # final Close, so a full subscriber can still be told why it is dropped.
        self._queue: asyncio.Queue[Message | Close] = asyncio.Queue()
        self.closed: Close | None = None

    def push(self, message: Message) -> bool:
        """Queue ``message``; False (and the subscription closed) when it is full."""
        if self.closed is not None:
            return False
        if self._queue.qsize() >= self._limit:
            self.close(Close(CLOSE_TOO_SLOW, "too slow: fell behind the session stream"))
            return False
        self._queue.put_nowait(message)
        return True

    def close(self, close: Close) -> None:
        """End the subscription: ``close`` is the last message :meth:`get` returns."""
        if self.closed is None:
            self.closed = close
            self._queue.put_nowait(close)

    async def get(self) -> Message | Close:
        return await self._queue.get()


class SessionStream:
    """The shared watch (see the module docstring). :meth:`start` it once, :meth:`stop` it
    at shutdown (which closes every subscription with :data:`CLOSE_GOING_AWAY`)."""

    def __init__(self, kube: client_mod.Client, namespace: str, *, queue_limit: int = 256) -> None:
        self._kube = kube
        self._namespace = namespace
        self._queue_limit = queue_limit
        self._sessions: dict[str, dict[str, Any]] = {}
        self._subscribers: set[Subscription] = set()
        self._synced = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.relists = 0
        """How many times the stream listed (the first sync included): for tests."""

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="session-stream")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for sub in list(self._subscribers):
            sub.close(Close(CLOSE_GOING_AWAY, "the sessions API is shutting down"))
        self._subscribers.clear()

    @contextlib.asynccontextmanager
    async def subscribe(self, user: str) -> AsyncIterator[Subscription]:
        """A subscription to ``user``'s sessions, starting with a snapshot (after the
        first list, which it waits for)."""
        await self._synced.wait()
        sub = Subscription(user, self._queue_limit)
        # No await between the snapshot and the registration: nothing lost, nothing twice.
        sub.push(self._snapshot(user))
        self._subscribers.add(sub)
        try:
            yield sub
        finally:
            self._subscribers.discard(sub)

    def _snapshot(self, user: str) -> Message:
        mine = [o for o in self._sessions.values() if _user_of(o) == user]
        mine.sort(key=lambda o: str(o["metadata"]["name"]))
        return {"type": "snapshot", "sessions": [_session_json(o) for o in mine]}

    def _deliver(self, sub: Subscription, message: Message) -> None:
        if not sub.push(message):
            self._subscribers.discard(sub)

    async def _relist(self) -> str:
        page = await self._kube.list_all(SESSION, self._namespace)
        self._sessions = {o["metadata"]["name"]: o for o in page.items}
        self.relists += 1
        self._synced.set()
        # Events between the old watch and this list are lost: start everyone over.
        for sub in list(self._subscribers):
            self._deliver(sub, self._snapshot(sub.user))
        return page.resource_version

    def _apply(self, kind: str, obj: dict[str, Any]) -> None:
        name = obj["metadata"]["name"]
        if kind == "DELETED":
            self._sessions.pop(name, None)
        else:
            self._sessions[name] = obj
        user = _user_of(obj)
        targets = [s for s in self._subscribers if s.user == user]
        if not targets:
            return
        message = {"type": kind, "session": _session_json(obj)}
        for sub in targets:
            self._deliver(sub, message)

    async def _run(self) -> None:
        backoff = _BACKOFF_MIN
        rv: str | None = None
        while True:
            try:
                if rv is None:
                    rv = await self._relist()
                async for event in self._kube.watch(
                    SESSION,
                    self._namespace,
                    resource_version=rv,
                    allow_bookmarks=True,
                    timeout_seconds=_WATCH_SECONDS,
                    inactivity_timeout=_INACTIVITY_SECONDS,
                ):
                    if event.type in ("ADDED", "MODIFIED", "DELETED"):
                        self._apply(event.type, event.object)
                    rv = event.resource_version or rv
                    backoff = _BACKOFF_MIN
                # The server ended the watch (its timeout): resume where it stopped.
                continue
            except errors.Gone:
                log.info("session watch: resourceVersion %s expired, listing again", rv)
                rv = None
                continue
            except asyncio.CancelledError:
                raise
            except Exception:
                # Resume from rv (or list again if the list failed), after a pause so an
                # API server that is down is not hammered.
                log.warning("session watch failed; retrying in %.1fs", backoff, exc_info=True)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, _BACKOFF_MAX)

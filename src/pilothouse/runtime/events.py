"""Events: tell humans what a controller did, without ever hurting the controller.

:class:`EventRecorder` emits ``events.k8s.io/v1`` Events about objects (``kubectl describe``
shows them, ``kubectl events --for`` lists them), in the manner of client-go's
``tools/events`` ``EventBroadcaster``:

* **Aggregation into series.** Isomorphic events -- the same ``regarding`` object,
  ``type``, ``reason``, ``action``, ``note`` and reporting controller -- within
  :attr:`~EventRecorder.series_window` of the previous one do not create new Event objects:
  the first creates an Event, later ones PATCH its ``series`` (``count`` starting at 2, as
  the API requires, and ``lastObservedTime``). Repeats queued together are coalesced into a
  single PATCH. If the Event was garbage-collected meanwhile (events have a TTL) a new one
  is created.
* **Rate limiting.** A token bucket per regarding object (burst 25, one token back every
  5 minutes: client-go's spam filter) drops events beyond that, so a reconciler stuck in a
  hot loop cannot flood the API server. Dropped events are counted in
  :attr:`~EventRecorder.dropped` and logged at debug level.
* **Never raises, never blocks.** :meth:`~EventRecorder.event` is a plain (non-async) method
  that validates, rate-limits and enqueues; a background task does the writes. A full queue
  drops the event; API errors are logged. A reconciler cannot fail or stall because events
  could not be recorded. (Programming errors -- a bad ``type`` -- are logged too, as
  client-go does, rather than raised.)

Use :meth:`~EventRecorder.flush` to wait until everything queued was written (tests,
shutdown) and :meth:`~EventRecorder.close` (or ``async with``) to stop the writer.

Caveats:

* Events are best effort by design: on process exit, whatever is still queued is lost
  unless :meth:`~EventRecorder.close` was awaited; rate-limited and queue-overflow events
  are lost by design.
* Series state lives in this process. Two replicas (or a restart) each start their own
  Event for the same occurrence.
* Must be used from the event loop thread that runs the recorder.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from pilothouse.api.kinds import EVENT
from pilothouse.client import errors, typed
from pilothouse.runtime.clock import Clock, RealClock

__all__ = ["NORMAL", "WARNING", "EventRecorder", "format_micro_time"]

log = logging.getLogger(__name__)

NORMAL: Literal["Normal"] = "Normal"
WARNING: Literal["Warning"] = "Warning"

#: events.k8s.io/v1 validation limits.
NOTE_MAX_BYTES = 1024
REASON_MAX_LENGTH = 128
ACTION_MAX_LENGTH = 128
#: client-go's LRU bound on remembered series (``maxLruCacheEntries``).
CACHE_SIZE = 4096


def format_micro_time(when: datetime) -> str:
    """``metav1.MicroTime``: RFC 3339 with microseconds, UTC (``2024-01-01T00:00:00.000000Z``)."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _truncate_utf8(text: str, limit: int) -> str:
    raw = text.encode()
    return text if len(raw) <= limit else raw[:limit].decode(errors="ignore")


@dataclass
class _Bucket:
    tokens: float
    stamp: float


@dataclass
class _Series:
    name: str
    namespace: str
    count: int
    last_seen: float


@dataclass
class _Pending:
    key: tuple[Any, ...]
    event: dict[str, Any]
    when: datetime  # wall-clock time of the latest occurrence
    at: float  # runtime-clock time of the latest occurrence
    first: datetime  # wall-clock time of the first occurrence (eventTime)
    occurrences: int = field(default=1)


class EventRecorder:
    """Record events as ``controller_name`` (``reportingController``, e.g.
    ``example.com/storm-operator``) from ``instance`` (``reportingInstance``, e.g. the pod
    name). ``client`` needs ``create`` and ``patch`` (a :class:`pilothouse.client.client.Client`).

    ``clock`` (the runtime's :class:`~pilothouse.runtime.clock.Clock`) times the rate limit
    and the series window; ``wall_clock`` stamps ``eventTime``/``lastObservedTime``.
    """

    def __init__(
        self,
        client: Any,
        controller_name: str,
        instance: str,
        *,
        series_window: float = 360.0,
        burst: int = 25,
        refill_interval: float = 300.0,
        queue_size: int = 1000,
        clock: Clock | None = None,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if not controller_name or not instance:
            raise ValueError("controller_name and instance are required")
        self.client = client
        self.controller_name = controller_name[:128]
        self.instance = instance[:128]
        self.series_window = series_window
        self.burst = burst
        self.refill_interval = refill_interval
        self.clock: Clock = clock or RealClock()
        self.wall_clock = wall_clock
        #: Events dropped by the rate limit, a full queue, or validation.
        self.dropped = 0
        #: Writes that failed (logged).
        self.failed = 0
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue(queue_size)
        self._buckets: OrderedDict[tuple[Any, ...], _Bucket] = OrderedDict()
        self._series: OrderedDict[tuple[Any, ...], _Series] = OrderedDict()
        self._worker: asyncio.Task[None] | None = None
        self._closed = False

    # -- the reconciler's side: synchronous, cheap, never raises ----------------------------

    def event(
        self,
        regarding: Any,
        type: str,
        reason: str,
        action: str,
        note: str = "",
        *,
        related: Any = None,
    ) -> None:
        """Record an event about ``regarding`` (an object dict or model). Never raises."""
        try:
            self._record(regarding, type, reason, action, note, related)
        except (ValueError, TypeError, RuntimeError) as exc:  # bad input, closed, no loop
            self.dropped += 1
            log.warning("dropping event %s/%s: %s", reason, action, exc)
        except Exception:
            self.dropped += 1
            log.exception("could not record event %s/%s", reason, action)

    def normal(self, regarding: Any, reason: str, action: str, note: str = "") -> None:
        self.event(regarding, NORMAL, reason, action, note)

    def warning(self, regarding: Any, reason: str, action: str, note: str = "") -> None:
        self.event(regarding, WARNING, reason, action, note)

    def _record(
        self, regarding: Any, type: str, reason: str, action: str, note: str, related: Any
    ) -> None:
        if self._closed:
            raise RuntimeError("the recorder is closed")
        if type not in (NORMAL, WARNING):
            raise ValueError(f"event type must be Normal or Warning, not {type!r}")
        if not reason or len(reason) > REASON_MAX_LENGTH:
            raise ValueError(f"reason must be 1-{REASON_MAX_LENGTH} characters")
        if not action or len(action) > ACTION_MAX_LENGTH:
            raise ValueError(f"action must be 1-{ACTION_MAX_LENGTH} characters")
        ref = _reference(regarding)
        rel = _reference(related) if related is not None else None
        note = _truncate_utf8(note, NOTE_MAX_BYTES)
        now = self.clock.now()
        if not self._take_token(_ref_key(ref), now):
            self.dropped += 1
            log.debug("event %s about %s dropped by the rate limit", reason, ref.get("name"))
            return
        event: dict[str, Any] = {
            "apiVersion": EVENT.api_version,
            "kind": EVENT.kind,
            "regarding": ref,
            "type": type,
            "reason": reason,
            "action": action,
            "note": note,
            "reportingController": self.controller_name,
            "reportingInstance": self.instance,
        }
        if rel is not None:
            event["related"] = rel
        key = (_ref_key(ref), _ref_key(rel) if rel else None, type, reason, action, note)
        self._ensure_worker()
        try:
            stamp = self.wall_clock()
            self._queue.put_nowait(_Pending(key, event, stamp, now, stamp))
        except asyncio.QueueFull:
            self.dropped += 1
            log.warning("event queue full; dropping event %s about %s", reason, ref.get("name"))

    def _take_token(self, key: tuple[Any, ...], now: float) -> bool:
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(float(self.burst), now)
            if len(self._buckets) > CACHE_SIZE:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
            refill = (now - bucket.stamp) / self.refill_interval
            bucket.tokens = min(float(self.burst), bucket.tokens + refill)
            bucket.stamp = now
        if bucket.tokens < 1.0:
            return False
        bucket.tokens -= 1.0
        return True

    def _ensure_worker(self) -> None:
        if self._worker is None or self._worker.done():
            # Needs a running loop; outside one this raises, and event() logs it.
            self._worker = asyncio.get_running_loop().create_task(
                self._run(), name=f"event-recorder:{self.controller_name}"
            )

    # -- the writer's side ------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                # Coalesce repeats queued together: one write per distinct event.
                merged: dict[tuple[Any, ...], _Pending] = {}
                for item in batch:
                    seen = merged.get(item.key)
                    if seen is None:
                        merged[item.key] = item
                    else:
                        seen.occurrences += item.occurrences
                        seen.when, seen.at = item.when, item.at
                for item in merged.values():
                    await self._write(item)
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _write(self, item: _Pending) -> None:
        try:
            series = self._series.get(item.key)
            if series is not None and item.at - series.last_seen <= self.series_window:
                self._series.move_to_end(item.key)
                series.count += item.occurrences
                series.last_seen = item.at
                patch = {
                    "series": {
                        "count": series.count,
                        "lastObservedTime": format_micro_time(item.when),
                    }
                }
                try:
                    await self.client.patch(
                        EVENT, series.name, patch, namespace=series.namespace, patch_type="merge"
                    )
                    return
                except errors.NotFound:
                    pass  # expired (event TTL): start a new Event below
            await self._create(item)
        except Exception as exc:
            self.failed += 1
            log.warning("could not write event %s: %s", item.event.get("reason"), exc)

    async def _create(self, item: _Pending) -> None:
        ref = item.event["regarding"]
        namespace = ref.get("namespace") or "default"
        # client-go's naming: the regarding object's name and the time in hex nanoseconds.
        suffix = f".{int(item.first.timestamp() * 1e9):x}"
        name = f"{ref.get('name') or 'event'}"[: 253 - len(suffix)] + suffix
        body = dict(item.event)
        body["metadata"] = {"name": name, "namespace": namespace}
        body["eventTime"] = format_micro_time(item.first)
        if item.occurrences > 1:
            body["series"] = {
                "count": item.occurrences,
                "lastObservedTime": format_micro_time(item.when),
            }
        await self.client.create(body)
        self._series[item.key] = _Series(name, namespace, item.occurrences, item.at)
        self._series.move_to_end(item.key)
        if len(self._series) > CACHE_SIZE:
            self._series.popitem(last=False)

    # -- lifecycle --------------------------------------------------------------------------

    async def flush(self) -> None:
        """Wait until every queued event has been written (or failed)."""
        if self._worker is not None and not self._worker.done():
            await self._queue.join()

    async def close(self) -> None:
        """Flush, then stop the writer. Later events are dropped."""
        self._closed = True
        await self.flush()
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None

    async def __aenter__(self) -> EventRecorder:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def _reference(obj: Any) -> dict[str, Any]:
    """An ``ObjectReference`` to ``obj`` (an object dict, or already a reference)."""
    o = typed.encode(obj)
    meta = o.get("metadata")
    if not isinstance(meta, Mapping):
        meta = o  # already an ObjectReference-shaped dict
    ref = {
        "apiVersion": o.get("apiVersion"),
        "kind": o.get("kind"),
        "name": meta.get("name"),
        "namespace": meta.get("namespace"),
        "uid": meta.get("uid"),
        "resourceVersion": meta.get("resourceVersion"),
    }
    if not ref["kind"] or not ref["name"]:
        raise ValueError("the regarding object needs a kind and metadata.name")
    return {k: v for k, v in ref.items() if v}


def _ref_key(ref: Mapping[str, Any]) -> tuple[Any, ...]:
    # resourceVersion changes with every write; the object is the same.
    return tuple(ref.get(k) for k in ("apiVersion", "kind", "namespace", "name", "uid"))

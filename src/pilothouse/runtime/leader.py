"""Leader election on a ``coordination.k8s.io/v1`` Lease, as client-go's ``leaderelection``.

Several replicas of an operator run :meth:`LeaderElector.run`; at most one of them leads
(runs its controllers) at a time, and another takes over when the leader dies.

How it works (client-go's algorithm):

* **Acquire.** Every ``retry_period`` (jittered up to x2.2, client-go's ``JitterFactor``
  1.2), read the Lease. Create it if missing. Take it over when it has no holder, or when
  ``leaseDurationSeconds`` have passed *on our local clock* since we last saw the Lease
  change (the "observed time" rule). Remote timestamps (``renewTime``) are written for
  humans and never compared with local time, so clock skew between machines cannot make
  two replicas lead at once -- only clock *rate* differences matter. A takeover increments
  ``leaseTransitions`` and records ``holderIdentity``, ``acquireTime``, ``renewTime``
  (MicroTime) and ``leaseDurationSeconds``.
* **Renew.** While leading, rewrite ``renewTime`` every ``retry_period``. Every write is a
  PUT carrying the ``resourceVersion`` we last saw, so a 409 Conflict means someone else
  wrote first and we re-read rather than overwrite.
* **Lose.** If no renewal has succeeded for ``renew_deadline`` (measured from the start of
  the last successful one), or the Lease is seen held by someone else, leadership ends
  **at once**: a timer fires at the deadline even if a renewal request is still hanging,
  and in that same callback :attr:`~LeaderElector.is_leader` becomes False, the ``leading``
  event is cleared, the leading task is cancelled and ``on_stopped_leading`` is called
  before any other coroutine runs. Since ``renew_deadline < lease_duration``, we stop
  before any other replica may take over.
* **Release.** With ``release_on_cancel`` (the default), cancelling :meth:`run` (or losing
  leadership) clears ``holderIdentity`` and sets ``leaseDurationSeconds`` to 1 if we still
  hold the Lease, so a successor takes over at its next retry instead of waiting a lease
  duration. Only do this if the caller has really stopped all leader work.

Guarantees and caveats:

* Leader election is not fencing: a leader paused longer than ``lease_duration`` (a GC
  stall, a suspended VM) resumes believing it leads until its deadline timer runs. Keep
  the work done under leadership idempotent and level-triggered.
* ``leaseDurationSeconds`` is an integer; a fractional ``lease_duration`` is rounded *up*
  (so a 1.5 s lease promises 2 s), never down, which would break the rule above.
* :meth:`run` runs once: it returns after leadership is lost (callers usually exit the
  process, as controller-runtime's manager does), and re-raises cancellation.
* ``on_stopped_leading`` is called only if leadership was gained (client-go calls it
  unconditionally); ``on_new_leader`` is called whenever the observed holder changes to a
  non-empty identity, including to ourselves.
* Timing runs on the runtime's :class:`~pilothouse.runtime.clock.Clock` (``clock=``; a
  ``FakeClock`` makes the schedule deterministic), except per-request timeouts, which are
  real time because they guard real sockets.
* ``on_started_leading`` may be a coroutine function: it then runs as a task that is
  cancelled when leadership ends (client-go's leading context). Callback exceptions are
  logged, never propagated into the election.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import functools
import inspect
import logging
import math
import random
import socket
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, Protocol

from pilothouse.api.kinds import LEASE
from pilothouse.client import errors
from pilothouse.runtime.clock import Clock, RealClock, Timer

__all__ = ["JITTER_FACTOR", "LeaderElector", "default_identity"]

log = logging.getLogger(__name__)

#: client-go's ``JitterFactor``: acquire retries wait retry_period * (1 + rand * 1.2).
JITTER_FACTOR = 1.2

Callback = Callable[[], Awaitable[None] | None]
LeaderCallback = Callable[[str], Awaitable[None] | None]


class _ChildGauge(Protocol):
    def set(self, value: float) -> None: ...


class GaugeLike(Protocol):
    """A ``prometheus_client.Gauge`` with a ``name`` label (``leader_election_master_status``)."""

    def labels(self, *args: str, **kwargs: str) -> _ChildGauge: ...


#: A gauge (set to 1/0 under ``name=<lease name>``) or a callback told True/False.
MetricHook = GaugeLike | Callable[[bool], None]


def default_identity() -> str:
    """``<hostname>_<uuid>``, controller-runtime's default identity (unique per process)."""
    return f"{socket.gethostname()}_{uuid.uuid4()}"


def _micro_time(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaderElector:
    """Elect a leader among the holders of ``identity`` on Lease ``namespace/name``."""

    def __init__(
        self,
        client: Any,
        name: str,
        namespace: str,
        identity: str,
        *,
        lease_duration: float = 15.0,
        renew_deadline: float = 10.0,
        retry_period: float = 2.0,
        release_on_cancel: bool = True,
        on_started_leading: Callback | None = None,
        on_stopped_leading: Callback | None = None,
        on_new_leader: LeaderCallback | None = None,
        metric: MetricHook | None = None,
        clock: Clock | None = None,
    ) -> None:
        if not name or not namespace or not identity:
            raise ValueError("name, namespace and identity are required")
        if lease_duration <= renew_deadline:
            raise ValueError("lease_duration must be greater than renew_deadline")
        if renew_deadline <= JITTER_FACTOR * retry_period:
            raise ValueError(f"renew_deadline must be greater than retry_period*{JITTER_FACTOR}")
        if retry_period <= 0:
            raise ValueError("retry_period must be positive")
        self.client = client
        self.name = name
        self.namespace = namespace
        self.identity = identity
        self.lease_duration = lease_duration
        self.renew_deadline = renew_deadline
        self.retry_period = retry_period
        self.release_on_cancel = release_on_cancel
        self.on_started_leading = on_started_leading
        self.on_stopped_leading = on_stopped_leading
        self.on_new_leader = on_new_leader
        self.metric = metric
        self.clock: Clock = clock or RealClock()
        #: Set while this replica leads; ``await elector.leading.wait()`` to start work.
        self.leading = asyncio.Event()
        #: Set once leadership, having been gained, is lost (or :meth:`run` ends).
        self.stopped = asyncio.Event()
        self._leading = False
        self._ran = False
        self._lease: dict[str, Any] | None = None  # as last read or written (resourceVersion)
        self._observed: dict[str, Any] = {}  # the Lease spec last seen
        self._observed_at = -math.inf  # local clock when it was seen to change
        self._renewed_at = -math.inf  # start of the last successful acquire/renew
        self._reported_leader = ""
        self._deadline: Timer | None = None
        self._leading_task: asyncio.Task[Any] | None = None
        self._renew_task: asyncio.Task[None] | None = None
        self._callbacks: set[asyncio.Task[Any]] = set()

    # -- public state ------------------------------------------------------------------------

    @property
    def is_leader(self) -> bool:
        """Whether this replica leads now. Turns False the moment leadership is lost."""
        return self._leading

    @property
    def leader(self) -> str | None:
        """The holder of the Lease as last observed (None if none)."""
        return self._observed.get("holderIdentity") or None

    async def wait_leading(self) -> None:
        await self.leading.wait()

    # -- the loop ----------------------------------------------------------------------------

    async def run(self) -> None:
        """Acquire, lead until the Lease cannot be renewed, then return (see module doc)."""
        if self._ran:
            raise RuntimeError("a LeaderElector runs once; create a new one to run again")
        self._ran = True
        try:
            await self._acquire()
            self._start_leading()
            # The renew loop runs as its own task so that losing leadership can cancel a
            # renewal still in flight: a late success must not extend a lease we gave up.
            self._renew_task = asyncio.create_task(self._renew())
            try:
                await asyncio.wait({self._renew_task})
            finally:
                # Wait for the cancelled renewal to unwind so no write of it races release.
                self._renew_task.cancel()
                await asyncio.wait({self._renew_task})
            self._stop_leading("lost the lease")
            if self.release_on_cancel:
                await self._release()
        except asyncio.CancelledError:
            self._stop_leading("cancelled")
            if self.release_on_cancel:
                await self._release()
            raise
        finally:
            self._stop_leading("stopped")
            self.stopped.set()
            await self._drain_callbacks()

    async def _acquire(self) -> None:
        while True:
            acquired = await self._attempt()
            self._report_leader()
            if acquired:
                log.info("%s acquired lease %s/%s", self.identity, self.namespace, self.name)
                return
            jitter = random.random() * JITTER_FACTOR * self.retry_period
            await self.clock.sleep(self.retry_period + jitter)

    async def _renew(self) -> None:
        """Renew every retry_period until leadership ends (then this task is cancelled)."""
        while self._leading:
            await self.clock.sleep(self.retry_period)
            renewed = await self._attempt()
            self._report_leader()
            if not self._leading:
                return
            if renewed:
                self._arm_deadline()
            elif self._observed.get("holderIdentity") != self.identity:
                self._stop_leading(f"lease taken by {self._observed.get('holderIdentity')!r}")
                return

    def _record(self, now: datetime, transitions: int) -> dict[str, Any]:
        stamp = _micro_time(now)
        return {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": math.ceil(self.lease_duration),
            "acquireTime": stamp,
            "renewTime": stamp,
            "leaseTransitions": transitions,
        }

    async def _attempt(self) -> bool:
        """client-go's ``tryAcquireOrRenew``; never raises (except cancellation).

        Each request is bounded by renew_deadline so a hung connection cannot stall
        acquisition; while leading, the deadline timer is what ends leadership.
        """
        try:
            # asyncio.timeout, not wait_for: Python 3.11's wait_for loses a cancellation that
            # lands as the attempt completes, and a cancelled elector would then never stop.
            async with asyncio.timeout(self.renew_deadline):
                return await self._try_acquire_or_renew()
        except Exception as exc:  # API, transport and timeout errors alike: retry later
            log.debug("lease %s/%s attempt failed: %r", self.namespace, self.name, exc)
            return False

    async def _try_acquire_or_renew(self) -> bool:
        started = self.clock.now()
        record = self._record(datetime.now(UTC), 0)
        # 1. Fast path: we hold it and nothing changed since, so update optimistically.
        if self._holding() and self._lease is not None:
            record["acquireTime"] = self._observed.get("acquireTime", record["acquireTime"])
            record["leaseTransitions"] = self._observed.get("leaseTransitions", 0)
            try:
                await self._write(record, started)
                return True
            except errors.ApiError as exc:
                log.debug("optimistic lease renewal failed (%s); re-reading", exc)
        # 2. Read, or create.
        try:
            lease: dict[str, Any] = await self.client.get(LEASE, self.name, self.namespace)
        except errors.NotFound:
            body = {
                "apiVersion": LEASE.api_version,
                "kind": LEASE.kind,
                "metadata": {"name": self.name, "namespace": self.namespace},
                "spec": record,
            }
            self._lease = await self.client.create(body)
            self._observe(record)
            self._renewed_at = started
            return True
        self._lease = lease
        spec = lease.get("spec") or {}
        if spec != self._observed:
            self._observe(spec)
        # 3. Someone else holds it, and it has not expired by our clock.
        holder = spec.get("holderIdentity") or ""
        if holder and holder != self.identity and self._valid():
            return False
        # 4. Take it over (or renew, if the holder is still us).
        if holder == self.identity:
            record["acquireTime"] = spec.get("acquireTime", record["acquireTime"])
            record["leaseTransitions"] = spec.get("leaseTransitions", 0)
        else:
            record["leaseTransitions"] = int(spec.get("leaseTransitions") or 0) + 1
        await self._write(record, started)
        return True

    async def _write(self, spec: dict[str, Any], started: float) -> None:
        assert self._lease is not None
        lease = copy.deepcopy(self._lease)
        lease["spec"] = spec
        self._lease = await self.client.update(lease)  # 409 if someone wrote since we read
        self._observe(spec)
        self._renewed_at = started

    def _observe(self, spec: dict[str, Any]) -> None:
        self._observed = dict(spec)
        self._observed_at = self.clock.now()

    def _holding(self) -> bool:
        """We are the holder as last observed, and it has not expired by our clock."""
        return self._observed.get("holderIdentity") == self.identity and self._valid()

    def _valid(self) -> bool:
        duration = self._observed.get("leaseDurationSeconds") or 0
        return bool(self._observed_at + float(duration) > self.clock.now())

    async def _release(self) -> None:
        """Give the Lease up if we still hold it as far as we know (client-go's release)."""
        if self._observed.get("holderIdentity") != self.identity or self._lease is None:
            return
        record = self._record(datetime.now(UTC), self._observed.get("leaseTransitions", 0))
        record["holderIdentity"] = ""
        record["leaseDurationSeconds"] = 1
        try:
            async with asyncio.timeout(self.renew_deadline):
                await self._write(record, self.clock.now())
            log.info("%s released lease %s/%s", self.identity, self.namespace, self.name)
        except Exception as exc:
            log.warning("failed to release lease %s/%s: %s", self.namespace, self.name, exc)

    # -- leadership transitions: synchronous, so nothing runs in between ------------------

    def _start_leading(self) -> None:
        self._leading = True
        self.leading.set()
        self._set_metric(True)
        self._arm_deadline()
        if self.on_started_leading is not None:
            result = self._call(self.on_started_leading)
            if result is not None:
                self._leading_task = result

    def _arm_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        deadline = self._renewed_at + self.renew_deadline
        if deadline <= self.clock.now():
            self._stop_leading("renew deadline passed")
            return
        self._deadline = self.clock.call_at(
            deadline, functools.partial(self._stop_leading, "renew deadline passed")
        )

    def _stop_leading(self, why: str) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        if not self._leading:
            return
        self._leading = False
        self.leading.clear()
        self.stopped.set()
        log.info("%s stopped leading %s/%s: %s", self.identity, self.namespace, self.name, why)
        if self._leading_task is not None:
            self._leading_task.cancel()
        renewing = self._renew_task
        if renewing is not None and renewing is not asyncio.current_task():
            renewing.cancel()
        self._set_metric(False)
        if self.on_stopped_leading is not None:
            self._call(self.on_stopped_leading)

    def _report_leader(self) -> None:
        holder = self._observed.get("holderIdentity") or ""
        if holder and holder != self._reported_leader:
            self._reported_leader = holder
            if self.on_new_leader is not None:
                self._call(self.on_new_leader, holder)

    def _call(
        self, fn: Callable[..., Awaitable[None] | None], *args: Any
    ) -> asyncio.Task[Any] | None:
        """Call a callback now; run what it returns (if awaitable) as a tracked task."""
        try:
            result = fn(*args)
        except Exception:
            log.exception("leader election callback %r failed", fn)
            return None
        if not inspect.isawaitable(result):
            return None
        task = asyncio.ensure_future(result)
        self._callbacks.add(task)
        task.add_done_callback(self._callback_done)
        return task

    def _callback_done(self, task: asyncio.Task[Any]) -> None:
        self._callbacks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("leader election callback failed", exc_info=task.exception())

    async def _drain_callbacks(self) -> None:
        if self._leading_task is not None and not self._leading_task.done():
            self._leading_task.cancel()
        pending = list(self._callbacks)
        if pending:
            with contextlib.suppress(Exception):
                await asyncio.gather(*pending, return_exceptions=True)

    def _set_metric(self, leading: bool) -> None:
        if self.metric is None:
            return
        try:
            labels = getattr(self.metric, "labels", None)
            if callable(labels):
                labels(name=self.name).set(1.0 if leading else 0.0)
            elif callable(self.metric):
                self.metric(leading)
        except Exception:
            log.exception("leader election metric hook failed")

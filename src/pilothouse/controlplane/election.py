"""Leader election among control-plane replicas, on etcd, exposed as an async signal.

Every replica runs one :class:`LeaderElection` with its own identity. The scheme is etcd's
``concurrency.Election``: each candidate grants itself a lease, puts
``<prefix><lease id in hex>`` = its identity attached to that lease (only if the key is
absent), and the candidate whose key has the smallest create revision leads. The others wait
in line; when a key disappears (resignation, lease expiry or revocation) the next one in
create-revision order takes over.

Guarantees
----------
* **At most one leader at a time, as seen through etcd's linearizable view.** Leadership is
  the ownership of the oldest live key under the prefix, which etcd decides in one total
  order; two candidates can never both own it at one revision.
* **A leader that cannot renew steps down before its lease can expire on the server.** The
  lease is kept alive every ``ttl / 3``. Locally the leader keeps a deadline: the monotonic
  time at which the last *successful* keepalive was *sent*, plus the TTL etcd granted, minus
  ``margin``. etcd starts the TTL only when it *receives* the keepalive, so the server's
  expiry is never earlier than ``deadline + margin``. A timer (not the next turn of some
  loop) fires at the deadline: ``is_leader`` turns False and the loss callbacks run, then
  the election campaigns again with a fresh lease. A keepalive answered with TTL 0, or the
  deletion of our key seen by the watch, is a loss too. ``is_leader`` also compares the
  deadline itself, so it never reads True past the deadline, even before the timer ran.
* **Handover is prompt.** A leader that stops (:meth:`LeaderElection.run` cancelled) or
  calls :meth:`LeaderElection.resign` revokes its lease, which deletes its key: the next
  candidate learns it from its watch one round trip later. A leader that dies is replaced
  once etcd expires its lease (the TTL plus etcd's expiry check, up to 0.5 s).

Assumptions
-----------
* Clocks run at nearly the same *rate* (bounded drift, far below ``margin / ttl``); they do
  not need to be synchronized, since no timestamp crosses the network.
* ``ttl`` is longer than etcd's election timeout, so leases survive an etcd leader change
  (etcd raises a shorter TTL to 1.5 x the election timeout itself; the granted TTL is used).
* The event loop is not blocked for longer than ``margin``: a blocked loop delays the timer.

Caveats
-------
* A process that is paused (SIGSTOP, a VM stall, a long GC pause) still believes it leads
  until it runs again; on resume the expired timer fires before any task continues, but an
  RPC already in flight when it was paused may land after another replica took over. Never
  rely on leadership alone for a write: attach a fencing token (our locks return one; the
  create revision of the leader's key, :attr:`LeaderElection.revision`, grows with every
  new leader too) and let the storage reject older tokens.
* An external revocation of the leader's lease (an operator, a test) makes the next
  candidate leader at the same revision as the old leader's key deletion; the old leader
  learns of it from its own watch a moment later, so the two may briefly overlap.
* Sync callbacks run inside the timer or the watch handler, at once. Async callbacks start
  as tasks on the next loop iteration, in firing order, but may overlap each other; put
  whatever must stop immediately on loss (cancelling leader-only work) in a sync callback.

Design notes: every candidate watches the whole prefix instead of only its predecessor's
key. With a handful of replicas the herd effect is negligible, and the prefix watch is what
lets followers report the current :attr:`~LeaderElection.leader`. The candidate set is read
once and then updated from the watch events (no re-read per change), so each decision is
made on one consistent revision of the store.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import logging
import math
from collections.abc import Awaitable, Callable

from pilothouse.controlplane import etcd as etcdmod
from pilothouse.controlplane.etcd import KV, Etcd, EtcdCompacted, EtcdError, EventType

log = logging.getLogger(__name__)

#: A gain or loss callback: a plain function or an async function, called without arguments.
Callback = Callable[[], Awaitable[None] | None]


@dataclasses.dataclass(eq=False)
class _Term:
    """One campaign: one lease, one key. Ends once, for good (``over``)."""

    lease: int
    key: bytes
    ttl: int
    deadline: float = -math.inf
    timer: asyncio.TimerHandle | None = None
    revision: int = 0  # create revision of our key; 0 until the put is known to have landed
    over: bool = False
    ended: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)


class LeadershipFlag:
    """An :class:`asyncio.Event`-like view of leadership (read-only)."""

    def __init__(self, election: LeaderElection) -> None:
        self._election = election
        self._event = asyncio.Event()

    def is_set(self) -> bool:
        return self._election.is_leader

    def _set(self, value: bool) -> None:
        if value:
            self._event.set()
        else:
            self._event.clear()

    async def wait(self) -> bool:
        """Return once this candidate leads (at once if it already does)."""
        while not self._election.is_leader:
            if self._event.is_set():
                # The deadline passed but its timer has not run yet: let it run.
                await asyncio.sleep(0)
            else:
                await self._event.wait()
        return True


class LeaderElection:
    """One candidate in the election under ``prefix``; see the module docstring.

    ``identity`` is what the others see as :attr:`leader` while this candidate leads.
    ``margin`` (default ``max(0.5, ttl / 4)`` seconds) is how long before the server could
    expire the lease this candidate stops believing it leads.
    """

    def __init__(
        self,
        etcd: Etcd,
        identity: str,
        *,
        prefix: bytes = b"/gitstratum-election/",
        ttl: int = 3,
        margin: float | None = None,
    ) -> None:
        if not identity:
            raise ValueError("identity must not be empty")
        if ttl < 2:
            raise ValueError(f"ttl must be at least 2 seconds, got {ttl}")
        margin = max(0.5, ttl / 4) if margin is None else margin
        if not 0 < margin <= ttl / 2:
            raise ValueError(f"margin must be in (0, ttl/2], got {margin}")
        self._etcd = etcd
        self.identity = identity
        # A trailing "/" keeps the election "/a" from seeing the keys of "/ab".
        self.prefix = prefix if prefix.endswith(b"/") else prefix + b"/"
        self.ttl = ttl
        self.margin = margin
        self._loop: asyncio.AbstractEventLoop | None = None
        self._term: _Term | None = None
        self._leading = False
        self._leader: str | None = None
        self._running = False
        self._on_gain: list[Callback] = []
        self._on_loss: list[Callback] = []
        self._callback_tasks: set[asyncio.Task[None]] = set()
        self.leading = LeadershipFlag(self)

    # -- observation -----------------------------------------------------------------------

    @property
    def is_leader(self) -> bool:
        """True while this candidate leads and its local lease deadline has not passed."""
        term = self._term
        return (
            self._leading
            and term is not None
            and not term.over
            and self._loop is not None
            and self._loop.time() < term.deadline
        )

    @property
    def leader(self) -> str | None:
        """The identity of the leader as last observed (None: unknown, e.g. while cut off)."""
        return None if self._leading and not self.is_leader else self._leader

    @property
    def revision(self) -> int | None:
        """The create revision of our key while we lead: it grows with every new leader."""
        term = self._term
        return term.revision if self.is_leader and term is not None else None

    @property
    def lease(self) -> int | None:
        """The lease of the current campaign (for diagnostics and tests)."""
        term = self._term
        return term.lease if term is not None and not term.over else None

    def on_gain(self, callback: Callback) -> Callback:
        """Call ``callback`` each time this candidate becomes leader (usable as a decorator)."""
        self._on_gain.append(callback)
        return callback

    def on_loss(self, callback: Callback) -> Callback:
        """Call ``callback`` each time this candidate stops leading (usable as a decorator)."""
        self._on_loss.append(callback)
        return callback

    async def wait_leader(self) -> None:
        """Return once this candidate leads (at once if it already does)."""
        await self.leading.wait()

    # -- campaigning -----------------------------------------------------------------------

    async def run(self) -> None:
        """Campaign until cancelled, re-campaigning with a new lease after every loss.

        On cancellation the candidate steps down locally first (loss callbacks run), then
        revokes its lease so the next candidate takes over at once."""
        if self._running:
            raise RuntimeError("this election is already running")
        self._running = True
        self._loop = loop = asyncio.get_running_loop()
        # Terms start at most every ttl/3: a loss that repeats at once (our key deleted over
        # and over, etcd refusing the grant) must not become a tight loop.
        pause = self.ttl / 3
        try:
            while True:
                started = loop.time()
                try:
                    await self._campaign()
                except EtcdError as exc:
                    log.warning("election %r: campaign failed: %s", self.prefix, exc)
                await asyncio.sleep(max(0.0, started + pause - loop.time()))
        finally:
            self._running = False
            self._leader = None
            await self._drain_callbacks()

    async def resign(self) -> None:
        """Give up leadership (or the place in line) now: step down, then revoke the lease.

        While :meth:`run` is running it then campaigns again, at the back of the line."""
        term = self._term
        if term is None or term.over:
            return
        self._end_term(term, "resigned")
        await self._revoke(term)

    async def _campaign(self) -> None:
        loop = asyncio.get_running_loop()
        sent = loop.time()
        lease, granted = await self._etcd.lease_grant(self.ttl)
        term = _Term(lease=lease, key=self.prefix + f"{lease:x}".encode(), ttl=granted)
        self._term = term
        self._extend(term, sent + granted - self.margin)
        tasks = [
            loop.create_task(self._guard(term, self._keepalive), name="election-keepalive"),
            loop.create_task(self._guard(term, self._observe), name="election-observe"),
        ]
        try:
            await term.ended.wait()
        finally:
            # Stepping down locally comes first (it is instant); the server follows.
            self._end_term(term, "stopped")
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self._revoke(term)

    async def _guard(self, term: _Term, body: Callable[[_Term], Awaitable[None]]) -> None:
        """Run a term's helper; a bug in it ends the term instead of hanging it.

        ``body`` is called here, not by the caller: a task cancelled before its first step
        would otherwise leave a never-awaited coroutine behind."""
        try:
            await body(term)
        except Exception:
            log.exception("election %r: internal error", self.prefix)
            self._end_term(term, "internal error")

    async def _keepalive(self, term: _Term) -> None:
        loop = asyncio.get_running_loop()
        interval = term.ttl / 3
        next_send = loop.time() + interval
        while not term.over:
            # A fixed cadence, and each call bounded by the interval: one lost keepalive
            # never delays the next, so a single slow answer does not cost the lease.
            await asyncio.sleep(max(0.0, next_send - loop.time()))
            sent = loop.time()
            next_send = sent + interval
            try:
                async with asyncio.timeout(interval):
                    ttl = await self._etcd.lease_keepalive(term.lease)
            except (EtcdError, TimeoutError) as exc:
                log.debug("election %r: keepalive failed: %s", self.prefix, exc)
                continue  # the deadline timer decides when this becomes a loss
            if ttl <= 0:
                self._end_term(term, "the lease expired on the server")
                return
            self._extend(term, sent + ttl - self.margin)

    async def _observe(self, term: _Term) -> None:
        """Register our key, then follow the candidate set until the term ends."""
        while not term.over:
            try:
                await self._observe_once(term)
            except EtcdCompacted:
                continue  # our watch fell behind the compaction point: read afresh
            except EtcdError as exc:
                if "lease not found" in str(exc):
                    self._end_term(term, "the lease expired before our key was written")
                    return
                log.debug("election %r: watch failed: %s", self.prefix, exc)
                await asyncio.sleep(term.ttl / 6)

    async def _observe_once(self, term: _Term) -> None:
        if not term.revision:
            # Create-if-absent makes a retried put after a lost answer harmless.
            r = await self._etcd.txn(
                [etcdmod.create_revision(term.key, "==", 0)],
                [etcdmod.put(term.key, self.identity.encode(), term.lease)],
                [etcdmod.get(term.key)],
            )
            found = r.results[0] if not r.succeeded else None
            if isinstance(found, etcdmod.Range) and found.kvs:
                term.revision = found.kvs[0].create_revision
            else:
                term.revision = r.revision
        snapshot = await self._etcd.range(self.prefix, prefix=True)
        candidates = {kv.key: kv for kv in snapshot.kvs}
        self._evaluate(term, candidates)
        start = snapshot.revision + 1
        async for rev in self._etcd.watch(self.prefix, prefix=True, start_revision=start):
            for ev in rev.events:
                if ev.type is EventType.DELETE:
                    candidates.pop(ev.kv.key, None)
                else:
                    candidates[ev.kv.key] = ev.kv
            if rev.events:
                self._evaluate(term, candidates)
            if term.over:
                return

    def _evaluate(self, term: _Term, candidates: dict[bytes, KV]) -> None:
        if term.over:
            return
        if term.key not in candidates:
            self._end_term(term, "our election key was deleted")
            return
        first = min(candidates.values(), key=lambda kv: kv.create_revision)
        self._leader = first.value.decode(errors="replace")
        if first.key != term.key or self._leading:
            return
        assert self._loop is not None
        if self._loop.time() >= term.deadline:
            return  # the lease may be gone already; the deadline timer ends the term
        self._leading = True
        log.info("election %r: %s became leader", self.prefix, self.identity)
        self.leading._set(True)
        self._fire(self._on_gain, "on_gain")

    # -- the deadline ----------------------------------------------------------------------

    def _extend(self, term: _Term, deadline: float) -> None:
        if term.over or deadline <= term.deadline:
            return
        assert self._loop is not None
        term.deadline = deadline
        if term.timer is not None:
            term.timer.cancel()
        term.timer = self._loop.call_at(deadline, self._end_term, term, "lease deadline passed")

    def _end_term(self, term: _Term, reason: str) -> None:
        """End ``term`` at once; if we led in it, step down and fire the loss callbacks."""
        if term.over:
            return
        term.over = True
        term.ended.set()
        if term.timer is not None:
            term.timer.cancel()
        if self._term is not term:
            return
        self._leader = None  # unknown until the next term observes the candidates again
        if self._leading:
            self._leading = False
            self.leading._set(False)
            log.warning("election %r: %s lost leadership: %s", self.prefix, self.identity, reason)
            self._fire(self._on_loss, "on_loss")

    async def _revoke(self, term: _Term) -> None:
        # Best effort: if etcd cannot be reached the lease expires by itself within its TTL.
        # Revoking deletes our key with it, which is what hands leadership over.
        try:
            async with asyncio.timeout(min(self._etcd.timeout, term.ttl)):
                await self._etcd.lease_revoke(term.lease)
        except (EtcdError, TimeoutError) as exc:
            log.debug("election %r: revoking lease %x failed: %s", self.prefix, term.lease, exc)

    # -- callbacks -------------------------------------------------------------------------

    def _fire(self, callbacks: list[Callback], what: str) -> None:
        assert self._loop is not None
        for callback in list(callbacks):
            try:
                result = callback()
            except Exception:
                log.exception("election %r: %s callback %r failed", self.prefix, what, callback)
                continue
            if inspect.isawaitable(result):
                task = self._loop.create_task(self._await_callback(result, what, callback))
                self._callback_tasks.add(task)
                task.add_done_callback(self._callback_tasks.discard)

    async def _await_callback(self, result: Awaitable[None], what: str, cb: Callback) -> None:
        try:
            await result
        except Exception:
            log.exception("election %r: %s callback %r failed", self.prefix, what, cb)

    async def _drain_callbacks(self) -> None:
        """Let async callbacks fired by the last step-down finish (bounded by the TTL)."""
        tasks = set(self._callback_tasks)
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=self.ttl)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

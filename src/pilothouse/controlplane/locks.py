"""Ref locks with a TTL, as a correct lock service on etcd.

Each grant is an etcd key ``/gitstratum/state/locks/<ref>`` attached to an etcd lease of its
own. What that buys, and the rules built on it:

* **Fencing tokens only grow.** A grant's token is ``base`` + the etcd revision that
  created the key: revisions grow with every write, so a later grant always has a larger
  token, across leader changes, restarts and (through ``base``) snapshot restores. A
  storage node that remembers the largest token it has seen can refuse a paused
  ex-holder's late writes.
* **Expiry is decided by the consensus layer.** The lease expires on etcd's leader, never
  on a client's clock; a new etcd leader extends every lease by an election timeout, so no
  lock expires early across a leader change. TTLs are whole seconds with a minimum above
  the election timeout (:data:`~pilothouse.controlplane.statemodel.DEFAULT_MIN_TTL_SECONDS`).
* **Acquire** is a create-if-absent transaction. It is idempotent per owner: acquiring a
  ref the same owner already holds returns the existing grant (same token), so a client
  may retry an acquire whose answer it lost. Owners must therefore be unique per holder
  (a process id plus a random suffix, say). A ref held by another owner fails with
  :class:`~pilothouse.controlplane.errors.LockHeld` naming the holder, the token and the
  seconds left.
* **Renew** and **release** are compare-and-set on (owner, token). A renew of a grant that
  expired answers NOT_FOUND (the holder must stop and acquire again); a release of a grant
  that is already gone answers ``released=False`` (idempotent); either with another
  owner's or an older token answers FAILED_PRECONDITION and changes nothing.
* Between a lease grant and the create transaction, a crash leaves only an empty lease,
  which etcd expires by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

from pilothouse.controlplane import errors, keys, statemachine, statemodel
from pilothouse.controlplane import etcd as etcd_mod
from pilothouse.controlplane.statemodel import LockInfo


class LockService:
    """Acquire, renew and release ref locks; safe to share between tasks."""

    def __init__(
        self,
        etcd: etcd_mod.Etcd,
        *,
        min_ttl: int = statemodel.DEFAULT_MIN_TTL_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.etcd = etcd
        self.min_ttl = min_ttl
        self.clock = clock
        self._cleanup: set[asyncio.Task[None]] = set()

    async def acquire(self, ref: str, owner: str, ttl_seconds: int) -> tuple[LockInfo, int]:
        """Grant ``ref`` to ``owner`` for ``ttl_seconds``; ``(lock, version)``."""
        ref = statemodel.check_ref(ref)
        owner = statemodel.check_owner(owner)
        ttl = statemodel.check_ttl(ttl_seconds, self.min_ttl)
        key = keys.lock(ref)
        acquired_at = int(self.clock() * 1000)
        value = statemodel.dump({"owner": owner, "ttl": ttl, "acquired_at_ms": acquired_at})
        with errors.from_etcd():
            lease, granted = await self.etcd.lease_grant(ttl)
        try:
            with errors.from_etcd():
                result = await self.etcd.txn(
                    [etcd_mod.create_revision(key, "==", 0)],
                    [etcd_mod.put(key, value, lease), etcd_mod.get(keys.BASE)],
                    [etcd_mod.get(key), etcd_mod.get(keys.BASE)],
                )
        except BaseException:
            self._revoke_later(lease)
            raise
        base = _base(result)
        if result.succeeded:
            token = base + result.revision
            return LockInfo(
                ref, owner, token, ttl, acquired_at, granted, lease
            ), base + result.revision
        self._revoke_later(lease)
        held = result.results[0]
        assert isinstance(held, etcd_mod.Range)
        if not held.kvs:  # released between the compare and the read: cannot happen in a txn
            raise errors.Unavailable(f"lock on {ref!r} changed during the request; try again")
        current = statemachine.lock_of(held.kvs[0], base)
        left = await self._remaining(current.lease)
        if current.owner == owner:
            return _with_remaining(current, left), base + result.revision
        raise errors.LockHeld(ref, current.owner, current.token, left)

    async def renew(self, ref: str, owner: str, token: int) -> tuple[LockInfo, int]:
        """Extend the grant ``(ref, owner, token)`` by its TTL, counted from now."""
        current, version, _ = await self._current(ref, owner, token, "renew")
        if current is None:
            raise errors.NotFound(f"no lock on {ref!r} (expired or released); acquire it again")
        with errors.from_etcd():
            left = await self.etcd.lease_keepalive(current.lease)
        if left <= 0:
            raise errors.NotFound(f"the lock on {ref!r} expired; acquire it again")
        return _with_remaining(current, left), version

    async def release(self, ref: str, owner: str, token: int) -> tuple[bool, int]:
        """Give ``(ref, owner, token)`` up; ``(released, version)``. ``released`` is False
        when the grant was already gone."""
        current, version, created = await self._current(ref, owner, token, "release")
        if current is None:
            return False, version
        key = keys.lock(ref)
        with errors.from_etcd():
            result = await self.etcd.txn(
                [etcd_mod.create_revision(key, "==", created)],
                [etcd_mod.delete(key), etcd_mod.get(keys.BASE)],
                [etcd_mod.get(keys.BASE)],
            )
        # The lease only carried this grant; revoking it frees etcd's bookkeeping at once.
        self._revoke_later(current.lease)
        return result.succeeded, _base(result) + result.revision

    async def _current(
        self, ref: str, owner: str, token: int, verb: str
    ) -> tuple[LockInfo | None, int, int]:
        """The grant ``(ref, owner, token)`` if it is current, the version read at, and the
        grant key's create revision; None for a grant that is gone."""
        ref = statemodel.check_ref(ref)
        owner = statemodel.check_owner(owner)
        if isinstance(token, bool) or not isinstance(token, int) or token <= 0:
            raise errors.InvalidArgument(f"token must be a positive integer, got {token!r}")
        with errors.from_etcd():
            result = await self.etcd.txn(
                [], [etcd_mod.get(keys.lock(ref)), etcd_mod.get(keys.BASE)]
            )
        base = _base(result)
        got = result.results[0]
        assert isinstance(got, etcd_mod.Range)
        version = base + result.revision
        if not got.kvs:
            return None, version, 0
        current = statemachine.lock_of(got.kvs[0], base)
        if current.owner != owner:
            raise errors.FailedPrecondition(
                f"cannot {verb} the lock on {ref!r}: it is held by {current.owner!r} "
                f"(token {current.token}), not {owner!r}"
            )
        if current.token != token:
            if token > current.token:
                raise errors.FailedPrecondition(
                    f"cannot {verb} the lock on {ref!r}: token {token} was never granted "
                    f"(current token {current.token})"
                )
            # An older grant of the same owner: that one is gone.
            return None, version, 0
        return current, version, got.kvs[0].create_revision

    async def _remaining(self, lease: int) -> int:
        try:
            return await self.etcd.lease_ttl(lease)
        except etcd_mod.EtcdError:
            return -1  # only decoration for an error message

    def _revoke_later(self, lease: int) -> None:
        task = asyncio.get_running_loop().create_task(self._revoke(lease))
        self._cleanup.add(task)
        task.add_done_callback(self._cleanup.discard)

    async def _revoke(self, lease: int) -> None:
        with contextlib.suppress(etcd_mod.EtcdError):  # the lease expires by itself anyway
            await self.etcd.lease_revoke(lease)

    async def close(self) -> None:
        """Wait for pending lease cleanups (bounded by the client's timeout)."""
        if self._cleanup:
            await asyncio.gather(*self._cleanup, return_exceptions=True)


def _base(result: etcd_mod.TxnResult) -> int:
    last = result.results[-1]
    assert isinstance(last, etcd_mod.Range)
    return statemachine.base_of(last.kvs)


def _with_remaining(lock: LockInfo, left: int) -> LockInfo:
    return LockInfo(
        lock.ref, lock.owner, lock.token, lock.ttl_seconds, lock.acquired_at_ms, left, lock.lease
    )

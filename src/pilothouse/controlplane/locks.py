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
* **Renew** and **release** are compare-and-set on (owner, token). The owner is the
  whole value of the grant's key and the token its create revision (minus ``base``), so
  release is a single transaction that compares both and deletes; renew reads the grant
  and refreshes its lease, which belongs to that grant alone. A renew of a grant that
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
        self._base: tuple[int, int] | None = None

    async def acquire(self, ref: str, owner: str, ttl_seconds: int) -> tuple[LockInfo, int]:
        """Grant ``ref`` to ``owner`` for ``ttl_seconds``; ``(lock, version)``."""
        ref = statemodel.check_ref(ref)
        owner = statemodel.check_owner(owner)
        ttl = statemodel.check_ttl(ttl_seconds, self.min_ttl)
        key, info_key = keys.lock(ref), keys.lock_info(ref)
        acquired_at = int(self.clock() * 1000)
        info = statemodel.dump({"ttl": ttl, "acquired_at_ms": acquired_at})
        with errors.from_etcd():
            lease, granted = await self.etcd.lease_grant(ttl)
        try:
            with errors.from_etcd():
                result = await self.etcd.txn(
                    [etcd_mod.create_revision(key, "==", 0)],
                    [
                        etcd_mod.put(key, owner.encode(), lease),
                        etcd_mod.put(info_key, info, lease),
                        etcd_mod.get(keys.BASE),
                    ],
                    [etcd_mod.get(key), etcd_mod.get(info_key), etcd_mod.get(keys.BASE)],
                )
        except BaseException:
            self._revoke_later(lease)
            raise
        base = self._note_base(result)
        version = base + result.revision
        if result.succeeded:
            return LockInfo(ref, owner, version, ttl, acquired_at, granted, lease), version
        self._revoke_later(lease)
        current = _grant(result, base)
        if current is None:  # cannot happen: the compare and the reads are one transaction
            raise errors.Unavailable(f"lock on {ref!r} changed during the request; try again")
        left = await self._remaining(current.lease)
        if current.owner == owner:
            return _with_remaining(current, left), version
        raise errors.LockHeld(ref, current.owner, current.token, left)

    async def renew(self, ref: str, owner: str, token: int) -> tuple[LockInfo, int]:
        """Extend the grant ``(ref, owner, token)`` by its TTL, counted from now."""
        ref, owner, token = _checked(ref, owner, token)
        with errors.from_etcd():
            result = await self.etcd.txn(
                [],
                [
                    etcd_mod.get(keys.lock(ref)),
                    etcd_mod.get(keys.lock_info(ref)),
                    etcd_mod.get(keys.BASE),
                ],
            )
        base = self._note_base(result)
        current = _current(_grant(result, base), ref, owner, token, "renew")
        if current is None:
            raise errors.NotFound(f"no lock on {ref!r} (expired or released); acquire it again")
        with errors.from_etcd():
            left = await self.etcd.lease_keepalive(current.lease)
        if left <= 0:
            raise errors.NotFound(f"the lock on {ref!r} expired; acquire it again")
        return _with_remaining(current, left), base + result.revision

    async def release(self, ref: str, owner: str, token: int) -> tuple[bool, int]:
        """Give ``(ref, owner, token)`` up; ``(released, version)``. ``released`` is False
        when the grant was already gone.

        One transaction compares owner, token and ``base`` and deletes the grant; only when
        a compare fails are the reads of its failure branch used to say why. ``base`` comes
        from the last transaction this service ran: it changes only when a snapshot is
        restored, and then the compare on it fails and the release is tried again."""
        ref, owner, token = _checked(ref, owner, token)
        key, info_key = keys.lock(ref), keys.lock_info(ref)
        for _ in range(3):
            if self._base is None:
                with errors.from_etcd():
                    self._note_base(await self.etcd.txn([], [etcd_mod.get(keys.BASE)]))
            assert self._base is not None
            base, base_mod = self._base
            with errors.from_etcd():
                result = await self.etcd.txn(
                    [
                        etcd_mod.create_revision(key, "==", token - base),
                        etcd_mod.value_is(key, "==", owner.encode()),
                        etcd_mod.mod_revision(keys.BASE, "==", base_mod),
                    ],
                    [
                        etcd_mod.delete(key, prev_kv=True),
                        etcd_mod.delete(info_key),
                        etcd_mod.get(keys.BASE),
                    ],
                    [etcd_mod.get(key), etcd_mod.get(info_key), etcd_mod.get(keys.BASE)],
                )
            fresh = self._note_base(result)
            version = fresh + result.revision
            if result.succeeded:
                deleted = result.results[0]
                assert isinstance(deleted, etcd_mod.Deleted)
                # The lease only carried this grant; revoking it frees etcd's bookkeeping.
                for kv in deleted.prev:
                    self._revoke_later(kv.lease)
                return True, version
            if (fresh, self._base[1]) != (base, base_mod):
                continue  # a restore moved base: compare again with the new one
            if _current(_grant(result, fresh), ref, owner, token, "release") is None:
                return False, version
        raise errors.Unavailable(f"lock on {ref!r} kept changing during release; try again")

    def _note_base(self, result: etcd_mod.TxnResult) -> int:
        """Remember ``base`` (and its key's mod revision) from a transaction's last read."""
        last = result.results[-1]
        assert isinstance(last, etcd_mod.Range)  # every transaction here ends with get(BASE)
        kv = last.kvs[0] if last.kvs else None
        self._base = (int(kv.value), kv.mod_revision) if kv is not None else (0, 0)
        return self._base[0]

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


def _checked(ref: str, owner: str, token: int) -> tuple[str, str, int]:
    ref = statemodel.check_ref(ref)
    owner = statemodel.check_owner(owner)
    if isinstance(token, bool) or not isinstance(token, int) or token <= 0:
        raise errors.InvalidArgument(f"token must be a positive integer, got {token!r}")
    return ref, owner, token


def _grant(result: etcd_mod.TxnResult, base: int) -> LockInfo | None:
    """The grant from a transaction whose first two reads are its owner and info keys."""
    owner_r, info_r = result.results[0], result.results[1]
    assert isinstance(owner_r, etcd_mod.Range) and isinstance(info_r, etcd_mod.Range)
    if not owner_r.kvs:
        return None
    info = info_r.kvs[0] if info_r.kvs else None
    return statemachine.lock_of(owner_r.kvs[0], info, base)


def _current(
    current: LockInfo | None, ref: str, owner: str, token: int, verb: str
) -> LockInfo | None:
    """``current`` if it is the grant ``(owner, token)``; None if that grant is gone;
    FailedPrecondition if the ref is someone else's or the token was never granted."""
    if current is None:
        return None
    if current.owner != owner:
        raise errors.FailedPrecondition(
            f"cannot {verb} the lock on {ref!r}: it is held by {current.owner!r} "
            f"(token {current.token}), not {owner!r}"
        )
    if token > current.token:
        raise errors.FailedPrecondition(
            f"cannot {verb} the lock on {ref!r}: token {token} was never granted "
            f"(current token {current.token})"
        )
    return current if token == current.token else None  # an older grant of the same owner


def _with_remaining(lock: LockInfo, left: int) -> LockInfo:
    return LockInfo(
        lock.ref, lock.owner, lock.token, lock.ttl_seconds, lock.acquired_at_ms, left, lock.lease
    )

"""Periodic compaction and defragmentation of the control plane's etcd.

etcd keeps every revision of every key until it is *compacted*; without compaction the
store grows with every write, forever. Compaction only frees pages inside the database
file; *defragmentation* gives them back to the file system.

Compaction: keep the last ``keep_revisions`` revisions
------------------------------------------------------
:meth:`Compactor.run_once` compacts to ``current revision - keep_revisions`` whenever that
is above the last compaction point it made. ``keep_revisions`` is the **resume window of
WatchTopology**: a watcher (a client's ring cache, a follower's watch) that fell no further
behind can resume from its last revision and receive every change it missed; one that fell
further behind gets :class:`~pilothouse.controlplane.etcd.EtcdCompacted` and must resync with
a full read. Size it as writes per second x the longest disconnection a watcher should
survive without a full read.

Compaction is cluster-wide (it goes through raft), so one replica is enough: **only the
leader should compact**. Construct every replica's compactor with
``should_compact=lambda: election.is_leader`` (see
:class:`~pilothouse.controlplane.election.LeaderElection`). Two replicas compacting at once
(a leader change between the check and the call) is harmless, only redundant: compacting to
an already compacted revision is accepted.

Defragmentation: each replica, its own member only
--------------------------------------------------
Defragmentation is per member and blocks that member's reads and writes while it rewrites
its file (milliseconds for a small database, seconds for a large one). So every replica
defragments **only its own member**, and only when it pays off: when the free space
``db_size - db_size_in_use`` exceeds both ``defrag_ratio * db_size`` and
``defrag_min_bytes``. etcd recomputes ``db_size_in_use`` only when its backend commits a
write, so the space a compaction frees may show (and trigger defragmentation) only in a
later pass; with a live control plane that is the next one. Give the compactor a client
whose *only* endpoint is the local member: with several endpoints gRPC's ``pick_first``
could reach, and defragment, another member.

The loop (:meth:`Compactor.run`) runs one pass every ``interval`` seconds. That sleep is a
period, not a wait for a condition; it is injectable so tests can drive the loop.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable

from pilothouse.controlplane.etcd import Etcd, EtcdError

log = logging.getLogger(__name__)

MiB = 1 << 20


@dataclasses.dataclass(frozen=True, slots=True)
class CompactionReport:
    """What one :meth:`Compactor.run_once` pass saw and did."""

    #: The member that answered (the one that was considered for defragmentation).
    member_id: int
    #: The store revision when the pass started.
    revision: int
    #: The revision compacted to in this pass; None if compaction was not due or not ours.
    compacted_to: int | None
    #: The database file size and the part of it in use, after any compaction.
    db_size: int
    db_size_in_use: int
    #: Whether the member was defragmented, and its file size afterwards.
    defragmented: bool
    db_size_after: int


class Compactor:
    """Compacts the store and defragments the local member; see the module docstring."""

    def __init__(
        self,
        etcd: Etcd,
        *,
        keep_revisions: int = 10_000,
        interval: float = 60.0,
        defrag_ratio: float = 0.5,
        defrag_min_bytes: int = 64 * MiB,
        should_compact: Callable[[], bool] = lambda: True,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if keep_revisions < 1:
            raise ValueError(f"keep_revisions must be at least 1, got {keep_revisions}")
        if interval <= 0:
            raise ValueError(f"interval must be positive, got {interval}")
        if not 0 <= defrag_ratio < 1:
            raise ValueError(f"defrag_ratio must be in [0, 1), got {defrag_ratio}")
        if defrag_min_bytes < 0:
            raise ValueError(f"defrag_min_bytes must not be negative, got {defrag_min_bytes}")
        self._etcd = etcd
        self.keep_revisions = keep_revisions
        self.interval = interval
        self.defrag_ratio = defrag_ratio
        self.defrag_min_bytes = defrag_min_bytes
        self._should_compact = should_compact
        self._sleep = sleep
        #: The highest revision this compactor compacted to (0: none yet). After a restart
        #: it is 0 again; the first pass then re-compacts to a point etcd may already have
        #: passed, which etcd (and :meth:`Etcd.compact`) accepts.
        self.compacted_to = 0

    async def run_once(self) -> CompactionReport:
        """One pass: compact if due (and ours to do), then defragment if it pays off."""
        status = await self._etcd.status()
        revision = status.revision
        target = revision - self.keep_revisions
        compacted: int | None = None
        if target > self.compacted_to and self._should_compact():
            # physical=True waits until the freed pages are really free, so the status read
            # below (and the defragmentation decision) sees the effect of this compaction.
            await self._etcd.compact(target, physical=True, timeout=60.0)
            self.compacted_to = compacted = target
            log.info("compacted etcd to revision %d (current %d)", target, revision)
            status = await self._etcd.status()
        size, in_use = status.db_size, status.db_size_in_use
        free = size - in_use
        defragmented = free > self.defrag_ratio * size and free > self.defrag_min_bytes
        size_after = size
        if defragmented:
            await self._etcd.defragment()
            size_after = (await self._etcd.status()).db_size
            log.info(
                "defragmented etcd member %x: %d -> %d bytes", status.member_id, size, size_after
            )
        return CompactionReport(
            member_id=status.member_id,
            revision=revision,
            compacted_to=compacted,
            db_size=size,
            db_size_in_use=in_use,
            defragmented=defragmented,
            db_size_after=size_after,
        )

    async def run(self) -> None:
        """:meth:`run_once` every ``interval`` seconds until cancelled. A failed pass (etcd
        unreachable, no quorum) is logged and retried at the next period."""
        while True:
            try:
                await self.run_once()
            except EtcdError as exc:
                log.warning("etcd maintenance pass failed: %s", exc)
            await self._sleep(self.interval)

"""The GitStratum state machine, applied as etcd transactions.

Every operation is one etcd transaction whose compares make it atomic and linearizable:
a write either applies to the state it was validated against or does not apply at all
(then it is retried from a fresh read, or answered with the reason). etcd's Raft log is the
state machine's log; etcd's revision is its clock:

* ``version`` = ``base`` + the etcd revision of the change. ``base`` is 0 in a cluster that
  started empty and the snapshot's version in one restored from a snapshot, so versions
  never go back across a restore. Every transaction also reads ``base``, so the version a
  write reports is computed from the same revision it was applied at.
* Lock operations live in :mod:`~pilothouse.controlplane.locks`; this module holds nodes,
  the hash ring, cluster config, feature flags, whole-state reads, restore and the
  topology watch.

Stale reads (``stale=True``) are etcd serializable reads from the member this client talks
to: no quorum round trip, possibly behind, never ahead or torn.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import orjson

from pilothouse.controlplane import errors, keys, ring, ringmodel, statemodel
from pilothouse.controlplane import etcd as etcd_mod
from pilothouse.controlplane.statemodel import ClusterState, NodeInfo, NodeKind, RingState

#: Optimistic transactions retried on contention before answering UNAVAILABLE.
MAX_ATTEMPTS = 16
#: A restore writes the whole state in one transaction: more than a routine request's bound.
RESTORE_TIMEOUT = 60.0


@dataclasses.dataclass(frozen=True, slots=True)
class NodeUpserted:
    node: NodeInfo
    version: int


@dataclasses.dataclass(frozen=True, slots=True)
class NodeRemoved:
    node_id: str


@dataclasses.dataclass(frozen=True, slots=True)
class RingChanged:
    ring: RingState


@dataclasses.dataclass(frozen=True, slots=True)
class ConfigChanged:
    config: dict[str, Any]


@dataclasses.dataclass(frozen=True, slots=True)
class FlagChanged:
    name: str
    enabled: bool


Change = NodeUpserted | NodeRemoved | RingChanged | ConfigChanged | FlagChanged


@dataclasses.dataclass(frozen=True, slots=True)
class TopologyEvent:
    """One version's topology changes; the first event of a watch from 0 carries the whole
    state in ``snapshot`` instead."""

    version: int
    changes: tuple[Change, ...] = ()
    snapshot: ClusterState | None = None


def base_of(kvs: Sequence[etcd_mod.KV]) -> int:
    for kv in kvs:
        if kv.key == keys.BASE:
            return int(kv.value)
    return 0


def _base(result: etcd_mod.TxnResult) -> int:
    last = result.results[-1]
    assert isinstance(last, etcd_mod.Range)  # every transaction here ends with get(BASE)
    return base_of(last.kvs)


def decode_state(r: etcd_mod.Range) -> ClusterState:
    """The state from a range over :data:`keys.PREFIX` (one revision, so consistent)."""
    base = base_of(r.kvs)
    nodes: dict[str, NodeInfo] = {}
    node_versions: dict[str, int] = {}
    ring_state: RingState | None = None
    config: dict[str, Any] = {}
    flags: dict[str, bool] = {}
    locks: dict[str, statemodel.LockInfo] = {}
    lock_infos = {
        keys.name_of(kv.key, keys.LOCK_INFO): kv
        for kv in r.kvs
        if kv.key.startswith(keys.LOCK_INFO)
    }
    for kv in r.kvs:
        if kv.key.startswith(keys.NODES):
            node = NodeInfo.from_json(orjson.loads(kv.value))
            nodes[node.id] = node
            node_versions[node.id] = base + kv.mod_revision
        elif kv.key == keys.RING:
            ring_state = _ring_state(kv, base)
        elif kv.key == keys.CONFIG:
            config = orjson.loads(kv.value)
        elif kv.key.startswith(keys.FLAGS):
            flags[keys.name_of(kv.key, keys.FLAGS)] = orjson.loads(kv.value) is True
        elif kv.key.startswith(keys.LOCKS):
            info = lock_of(kv, lock_infos.get(keys.name_of(kv.key, keys.LOCKS)), base)
            locks[info.ref] = info
    return ClusterState(base + r.revision, nodes, ring_state, locks, config, flags, node_versions)


def _ring_state(kv: etcd_mod.KV, base: int) -> RingState:
    doc = orjson.loads(kv.value)
    return RingState(doc["topology"], NodeKind(doc["node_kind"]), base + kv.mod_revision)


def lock_of(kv: etcd_mod.KV, info: etcd_mod.KV | None, base: int) -> statemodel.LockInfo:
    """A grant from its owner key and its info key (read in the same transaction; the info
    is missing only if written by a version without it)."""
    doc = orjson.loads(info.value) if info is not None else {}
    return statemodel.LockInfo(
        ref=keys.name_of(kv.key, keys.LOCKS),
        owner=kv.value.decode(),
        token=base + kv.create_revision,
        ttl_seconds=int(doc.get("ttl", 0)),
        acquired_at_ms=int(doc.get("acquired_at_ms", 0)),
        lease=kv.lease,
    )


class StateMachine:
    """Nodes, ring, config, flags, reads, restore and the topology watch over one
    :class:`~pilothouse.controlplane.etcd.Etcd` client. Safe to share between tasks."""

    def __init__(self, etcd: etcd_mod.Etcd, *, clock: Callable[[], float] = time.time) -> None:
        self.etcd = etcd
        self.clock = clock

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    async def _txn(
        self, compare: Sequence[Any], success: Sequence[Any], failure: Sequence[Any] = ()
    ) -> tuple[bool, int, etcd_mod.TxnResult]:
        """Run a transaction that also reads ``base`` on both branches; returns
        ``(succeeded, version, result)``."""
        with errors.from_etcd():
            result = await self.etcd.txn(
                compare, [*success, etcd_mod.get(keys.BASE)], [*failure, etcd_mod.get(keys.BASE)]
            )
        return result.succeeded, _base(result) + result.revision, result

    # -- reads -----------------------------------------------------------------------------

    async def read(self, *, stale: bool = False) -> ClusterState:
        with errors.from_etcd():
            r = await self.etcd.range(keys.PREFIX, prefix=True, serializable=stale)
        return decode_state(r)

    # -- nodes -----------------------------------------------------------------------------

    async def add_node(self, node: NodeInfo) -> tuple[NodeInfo, int]:
        node = dataclasses.replace(node, last_heartbeat_ms=self._now_ms())
        key = keys.node(node.id)
        ok, version, _ = await self._txn(
            [etcd_mod.create_revision(key, "==", 0)],
            [etcd_mod.put(key, statemodel.dump(node.to_json()))],
        )
        if not ok:
            raise errors.AlreadyExists(f"node {node.id!r} already exists")
        return node, version

    async def remove_node(self, node_id: str) -> int:
        node_id = statemodel.check_node_id(node_id)
        key = keys.node(node_id)
        ok, version, _ = await self._txn(
            [etcd_mod.create_revision(key, ">", 0)], [etcd_mod.delete(key)]
        )
        if not ok:
            raise errors.NotFound(f"node {node_id!r} does not exist")
        return version

    async def update_node_status(
        self, node_id: str, status: ringmodel.NodeStatus | str
    ) -> tuple[NodeInfo, int]:
        """Set a node's status and heartbeat time (compare-and-set on its last change)."""
        node_id = statemodel.check_node_id(node_id)
        key = keys.node(node_id)
        for _ in range(MAX_ATTEMPTS):
            with errors.from_etcd():
                r = await self.etcd.range(key)
            if not r.kvs:
                raise errors.NotFound(f"node {node_id!r} does not exist")
            current = NodeInfo.from_json(orjson.loads(r.kvs[0].value))
            node = NodeInfo(
                current.id,
                current.kind,
                current.address,
                current.zone,
                current.weight,
                status,  # type: ignore[arg-type]  # validated (and converted) by NodeInfo
                self._now_ms(),
            )
            ok, version, _ = await self._txn(
                [etcd_mod.mod_revision(key, "==", r.kvs[0].mod_revision)],
                [etcd_mod.put(key, statemodel.dump(node.to_json()))],
            )
            if ok:
                return node, version
        raise errors.Unavailable(f"node {node_id!r} kept changing; try again")

    # -- hash ring -------------------------------------------------------------------------

    async def get_ring(self, *, stale: bool = False) -> RingState | None:
        with errors.from_etcd():
            if stale:
                rr = await self.etcd.range(keys.RING, serializable=True)
                rb = await self.etcd.range(keys.BASE, serializable=True)
                return _ring_state(rr.kvs[0], base_of(rb.kvs)) if rr.kvs else None
            r = await self.etcd.txn([], [etcd_mod.get(keys.RING), etcd_mod.get(keys.BASE)])
        got = r.results[0]
        assert isinstance(got, etcd_mod.Range)
        return _ring_state(got.kvs[0], _base(r)) if got.kvs else None

    async def update_hash_ring(
        self, config: ringmodel.RingConfig | None = None, node_kind: NodeKind = NodeKind.OBJECT
    ) -> RingState:
        """Rebuild the ring from the current nodes of ``node_kind`` with ``config`` (the
        stored ring's config when None, else the defaults). Applied only if no node changed
        since they were read; an unchanged ring is not written again."""
        for _ in range(MAX_ATTEMPTS):
            with errors.from_etcd():
                snap = await self.etcd.txn(
                    [],
                    [
                        etcd_mod.get(keys.NODES, prefix=True),
                        etcd_mod.get(keys.RING),
                        etcd_mod.get(keys.BASE),
                    ],
                )
            nodes_r, ring_r = snap.results[0], snap.results[1]
            assert isinstance(nodes_r, etcd_mod.Range) and isinstance(ring_r, etcd_mod.Range)
            base = _base(snap)
            current = _ring_state(ring_r.kvs[0], base) if ring_r.kvs else None
            if config is None:
                config = (
                    ringmodel.RingConfig.from_json(current.topology["config"])
                    if current is not None
                    else ringmodel.RingConfig()
                )
            members = [NodeInfo.from_json(orjson.loads(kv.value)) for kv in nodes_r.kvs]
            try:
                built = ring.HashRing.build(
                    [n.ring_node() for n in members if n.kind == node_kind], config
                )
            except ringmodel.RingError as exc:
                raise errors.InvalidArgument(f"cannot build the hash ring: {exc}") from exc
            topology = built.topology()
            if (
                current is not None
                and current.node_kind == node_kind
                and current.fingerprint == built.fingerprint
            ):
                return current
            doc = {"node_kind": node_kind.value, "topology": topology}
            ok, version, _ = await self._txn(
                [
                    etcd_mod.mod_revision(keys.NODES, "<", snap.revision + 1, prefix=True),
                    etcd_mod.mod_revision(keys.RING, "<", snap.revision + 1),
                ],
                [etcd_mod.put(keys.RING, statemodel.dump(doc))],
            )
            if ok:
                return RingState(topology, node_kind, version)
        raise errors.Unavailable("nodes kept changing while the ring was rebuilt; try again")

    # -- config and flags ------------------------------------------------------------------

    async def set_cluster_config(self, config: object, expected_version: int = 0) -> int:
        doc = statemodel.check_config(config)
        compare: list[Any] = []
        if expected_version:
            with errors.from_etcd():
                rb = await self.etcd.range(keys.BASE)
            base = base_of(rb.kvs)
            base_rev = rb.kvs[0].mod_revision if rb.kvs else 0
            compare = [
                etcd_mod.mod_revision(keys.BASE, "==", base_rev),
                etcd_mod.mod_revision(keys.CONFIG, "<", max(0, expected_version - base) + 1),
            ]
        ok, version, _ = await self._txn(compare, [etcd_mod.put(keys.CONFIG, statemodel.dump(doc))])
        if not ok:
            raise errors.FailedPrecondition(
                f"the cluster config changed after version {expected_version}; read it again"
            )
        return version

    async def set_feature_flag(self, name: str, enabled: bool) -> int:
        name = statemodel.check_flag_name(name)
        if not isinstance(enabled, bool):
            raise errors.InvalidArgument(f"feature flag value must be a boolean, got {enabled!r}")
        _, version, _ = await self._txn([], [etcd_mod.put(keys.flag(name), orjson.dumps(enabled))])
        return version

    # -- snapshot restore ------------------------------------------------------------------

    async def restore(self, snapshot: object) -> int:
        """Write a snapshot into a cluster with no state yet. Locks are not restored (their
        leases belong to the old cluster); every version and fencing token after the
        restore is greater than the snapshot's version."""
        state = statemodel.parse_snapshot(snapshot)
        ops = [etcd_mod.put(keys.BASE, str(state.version).encode())]
        ops += [
            etcd_mod.put(keys.node(n.id), statemodel.dump(n.to_json()))
            for n in state.nodes.values()
        ]
        if state.ring is not None:
            doc = {"node_kind": state.ring.node_kind.value, "topology": state.ring.topology}
            ops.append(etcd_mod.put(keys.RING, statemodel.dump(doc)))
        ops.append(etcd_mod.put(keys.CONFIG, statemodel.dump(state.config)))
        ops += [etcd_mod.put(keys.flag(k), orjson.dumps(v)) for k, v in state.feature_flags.items()]
        with errors.from_etcd():
            result = await self.etcd.txn(
                # Every key under the prefix has mod_revision 0 only when there is none.
                [etcd_mod.mod_revision(keys.PREFIX, "==", 0, prefix=True)],
                ops,
                timeout=RESTORE_TIMEOUT,
            )
        if not result.succeeded:
            raise errors.FailedPrecondition(
                "the cluster already has state; restore a snapshot only into a fresh cluster"
            )
        return state.version + result.revision

    # -- topology watch --------------------------------------------------------------------

    async def watch_topology(self, from_version: int = 0) -> AsyncIterator[TopologyEvent]:
        """Topology changes (nodes, ring, config, flags; not locks) after ``from_version``,
        one event per version, in order; see :class:`TopologyEvent`. Raises
        :class:`~pilothouse.controlplane.errors.OutOfRange` when the history after
        ``from_version`` was compacted."""
        if isinstance(from_version, bool) or not isinstance(from_version, int) or from_version < 0:
            raise errors.InvalidArgument(f"from_version must be >= 0, got {from_version!r}")
        with errors.from_etcd():
            rb = await self.etcd.range(keys.BASE)
        base = base_of(rb.kvs)
        if from_version == 0:
            state = await self.read()
            yield TopologyEvent(state.version, snapshot=state)
            from_version = state.version
        start = from_version - base + 1
        if start < 1:
            raise errors.OutOfRange(
                f"version {from_version} predates this cluster's history (restored at {base}); "
                "read the state again and watch from its version"
            )
        try:
            async for rev in self.etcd.watch(keys.PREFIX, prefix=True, start_revision=start):
                changes: list[Change] = []
                for ev in rev.events:
                    if ev.kv.key == keys.BASE and ev.type is etcd_mod.EventType.PUT:
                        base = int(ev.kv.value)
                    change = _change(ev, base)
                    if change is not None:
                        changes.append(change)
                if changes:
                    yield TopologyEvent(base + rev.revision, tuple(changes))
        except etcd_mod.EtcdCompacted as exc:
            raise errors.OutOfRange(
                f"version {from_version} is older than the retained history "
                f"(compacted up to {base + exc.compact_revision}); read the state again and "
                "watch from its version"
            ) from exc
        except etcd_mod.EtcdError as exc:
            with errors.from_etcd():
                raise exc


def _change(ev: etcd_mod.Event, base: int) -> Change | None:
    key, put = ev.kv.key, ev.type is etcd_mod.EventType.PUT
    if key.startswith(keys.NODES):
        if put:
            return NodeUpserted(
                NodeInfo.from_json(orjson.loads(ev.kv.value)), base + ev.kv.mod_revision
            )
        return NodeRemoved(keys.name_of(key, keys.NODES))
    if key == keys.RING and put:
        return RingChanged(_ring_state(ev.kv, base))
    if key == keys.CONFIG and put:
        return ConfigChanged(orjson.loads(ev.kv.value))
    if key.startswith(keys.FLAGS) and put:
        return FlagChanged(keys.name_of(key, keys.FLAGS), orjson.loads(ev.kv.value) is True)
    return None

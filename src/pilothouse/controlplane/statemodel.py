"""The cluster state's records and their validation (no I/O).

Each record is stored as one etcd key holding canonical JSON (see
:mod:`~pilothouse.controlplane.statemachine` for the key layout). Validation happens here,
before anything is written, so a bad request changes nothing and says exactly what is
wrong. The limits keep every value far below etcd's request size limit (1.5 MiB).
"""

from __future__ import annotations

import dataclasses
import enum
import re
from collections.abc import Mapping
from typing import Any

import orjson

from pilothouse.controlplane import errors, ringmodel

MAX_REF_BYTES = 1024
MAX_OWNER_BYTES = 256
MAX_ADDRESS_BYTES = 512
MAX_ZONE_BYTES = 128
MAX_CONFIG_BYTES = 64 * 1024
MAX_TTL_SECONDS = 24 * 3600
#: Must exceed etcd's election timeout (1 s by default): a lock lease is then never shorter
#: than the time a new etcd leader needs, and etcd extends leases by an election timeout
#: when leadership changes, so no lock expires early across a leader change.
DEFAULT_MIN_TTL_SECONDS = 2
SNAPSHOT_FORMAT = "pilothouse.controlplane.snapshot/v1"

_FLAG_NAME = re.compile(r"[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?")


class NodeKind(enum.StrEnum):
    CONTROL_PLANE = "ControlPlane"
    METADATA = "Metadata"
    OBJECT = "Object"
    FRONTEND = "Frontend"


def _text(what: str, value: object, max_bytes: int, *, empty: bool = False) -> str:
    if not isinstance(value, str):
        raise errors.InvalidArgument(f"{what} must be a string, got {type(value).__name__}")
    if not value and not empty:
        raise errors.InvalidArgument(f"{what} must not be empty")
    # C0, DEL and C1: none of them belongs in an id, and they garble logs and terminals.
    if any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in value):
        raise errors.InvalidArgument(f"{what} must not contain control characters")
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError as exc:  # lone surrogates: not storable, not sendable
        raise errors.InvalidArgument(f"{what} is not valid Unicode text") from exc
    if size > max_bytes:
        raise errors.InvalidArgument(f"{what} is {size} bytes, at most {max_bytes}")
    return value


def check_ref(ref: object) -> str:
    return _text("ref", ref, MAX_REF_BYTES)


def check_owner(owner: object) -> str:
    return _text("owner", owner, MAX_OWNER_BYTES)


def check_ttl(ttl: object, min_ttl: int = DEFAULT_MIN_TTL_SECONDS) -> int:
    if isinstance(ttl, bool) or not isinstance(ttl, int):
        raise errors.InvalidArgument(f"ttl must be whole seconds, got {ttl!r}")
    if ttl < min_ttl:
        raise errors.InvalidArgument(
            f"ttl must be at least {min_ttl}s (longer than the consensus election timeout), "
            f"got {ttl}s"
        )
    if ttl > MAX_TTL_SECONDS:
        raise errors.InvalidArgument(f"ttl must be at most {MAX_TTL_SECONDS}s, got {ttl}s")
    return ttl


def check_node_id(node_id: object) -> str:
    text = _text("node id", node_id, ringmodel.MAX_NODE_ID_BYTES)
    if text != text.strip():
        raise errors.InvalidArgument(f"node id {text!r} must not start or end with spaces")
    return text


def check_flag_name(name: object) -> str:
    text = _text("feature flag name", name, 63)
    if not _FLAG_NAME.fullmatch(text):
        raise errors.InvalidArgument(
            f"feature flag name {text!r} must be lower-case letters, digits, '.', '_' or '-', "
            "starting and ending with a letter or digit"
        )
    return text


def check_config(doc: object) -> dict[str, Any]:
    """A cluster config: a JSON object of at most :data:`MAX_CONFIG_BYTES`."""
    if isinstance(doc, str | bytes):
        try:
            doc = orjson.loads(doc) if doc else {}
        except orjson.JSONDecodeError as exc:
            raise errors.InvalidArgument(f"cluster config is not valid JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise errors.InvalidArgument(
            f"cluster config must be a JSON object, got {type(doc).__name__}"
        )
    size = len(dump(doc))
    if size > MAX_CONFIG_BYTES:
        raise errors.InvalidArgument(f"cluster config is {size} bytes, at most {MAX_CONFIG_BYTES}")
    return doc


def dump(doc: Any) -> bytes:
    """Canonical JSON (sorted keys): equal records store equal bytes."""
    return orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)


@dataclasses.dataclass(frozen=True, slots=True)
class NodeInfo:
    """A storage-cluster node (``ExtendedNodeInfo`` in the design)."""

    id: str
    kind: NodeKind
    address: str
    zone: str = ""
    weight: int = 1
    status: ringmodel.NodeStatus = ringmodel.NodeStatus.JOINING
    #: Unix time (ms) of the last status update by the serving replica's clock.
    last_heartbeat_ms: int = 0

    def __post_init__(self) -> None:
        check_node_id(self.id)
        try:
            object.__setattr__(self, "kind", NodeKind(self.kind))
        except ValueError as exc:
            kinds = ", ".join(k.value for k in NodeKind)
            raise errors.InvalidArgument(
                f"node {self.id!r}: kind must be one of {kinds}, got {self.kind!r}"
            ) from exc
        try:
            object.__setattr__(self, "status", ringmodel.NodeStatus(self.status))
        except ValueError as exc:
            statuses = ", ".join(s.value for s in ringmodel.NodeStatus)
            raise errors.InvalidArgument(
                f"node {self.id!r}: status must be one of {statuses}, got {self.status!r}"
            ) from exc
        _text(f"node {self.id!r} address", self.address, MAX_ADDRESS_BYTES)
        _text(f"node {self.id!r} zone", self.zone, MAX_ZONE_BYTES, empty=True)
        hb = self.last_heartbeat_ms
        if isinstance(hb, bool) or not isinstance(hb, int) or hb < 0:
            raise errors.InvalidArgument(
                f"node {self.id!r}: last_heartbeat_ms must be a whole number >= 0, got {hb!r}"
            )
        w = self.weight
        if isinstance(w, bool) or not isinstance(w, int) or not 1 <= w <= ringmodel.MAX_WEIGHT:
            raise errors.InvalidArgument(
                f"node {self.id!r}: weight must be an integer from 1 to {ringmodel.MAX_WEIGHT}, "
                f"got {w!r}"
            )

    def ring_node(self) -> ringmodel.RingNode:
        return ringmodel.RingNode(self.id, self.zone, self.weight, self.address, self.status)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind.value,
            "address": self.address,
            "zone": self.zone,
            "weight": self.weight,
            "status": self.status.value,
            "last_heartbeat_ms": self.last_heartbeat_ms,
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> NodeInfo:
        return cls(
            id=doc["id"],
            kind=doc["kind"],
            address=doc["address"],
            zone=doc.get("zone", ""),
            weight=doc.get("weight", 1),
            status=doc.get("status", ringmodel.NodeStatus.JOINING.value),
            last_heartbeat_ms=doc.get("last_heartbeat_ms", 0),
        )


@dataclasses.dataclass(frozen=True, slots=True)
class LockInfo:
    ref: str
    owner: str
    token: int
    ttl_seconds: int
    acquired_at_ms: int
    #: Seconds left as etcd's leader sees them; -1 when not read.
    remaining_seconds: int = -1
    #: The etcd lease that carries the lock (internal; not part of the API).
    lease: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "ref": self.ref,
            "owner": self.owner,
            "token": self.token,
            "ttl_seconds": self.ttl_seconds,
            "acquired_at_ms": self.acquired_at_ms,
        }


@dataclasses.dataclass(frozen=True, slots=True)
class RingState:
    """The stored ring: its topology document and the node kind it was built from."""

    topology: dict[str, Any]
    node_kind: NodeKind
    version: int

    @property
    def fingerprint(self) -> str:
        return str(self.topology.get("fingerprint", ""))


@dataclasses.dataclass(frozen=True, slots=True)
class ClusterState:
    """Everything the control plane stores, read at one ``version``
    (``ClusterStateSnapshot`` in the design)."""

    version: int
    nodes: dict[str, NodeInfo]
    ring: RingState | None
    locks: dict[str, LockInfo]
    config: dict[str, Any]
    feature_flags: dict[str, bool]
    #: The version of each node's last change (for WatchTopology consumers).
    node_versions: dict[str, int] = dataclasses.field(default_factory=dict)

    def to_snapshot(self) -> dict[str, Any]:
        """The JSON snapshot document (``snapshot save``)."""
        return {
            "format": SNAPSHOT_FORMAT,
            "version": self.version,
            "nodes": [self.nodes[k].to_json() for k in sorted(self.nodes)],
            "hash_ring": None
            if self.ring is None
            else {"node_kind": self.ring.node_kind.value, "topology": self.ring.topology},
            "locks": [self.locks[k].to_json() for k in sorted(self.locks)],
            "cluster_config": self.config,
            "feature_flags": dict(sorted(self.feature_flags.items())),
        }


def parse_snapshot(doc: object) -> ClusterState:
    """Validate a snapshot document completely (a restore writes nothing unless all of it
    is valid)."""
    if isinstance(doc, str | bytes):
        try:
            doc = orjson.loads(doc)
        except orjson.JSONDecodeError as exc:
            raise errors.InvalidArgument(f"snapshot is not valid JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise errors.InvalidArgument("snapshot must be a JSON object")
    if doc.get("format") != SNAPSHOT_FORMAT:
        raise errors.InvalidArgument(
            f"snapshot format must be {SNAPSHOT_FORMAT!r}, got {doc.get('format')!r}"
        )
    version = doc.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        raise errors.InvalidArgument(f"snapshot version must be a whole number, got {version!r}")
    try:
        nodes = [NodeInfo.from_json(n) for n in doc.get("nodes", [])]
    except (KeyError, TypeError, AttributeError) as exc:
        raise errors.InvalidArgument(f"snapshot has a malformed node: {exc!r}") from exc
    by_id = {n.id: n for n in nodes}
    if len(by_id) != len(nodes):
        raise errors.InvalidArgument("snapshot lists a node id twice")
    ring: RingState | None = None
    raw_ring = doc.get("hash_ring")
    if raw_ring is not None:
        from pilothouse.controlplane import ring as ring_mod  # the ring is pure, import is cheap

        try:
            topology = raw_ring["topology"]
            ring_mod.HashRing.from_topology(topology)  # fingerprint and content checked
            ring = RingState(topology, NodeKind(raw_ring["node_kind"]), 0)
        except (KeyError, TypeError, ValueError) as exc:
            raise errors.InvalidArgument(f"snapshot hash ring is invalid: {exc}") from exc
    flags = doc.get("feature_flags", {})
    if not isinstance(flags, dict) or not all(isinstance(v, bool) for v in flags.values()):
        raise errors.InvalidArgument("snapshot feature_flags must map names to booleans")
    for name in flags:
        check_flag_name(name)
    config = check_config(doc.get("cluster_config", {}))
    return ClusterState(version, by_id, ring, {}, config, dict(flags))

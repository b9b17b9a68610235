"""The GitStratum control plane (issue 5): a replicated coordination service for a storage
cluster, on etcd's Raft. The overview is ``docs/controlplane.md``; the design is
``../shared/seeds/004_*.txt`` (where it and the issue differ, the issue wins).

Where to look:

* :mod:`~pilothouse.controlplane.replica` -- one replica: supervised etcd member
  (:mod:`~pilothouse.controlplane.etcdmember`), gRPC service, election, compaction.
* :mod:`~pilothouse.controlplane.statemachine` and :mod:`~pilothouse.controlplane.locks` --
  the operations as etcd transactions; versions and fencing tokens.
* :mod:`~pilothouse.controlplane.statemodel` -- records, validation, snapshots;
  :mod:`~pilothouse.controlplane.keys` -- where they live in etcd.
* :mod:`~pilothouse.controlplane.service`, :mod:`~pilothouse.controlplane.wire`, ``proto/``
  -- the gRPC API; :mod:`~pilothouse.controlplane.client` -- ``ControlPlaneClient`` and
  ``RingCache``.
* :mod:`~pilothouse.controlplane.etcd` -- the typed etcd client underneath everything.
* :mod:`~pilothouse.controlplane.election`, :mod:`~pilothouse.controlplane.maintenance`,
  :mod:`~pilothouse.controlplane.membership`, :mod:`~pilothouse.controlplane.peers`.
* :mod:`~pilothouse.controlplane.ring` -- the consistent-hash ring, pure and without I/O
  (:mod:`~pilothouse.controlplane.ringdiff`, :mod:`~pilothouse.controlplane.ringmodel`).
"""

from pilothouse.controlplane.ring import BoundedLoad, HashRing
from pilothouse.controlplane.ringdiff import KeyMove, RingDiff, diff
from pilothouse.controlplane.ringmodel import (
    HASH_ALGORITHM_V1,
    DuplicateNodeError,
    EmptyRingError,
    InvalidConfigError,
    InvalidNodeError,
    InvalidTopologyError,
    NodeStatus,
    RingConfig,
    RingError,
    RingNode,
    TooManyVnodesError,
    key_point,
)

__all__ = [
    "HASH_ALGORITHM_V1",
    "BoundedLoad",
    "DuplicateNodeError",
    "EmptyRingError",
    "HashRing",
    "InvalidConfigError",
    "InvalidNodeError",
    "InvalidTopologyError",
    "KeyMove",
    "NodeStatus",
    "RingConfig",
    "RingDiff",
    "RingError",
    "RingNode",
    "TooManyVnodesError",
    "diff",
    "key_point",
]

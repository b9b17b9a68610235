"""The GitStratum control plane (issue 5): a replicated coordination service for a storage
cluster.

When complete the package will hold the replicated cluster state applied as transactions on
an embedded (supervised) etcd member, node membership and health, TTL ref locks with fencing
tokens, cluster config and feature flags, the gRPC API with WatchTopology, and the
``ControlPlaneClient`` with a locally cached ring. The design is
``../shared/seeds/004_*.txt``; where it and the issue differ, the issue wins.

Today it holds the consistent-hash ring, pure and without I/O:

* :mod:`~pilothouse.controlplane.ring` -- :class:`~pilothouse.controlplane.ring.HashRing`
  (build, ``nodes_for``, ``primary``, topology round trip, bounded-load mode); its
  docstring states the placement rules and guarantees.
* :mod:`~pilothouse.controlplane.ringdiff` -- :func:`~pilothouse.controlplane.ringdiff.diff`,
  the keys that move between two rings.
* :mod:`~pilothouse.controlplane.ringmodel` -- ``RingConfig``, ``RingNode``, ``NodeStatus``,
  the errors, and the exact byte layout of the stable hash for clients in other languages.
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

"""The hash ring's model: configuration, nodes, errors, the stable hash and the wire format.

Everything that decides placement and that another client (in any language) must reproduce
is specified here; :mod:`~pilothouse.controlplane.ring` only computes with it.

The stable hash (``hash_algorithm = "blake2b64-v1"``)
-----------------------------------------------------
``H(data)`` is BLAKE2b with a digest length of **8 bytes** (the digest length is a BLAKE2b
parameter, so this is *not* the first 8 bytes of BLAKE2b-512), no key, no salt, no
personalisation, read as an unsigned **big-endian** 64-bit integer. Python's ``hash()`` is
never used: it is salted per process. Domain separation is by a fixed ASCII prefix ending in a
NUL byte (personalisation would be neater but is missing from several BLAKE2 libraries)::

    vnode point     = H(b"pilothouse.ring.v1/vnode\\x00" || u32be(len(id)) || id || u32be(i))
    key point       = H(b"pilothouse.ring.v1/key\\x00" || key)
    partition order = H(b"pilothouse.ring.v1/partition\\x00" || u32be(p))

``id`` is the node id in UTF-8 (length-prefixed, so no id is a prefix-collision of another),
``i`` the vnode index ``0 <= i < weight * vnodes_per_weight``, ``key`` the object key: bytes
as given, a ``str`` in UTF-8 (so ``"a"`` and ``b"a"`` are the same key), ``p`` a partition
number (bounded-load mode only). Ring positions are compared as unsigned integers; ties
between vnode points (astronomically rare) are broken by (node id bytes, vnode index).

Weights are integers on purpose: vnode counts are then exact (no float rounding rule for every
client to copy), and the canonical JSON holds no floats. The bounded-load epsilon likewise
travels as an integer number of parts per million.

Node statuses
-------------
Only ``Active`` nodes are placed. ``Joining`` (no data yet), ``Draining`` (data is being moved
off) and ``Down`` nodes stay in the topology -- so the control plane keeps one record of the
cluster -- but own no vnodes. A status change therefore moves exactly the keys that adding or
removing the node would move, which keeps the minimal-movement guarantee in one place.
"""

from __future__ import annotations

import enum
import hashlib
import json
import math
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

HASH_ALGORITHM_V1 = "blake2b64-v1"
"""The only hash algorithm id today; a new layout would get a new id, never a silent change."""

TOPOLOGY_FORMAT = "pilothouse.hashring/v1"

DEFAULT_VNODES_PER_WEIGHT = 2048
"""A node's share deviates from its weight by about 1/sqrt(vnodes) (2.2% here), which keeps
max/mean primary load at or under 1.06 at 10-50 nodes and the keys an added node takes
within 5% of the ideal (``python -m bench ring``; 256 gave 1.15 and up to 13%). The price is
build time and memory that grow with the points: ~0.4 s and ~70 MB for 100 nodes, ~2.9 s
and ~290 MB for 500; a much larger cluster should lower ``vnodes_per_weight`` (or use
bounded-load mode, which balances at any vnode count)."""

DEFAULT_REPLICATION_FACTOR = 3
DEFAULT_PARTITIONS_LOG2 = 12

MAX_WEIGHT = 10_000
MAX_VNODES_PER_NODE = 65_536
MAX_TOTAL_VNODES = 1 << 21
"""Past this a build costs more than several seconds and hundreds of MB; a cluster that
wants it should lower ``vnodes_per_weight`` instead."""

MAX_REPLICATION_FACTOR = 64
MIN_PARTITIONS_LOG2 = 4
MAX_PARTITIONS_LOG2 = 20
MAX_NODE_ID_BYTES = 253
PPM = 1_000_000

_VNODE_PREFIX = b"pilothouse.ring.v1/vnode\x00"
_KEY_PREFIX = b"pilothouse.ring.v1/key\x00"
_PARTITION_PREFIX = b"pilothouse.ring.v1/partition\x00"
_U32 = struct.Struct(">I")
# Copying a pre-fed hasher is ~40% cheaper than hashing prefix + key afresh (0.30 vs 0.48 us).
_KEY_HASHER = hashlib.blake2b(_KEY_PREFIX, digest_size=8)


class RingError(ValueError):
    """Base of every hash-ring error; a ValueError, as all of them are bad input."""


class InvalidConfigError(RingError):
    """A :class:`RingConfig` field is out of range."""


class InvalidNodeError(RingError):
    """A :class:`RingNode` field is invalid, or the node set is (duplicate ids)."""


class DuplicateNodeError(InvalidNodeError):
    """Two nodes share an id."""


class TooManyVnodesError(RingError):
    """The ring would hold more virtual nodes than :data:`MAX_TOTAL_VNODES`."""


class EmptyRingError(RingError):
    """A lookup on a ring with no Active node."""


class InvalidTopologyError(RingError):
    """A topology document is malformed or its fingerprint does not match its content."""


class NodeStatus(enum.StrEnum):
    JOINING = "Joining"
    ACTIVE = "Active"
    DRAINING = "Draining"
    DOWN = "Down"

    @property
    def placeable(self) -> bool:
        return self is NodeStatus.ACTIVE


def _check_int(name: str, value: object, lo: int, hi: int, error: type[RingError]) -> int:
    # bool is an int subclass; True as a weight is a bug, not a 1.
    if not isinstance(value, int) or isinstance(value, bool):
        raise error(f"{name} must be an integer, got {value!r}")
    if not lo <= value <= hi:
        raise error(f"{name} must be between {lo} and {hi}, got {value}")
    return value


@dataclass(frozen=True, slots=True)
class RingConfig:
    """Everything besides the node set that placement depends on.

    ``bounded_load_epsilon``: None for plain consistent hashing; a value ``e > 0`` turns on
    bounded-load mode (see :mod:`~pilothouse.controlplane.ring`) with per-node capacity
    ``ceil((1 + e) * average load * weight share)``. It is kept with a resolution of 1e-6
    (it travels as integer ppm) and normalised on construction, so round trips are exact.
    ``partitions_log2`` only matters in bounded-load mode.
    """

    vnodes_per_weight: int = DEFAULT_VNODES_PER_WEIGHT
    replication_factor: int = DEFAULT_REPLICATION_FACTOR
    hash_algorithm: str = HASH_ALGORITHM_V1
    bounded_load_epsilon: float | None = None
    partitions_log2: int = DEFAULT_PARTITIONS_LOG2

    def __post_init__(self) -> None:
        _check_int(
            "vnodes_per_weight", self.vnodes_per_weight, 1, MAX_VNODES_PER_NODE, InvalidConfigError
        )
        _check_int(
            "replication_factor",
            self.replication_factor,
            1,
            MAX_REPLICATION_FACTOR,
            InvalidConfigError,
        )
        _check_int(
            "partitions_log2",
            self.partitions_log2,
            MIN_PARTITIONS_LOG2,
            MAX_PARTITIONS_LOG2,
            InvalidConfigError,
        )
        if self.hash_algorithm != HASH_ALGORITHM_V1:
            raise InvalidConfigError(
                f"unknown hash_algorithm {self.hash_algorithm!r} (supported: {HASH_ALGORITHM_V1})"
            )
        eps = self.bounded_load_epsilon
        if eps is not None:
            if isinstance(eps, bool) or not isinstance(eps, int | float) or not math.isfinite(eps):
                raise InvalidConfigError(f"bounded_load_epsilon must be a number, got {eps!r}")
            ppm = round(eps * PPM)
            if not 1 <= ppm <= 100 * PPM:
                raise InvalidConfigError(
                    f"bounded_load_epsilon must be between 1e-6 and 100, got {eps!r}"
                )
            object.__setattr__(self, "bounded_load_epsilon", ppm / PPM)

    @property
    def epsilon_ppm(self) -> int | None:
        eps = self.bounded_load_epsilon
        return None if eps is None else round(eps * PPM)

    def to_json(self) -> dict[str, Any]:
        return {
            "vnodes_per_weight": self.vnodes_per_weight,
            "replication_factor": self.replication_factor,
            "hash_algorithm": self.hash_algorithm,
            "bounded_load_epsilon_ppm": self.epsilon_ppm,
            "partitions_log2": self.partitions_log2,
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> RingConfig:
        _expect_keys("config", doc, cls().to_json().keys())
        ppm = doc["bounded_load_epsilon_ppm"]
        if ppm is not None:
            ppm = _check_int("bounded_load_epsilon_ppm", ppm, 1, 100 * PPM, InvalidTopologyError)
        return cls(
            vnodes_per_weight=doc["vnodes_per_weight"],
            replication_factor=doc["replication_factor"],
            hash_algorithm=doc["hash_algorithm"],
            bounded_load_epsilon=None if ppm is None else ppm / PPM,
            partitions_log2=doc["partitions_log2"],
        )


@dataclass(frozen=True, slots=True)
class RingNode:
    """A storage node as the ring sees it. ``zone`` is an opaque failure-domain name (nodes
    that leave it empty share the zone ``""``); ``address`` is carried, never hashed."""

    id: str
    zone: str = ""
    weight: int = 1
    address: str = ""
    status: NodeStatus = NodeStatus.ACTIVE

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id:
            raise InvalidNodeError(f"node id must be a non-empty string, got {self.id!r}")
        try:
            id_len = len(self.id.encode("utf-8"))
        except UnicodeEncodeError as exc:
            raise InvalidNodeError(f"node id {self.id!r} is not valid UTF-8 text") from exc
        if id_len > MAX_NODE_ID_BYTES:
            raise InvalidNodeError(f"node id is {id_len} bytes, at most {MAX_NODE_ID_BYTES}")
        if not isinstance(self.zone, str) or not isinstance(self.address, str):
            raise InvalidNodeError(f"node {self.id!r}: zone and address must be strings")
        _check_int(f"node {self.id!r} weight", self.weight, 1, MAX_WEIGHT, InvalidNodeError)
        try:
            object.__setattr__(self, "status", NodeStatus(self.status))
        except ValueError as exc:
            allowed = ", ".join(s.value for s in NodeStatus)
            raise InvalidNodeError(
                f"node {self.id!r}: unknown status {self.status!r} (one of {allowed})"
            ) from exc

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "zone": self.zone,
            "weight": self.weight,
            "address": self.address,
            "status": self.status.value,
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> RingNode:
        _expect_keys("node", doc, ("id", "zone", "weight", "address", "status"))
        return cls(
            id=doc["id"],
            zone=doc["zone"],
            weight=doc["weight"],
            address=doc["address"],
            status=doc["status"],
        )


def _expect_keys(what: str, doc: object, keys: Any) -> None:
    if not isinstance(doc, Mapping):
        raise InvalidTopologyError(f"{what} must be a JSON object, got {type(doc).__name__}")
    missing = set(keys) - set(doc)
    extra = set(doc) - set(keys)
    if missing or extra:
        raise InvalidTopologyError(
            f"{what}: missing fields {sorted(missing)}, unknown fields {sorted(extra)}"
        )


def hash64(data: bytes) -> int:
    """BLAKE2b with an 8-byte digest, as an unsigned big-endian integer."""
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big")


def key_bytes(key: str | bytes) -> bytes:
    if isinstance(key, bytes):
        return key
    if isinstance(key, str):
        return key.encode("utf-8")
    raise TypeError(f"a ring key is str or bytes, got {type(key).__name__}")


def key_point(key: str | bytes) -> int:
    h = _KEY_HASHER.copy()
    h.update(key_bytes(key))
    return int.from_bytes(h.digest(), "big")


def vnode_point(node_id: str, index: int) -> int:
    idb = node_id.encode("utf-8")
    return hash64(_VNODE_PREFIX + _U32.pack(len(idb)) + idb + _U32.pack(index))


def partition_order(partition: int) -> int:
    return hash64(_PARTITION_PREFIX + _U32.pack(partition))


def canonical_json(doc: Any) -> bytes:
    """Sorted keys, no whitespace, UTF-8, no floats (the model has none): for the documents
    here this equals RFC 8785 (JCS), so other languages can reproduce the fingerprint."""
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def fingerprint(doc: Any) -> str:
    return "blake2b256:" + hashlib.blake2b(canonical_json(doc), digest_size=32).hexdigest()

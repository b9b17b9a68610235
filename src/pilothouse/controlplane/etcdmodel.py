"""etcd's records, errors and transaction building blocks, typed (no I/O).

The client that sends them is :mod:`pilothouse.controlplane.etcd`, which re-exports every
name here, so callers write ``etcd.put(...)``, ``etcd.KV`` and so on.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import Any

from aetcd import rpc


class EtcdError(Exception):
    """etcd refused or failed a request (its message is kept)."""


class EtcdUnavailable(EtcdError):
    """No etcd member answered in time: no quorum, the member is down, or a timeout."""


class EtcdCompacted(EtcdError):
    """The revision asked for is below etcd's compaction point."""

    def __init__(self, compact_revision: int) -> None:
        super().__init__(f"revisions below {compact_revision} were compacted")
        self.compact_revision = compact_revision


def prefix_end(prefix: bytes) -> bytes:
    """The ``range_end`` selecting every key that starts with ``prefix`` (etcd's rule)."""
    end = bytearray(prefix)
    for i in reversed(range(len(end))):
        if end[i] < 0xFF:
            end[i] += 1
            return bytes(end[: i + 1])
    return b"\x00"  # every key


@dataclasses.dataclass(frozen=True, slots=True)
class KV:
    key: bytes
    value: bytes
    create_revision: int
    mod_revision: int
    version: int
    lease: int

    @classmethod
    def of(cls, kv: Any) -> KV:
        return cls(kv.key, kv.value, kv.create_revision, kv.mod_revision, kv.version, kv.lease)


@dataclasses.dataclass(frozen=True, slots=True)
class Range:
    """A range read: the store ``revision`` it was read at and the keys found."""

    revision: int
    kvs: tuple[KV, ...]
    more: bool = False


@dataclasses.dataclass(frozen=True, slots=True)
class Deleted:
    """A delete's result: how many keys went, and which (when ``prev_kv`` was asked)."""

    count: int
    prev: tuple[KV, ...] = ()


@dataclasses.dataclass(frozen=True, slots=True)
class TxnResult:
    succeeded: bool
    revision: int
    #: One entry per operation of the branch taken: a :class:`Range` for gets, a
    #: :class:`Deleted` for deletes, ``None`` for puts.
    results: tuple[Range | Deleted | None, ...]


class EventType(enum.StrEnum):
    PUT = "PUT"
    DELETE = "DELETE"


@dataclasses.dataclass(frozen=True, slots=True)
class Event:
    type: EventType
    kv: KV
    prev: KV | None


@dataclasses.dataclass(frozen=True, slots=True)
class Revision:
    """All watch events of one revision (one etcd transaction), in order."""

    revision: int
    events: tuple[Event, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class Status:
    member_id: int
    leader: int
    raft_term: int
    raft_index: int
    revision: int
    db_size: int
    db_size_in_use: int
    errors: tuple[str, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class MemberInfo:
    id: int
    name: str
    peer_urls: tuple[str, ...]
    client_urls: tuple[str, ...]
    is_learner: bool


# -- transaction building blocks -----------------------------------------------------------

_CMP = {
    "==": rpc.Compare.EQUAL,
    "!=": rpc.Compare.NOT_EQUAL,
    "<": rpc.Compare.LESS,
    ">": rpc.Compare.GREATER,
}


def _compare(key: bytes, op: str, target: Any, field: str, value: Any, range_end: bytes) -> Any:
    msg = rpc.Compare(key=key, result=_CMP[op], target=target, range_end=range_end)
    setattr(msg, field, value)
    return msg


def create_revision(key: bytes, op: str, value: int) -> Any:
    """Compare ``key``'s create revision (0: the key does not exist)."""
    return _compare(key, op, rpc.Compare.CREATE, "create_revision", value, b"")


def mod_revision(key: bytes, op: str, value: int, *, prefix: bool = False) -> Any:
    """Compare the mod revision of ``key`` (of every key under it with ``prefix``)."""
    end = prefix_end(key) if prefix else b""
    return _compare(key, op, rpc.Compare.MOD, "mod_revision", value, end)


def value_is(key: bytes, op: str, value: bytes) -> Any:
    return _compare(key, op, rpc.Compare.VALUE, "value", value, b"")


def lease_is(key: bytes, op: str, lease: int) -> Any:
    return _compare(key, op, rpc.Compare.LEASE, "lease", lease, b"")


def put(key: bytes, value: bytes, lease: int = 0) -> Any:
    return rpc.RequestOp(request_put=rpc.PutRequest(key=key, value=value, lease=lease))


def get(key: bytes, *, prefix: bool = False) -> Any:
    end = prefix_end(key) if prefix else b""
    return rpc.RequestOp(request_range=rpc.RangeRequest(key=key, range_end=end))


def delete(key: bytes, *, prefix: bool = False, prev_kv: bool = False) -> Any:
    """Delete ``key``; with ``prev_kv`` the transaction result lists the deleted keys."""
    end = prefix_end(key) if prefix else b""
    req = rpc.DeleteRangeRequest(key=key, range_end=end, prev_kv=prev_kv)
    return rpc.RequestOp(request_delete_range=req)

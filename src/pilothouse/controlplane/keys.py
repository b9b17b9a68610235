"""Where the cluster state lives in etcd: one key per record, under one prefix.

::

    /gitstratum/state/nodes/<id>     NodeInfo JSON
    /gitstratum/state/ring           {"node_kind", "topology"} JSON
    /gitstratum/state/config         the cluster config JSON object
    /gitstratum/state/flags/<name>   "true" / "false"
    /gitstratum/state/locks/<ref>    the owner, attached to the grant's lease
    /gitstratum/state/lockinfo/<ref> {"ttl", "acquired_at_ms"}, attached to the same lease
    /gitstratum/meta/base            version offset set by a snapshot restore

A lock's owner is the whole value of its key so that release can compare it exactly in
the same transaction that deletes the grant (one etcd round trip).

The state shares one prefix so a single range read at one revision is a consistent
snapshot, and a single watch sees every change in revision order. Leader election keys
live outside it (``/gitstratum-election/``) and are never part of the state.
"""

from __future__ import annotations

PREFIX = b"/gitstratum/"
STATE = PREFIX + b"state/"
NODES = STATE + b"nodes/"
RING = STATE + b"ring"
CONFIG = STATE + b"config"
FLAGS = STATE + b"flags/"
LOCKS = STATE + b"locks/"
LOCK_INFO = STATE + b"lockinfo/"
BASE = PREFIX + b"meta/base"
ELECTION = b"/gitstratum-election/"


def node(node_id: str) -> bytes:
    return NODES + node_id.encode()


def flag(name: str) -> bytes:
    return FLAGS + name.encode()


def lock(ref: str) -> bytes:
    return LOCKS + ref.encode()


def lock_info(ref: str) -> bytes:
    return LOCK_INFO + ref.encode()


def name_of(key: bytes, prefix: bytes) -> str:
    return key[len(prefix) :].decode()

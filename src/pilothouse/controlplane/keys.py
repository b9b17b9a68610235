"""Where the cluster state lives in etcd: one key per record, under one prefix.

::

    /gitstratum/state/nodes/<id>     NodeInfo JSON
    /gitstratum/state/ring           {"node_kind", "topology"} JSON
    /gitstratum/state/config         the cluster config JSON object
    /gitstratum/state/flags/<name>   "true" / "false"
    /gitstratum/state/locks/<ref>    {"owner", "ttl", "acquired_at_ms"}, attached to a lease
    /gitstratum/meta/base            version offset set by a snapshot restore

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
BASE = PREFIX + b"meta/base"
ELECTION = b"/gitstratum-election/"


def node(node_id: str) -> bytes:
    return NODES + node_id.encode()


def flag(name: str) -> bytes:
    return FLAGS + name.encode()


def lock(ref: str) -> bytes:
    return LOCKS + ref.encode()


def name_of(key: bytes, prefix: bytes) -> str:
    return key[len(prefix) :].decode()

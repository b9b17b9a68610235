"""The etcd key layout and the etcd client's pure helpers (range ends, targets, builders)."""

from __future__ import annotations

import grpc
import grpc.aio
import pytest
from aetcd import rpc
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from pilothouse.controlplane import errors, etcd, keys, statemodel

PROPERTY = settings(max_examples=300, deadline=None)

# Bytes near the interesting edges (0x00, 0xff) turn up far more often than uniformly.
edge_bytes = st.lists(st.sampled_from([0x00, 0x01, 0x61, 0x62, 0xFE, 0xFF]), max_size=5).map(bytes)
any_bytes = edge_bytes | st.binary(max_size=6)


def _in_range(key: bytes, start: bytes, end: bytes) -> bool:
    """etcd's [key, range_end) rule; range_end b"\\x00" means "to the end of the keyspace"."""
    return key >= start and (end == b"\x00" or key < end)


# -- prefix_end --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prefix", "end"),
    [
        (b"a", b"b"),
        (b"a\xff", b"b"),
        (b"a\xff\xff", b"b"),
        (b"\xff\xff", b"\x00"),
        (b"\xff", b"\x00"),
        (b"", b"\x00"),
        (b"/gitstratum/", b"/gitstratum0"),
        (b"ab\x00", b"ab\x01"),
        (b"a\xfe", b"a\xff"),
        (b"\x00", b"\x01"),
    ],
)
def test_prefix_end_examples(prefix: bytes, end: bytes) -> None:
    assert etcd.prefix_end(prefix) == end


@PROPERTY
@given(any_bytes, any_bytes)
def test_keys_with_prefix_are_in_range(prefix: bytes, suffix: bytes) -> None:
    end = etcd.prefix_end(prefix)
    assert _in_range(prefix + suffix, prefix, end)
    if end != b"\x00":
        assert prefix < end


@PROPERTY
@given(any_bytes, any_bytes)
def test_keys_without_prefix_are_out_of_range(prefix: bytes, key: bytes) -> None:
    assume(not key.startswith(prefix))
    assert not _in_range(key, prefix, etcd.prefix_end(prefix))


@PROPERTY
@given(any_bytes)
def test_prefix_end_is_tight(prefix: bytes) -> None:
    """The end is the smallest key above every key with the prefix: it does not start with
    the prefix itself, and it is no longer than the prefix."""
    end = etcd.prefix_end(prefix)
    if end == b"\x00":
        assert set(prefix) <= {0xFF}
    else:
        assert not end.startswith(prefix)
        assert len(end) <= len(prefix)
        assert end[:-1] == prefix[: len(end) - 1]
        assert end[-1] == prefix[len(end) - 1] + 1


# -- _target -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("endpoints", "target"),
    [
        (["127.0.0.1:2379"], "127.0.0.1:2379"),
        (["localhost:2379"], "localhost:2379"),
        (["http://127.0.0.1:2379"], "127.0.0.1:2379"),
        (["https://127.0.0.1:2379/"], "127.0.0.1:2379"),
        ([" 127.0.0.1:2379 "], "127.0.0.1:2379"),
        (["127.0.0.1:1", "127.0.0.1:2"], "ipv4:127.0.0.1:1,127.0.0.1:2"),
        (
            ["http://10.0.0.1:2379", "10.0.0.2:2379/", "https://10.0.0.3:2379"],
            "ipv4:10.0.0.1:2379,10.0.0.2:2379,10.0.0.3:2379",
        ),
        (("localhost:1", "127.0.0.2:2"), "ipv4:127.0.0.1:1,127.0.0.2:2"),
    ],
)
def test_target(endpoints: list[str], target: str) -> None:
    assert etcd._target(endpoints) == target


@pytest.mark.parametrize(
    "endpoints", [[], [""], ["  "], ["http://"], ["127.0.0.1:1", ""], ["https:///"]]
)
def test_target_rejects_empty(endpoints: list[str]) -> None:
    with pytest.raises(ValueError, match="no etcd endpoints in"):
        etcd._target(endpoints)


# -- compare and operation builders ------------------------------------------------------------


def test_create_revision_compare() -> None:
    msg = etcd.create_revision(b"/k", "==", 0)
    assert msg.key == b"/k"
    assert msg.result == rpc.Compare.EQUAL
    assert msg.target == rpc.Compare.CREATE
    assert msg.create_revision == 0
    assert msg.range_end == b""
    assert msg.WhichOneof("target_union") == "create_revision"


@pytest.mark.parametrize(
    ("op", "result"),
    [
        ("==", rpc.Compare.EQUAL),
        ("!=", rpc.Compare.NOT_EQUAL),
        ("<", rpc.Compare.LESS),
        (">", rpc.Compare.GREATER),
    ],
)
def test_mod_revision_compare(op: str, result: int) -> None:
    single = etcd.mod_revision(b"/k", op, 5)
    assert (single.result, single.target, single.mod_revision) == (result, rpc.Compare.MOD, 5)
    assert single.range_end == b""
    whole = etcd.mod_revision(keys.NODES, op, 9, prefix=True)
    assert whole.key == keys.NODES
    assert whole.range_end == etcd.prefix_end(keys.NODES) == keys.STATE + b"nodes0"


def test_unknown_compare_operator() -> None:
    with pytest.raises(KeyError):
        etcd.create_revision(b"/k", ">=", 0)


def test_value_and_lease_compares() -> None:
    v = etcd.value_is(b"/k", "!=", b"x")
    assert (v.target, v.result, v.value) == (rpc.Compare.VALUE, rpc.Compare.NOT_EQUAL, b"x")
    lease = etcd.lease_is(b"/k", "==", 77)
    assert (lease.target, lease.lease) == (rpc.Compare.LEASE, 77)


def test_request_ops() -> None:
    p = etcd.put(b"/k", b"v", lease=3)
    assert p.WhichOneof("request") == "request_put"
    assert (p.request_put.key, p.request_put.value, p.request_put.lease) == (b"/k", b"v", 3)
    g = etcd.get(b"/k")
    assert g.WhichOneof("request") == "request_range"
    assert (g.request_range.key, g.request_range.range_end) == (b"/k", b"")
    gp = etcd.get(keys.PREFIX, prefix=True)
    assert gp.request_range.range_end == b"/gitstratum0"
    d = etcd.delete(keys.LOCKS, prefix=True)
    assert d.WhichOneof("request") == "request_delete_range"
    assert d.request_delete_range.key == keys.LOCKS
    assert d.request_delete_range.range_end == etcd.prefix_end(keys.LOCKS)
    assert etcd.delete(b"/k").request_delete_range.range_end == b""


# -- key layout --------------------------------------------------------------------------------


def test_layout_constants() -> None:
    assert keys.STATE == b"/gitstratum/state/"
    assert keys.NODES == b"/gitstratum/state/nodes/"
    assert keys.RING == b"/gitstratum/state/ring"
    assert keys.CONFIG == b"/gitstratum/state/config"
    assert keys.FLAGS == b"/gitstratum/state/flags/"
    assert keys.LOCKS == b"/gitstratum/state/locks/"
    assert keys.BASE == b"/gitstratum/meta/base"
    # The whole state (and base) is read by one range over PREFIX; elections are outside it.
    for key in (keys.STATE, keys.NODES, keys.RING, keys.CONFIG, keys.FLAGS, keys.LOCKS):
        assert key.startswith(keys.STATE)
    assert keys.BASE.startswith(keys.PREFIX) and not keys.BASE.startswith(keys.STATE)
    assert not _in_range(keys.ELECTION, keys.PREFIX, etcd.prefix_end(keys.PREFIX))
    assert not _in_range(keys.ELECTION + b"x", keys.PREFIX, etcd.prefix_end(keys.PREFIX))


def test_record_prefixes_do_not_overlap() -> None:
    prefixes = [keys.NODES, keys.FLAGS, keys.LOCKS]
    singles = [keys.RING, keys.CONFIG]
    for a in prefixes:
        for b in prefixes + singles:
            if a is not b:
                assert not b.startswith(a)
                assert not a.startswith(b)


@pytest.mark.parametrize("name", ["n1", "nœud-2", "日本", "😀", "a/b", "a b", "refs/heads/main"])
def test_record_keys_invert(name: str) -> None:
    assert keys.node(name) == keys.NODES + name.encode()
    assert keys.name_of(keys.node(name), keys.NODES) == name
    assert keys.flag(name) == keys.FLAGS + name.encode()
    assert keys.name_of(keys.flag(name), keys.FLAGS) == name
    assert keys.lock(name) == keys.LOCKS + name.encode()
    assert keys.name_of(keys.lock(name), keys.LOCKS) == name


def test_refs_with_lone_surrogates_are_refused_before_any_key_is_made() -> None:
    # A ref decoded from bytes with surrogateescape cannot be stored (etcd keys are UTF-8
    # here, and protobuf strings cannot carry it either): validation says so.
    ref = b"refs/heads/\xff\xfe".decode("utf-8", "surrogateescape")
    with pytest.raises(errors.InvalidArgument, match="not valid Unicode"):
        statemodel.check_ref(ref)


@PROPERTY
@given(st.text(min_size=1, max_size=30))
def test_keys_under_state_and_invertible(name: str) -> None:
    end = etcd.prefix_end(keys.STATE)
    for make, prefix in ((keys.node, keys.NODES), (keys.flag, keys.FLAGS), (keys.lock, keys.LOCKS)):
        key = make(name)
        assert key.startswith(prefix)
        assert _in_range(key, keys.STATE, end)
        assert _in_range(key, prefix, etcd.prefix_end(prefix))
        assert keys.name_of(key, prefix) == name


@PROPERTY
@given(st.text(min_size=1, max_size=10), st.text(min_size=1, max_size=10))
def test_distinct_names_have_distinct_keys(a: str, b: str) -> None:
    assume(a != b)
    assert keys.node(a) != keys.node(b)
    assert keys.lock(a) != keys.lock(b)
    assert keys.flag(a) != keys.flag(b)


# -- how etcd's failures are classified ---------------------------------------------------------


def _rpc_error(code: grpc.StatusCode, details: str) -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details=details)


@pytest.mark.parametrize(
    ("code", "details", "expected"),
    [
        (grpc.StatusCode.UNAVAILABLE, "connection refused", etcd.EtcdUnavailable),
        (grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded", etcd.EtcdUnavailable),
        # A deadline that expired on etcd's side comes back UNKNOWN: still transient.
        (grpc.StatusCode.UNKNOWN, "context deadline exceeded", etcd.EtcdUnavailable),
        (grpc.StatusCode.UNKNOWN, "etcdserver: leader changed", etcd.EtcdUnavailable),
        (grpc.StatusCode.UNKNOWN, "etcdserver: request timed out", etcd.EtcdUnavailable),
        (
            grpc.StatusCode.OUT_OF_RANGE,
            "etcdserver: mvcc: required revision has been compacted",
            etcd.EtcdCompacted,
        ),
        (
            grpc.StatusCode.INVALID_ARGUMENT,
            "etcdserver: too many operations in txn request",
            etcd.EtcdError,
        ),
    ],
)
def test_etcd_failures_are_classified(
    code: grpc.StatusCode, details: str, expected: type[etcd.EtcdError]
) -> None:
    err = etcd._error(_rpc_error(code, details))
    assert type(err) is expected
    assert details in str(err) or expected is etcd.EtcdCompacted

"""The state model's validators, records and snapshot documents (no I/O)."""

from __future__ import annotations

import copy
import string
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pilothouse.controlplane import errors, keys, ringmodel, statemodel
from pilothouse.controlplane.ring import HashRing
from pilothouse.controlplane.ringmodel import NodeStatus, RingConfig, RingNode
from pilothouse.controlplane.statemodel import (
    ClusterState,
    LockInfo,
    NodeInfo,
    NodeKind,
    RingState,
)

PROPERTY = settings(max_examples=150, deadline=None)

# -- strategies ------------------------------------------------------------------------------

# Text the validators accept: no control characters and no lone surrogates.
clean_chars = st.characters(blacklist_categories=("Cs", "Cc"))
node_ids = (
    st.text(clean_chars, min_size=1, max_size=24)
    .filter(lambda s: s == s.strip())
    .filter(lambda s: len(s.encode()) <= ringmodel.MAX_NODE_ID_BYTES)
)
nodes_st = st.builds(
    NodeInfo,
    id=node_ids,
    kind=st.sampled_from(list(NodeKind)),
    address=st.text(clean_chars, min_size=1, max_size=40),
    zone=st.text(clean_chars, max_size=20),
    weight=st.integers(1, ringmodel.MAX_WEIGHT),
    status=st.sampled_from(list(NodeStatus)),
    last_heartbeat_ms=st.integers(0, 2**62),
)
json_scalars = (
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(clean_chars, max_size=10)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(clean_chars, max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)
anything = json_values | st.floats() | st.binary(max_size=8) | st.tuples(st.integers())


def _node(node_id: str = "n1", **kw: Any) -> NodeInfo:
    args: dict[str, Any] = {"kind": NodeKind.OBJECT, "address": "10.0.0.1:7000"}
    args.update(kw)
    return NodeInfo(node_id, **args)


def _ring_topology(node_ids: tuple[str, ...] = ("n1", "n2")) -> dict[str, Any]:
    ring = HashRing.build(
        [RingNode(i, zone="z", weight=1, address="a", status=NodeStatus.ACTIVE) for i in node_ids],
        RingConfig(vnodes_per_weight=4, replication_factor=2),
    )
    return ring.topology()


def _state() -> ClusterState:
    nodes = {
        "n1": _node("n1", zone="z1", weight=3, status=NodeStatus.ACTIVE, last_heartbeat_ms=17),
        "nœud-2": _node("nœud-2", kind=NodeKind.METADATA, status=NodeStatus.DRAINING),
    }
    return ClusterState(
        version=42,
        nodes=nodes,
        ring=RingState(_ring_topology(), NodeKind.OBJECT, 40),
        locks={"refs/heads/main": LockInfo("refs/heads/main", "o", 12, 30, 1000, 5, 99)},
        config={"replicas": 3, "nested": {"a": [1, "two", None, True]}},
        feature_flags={"fast-path": True, "b.beta_1": False},
        node_versions={"n1": 41, "nœud-2": 42},
    )


def _snapshot(**overrides: Any) -> dict[str, Any]:
    doc = _state().to_snapshot()
    doc.update(overrides)
    return doc


# -- refs and owners ---------------------------------------------------------------------------


@pytest.mark.parametrize("check", [statemodel.check_ref, statemodel.check_owner])
def test_text_accepts_ordinary_values(check: Any) -> None:
    assert check("refs/heads/main") == "refs/heads/main"
    assert check("ünïcødé ✓") == "ünïcødé ✓"
    assert check(" spaced ") == " spaced "  # refs and owners are not stripped


@pytest.mark.parametrize(
    ("check", "what"), [(statemodel.check_ref, "ref"), (statemodel.check_owner, "owner")]
)
def test_text_rejects_empty(check: Any, what: str) -> None:
    with pytest.raises(errors.InvalidArgument, match=f"^{what} must not be empty$"):
        check("")


@pytest.mark.parametrize("check", [statemodel.check_ref, statemodel.check_owner])
@pytest.mark.parametrize("bad", ["\x00", "a\nb", "tab\t", "\x1f", "del\x7f", "\r"])
def test_text_rejects_control_characters(check: Any, bad: str) -> None:
    with pytest.raises(errors.InvalidArgument, match="must not contain control characters"):
        check(bad)


@pytest.mark.parametrize("check", [statemodel.check_ref, statemodel.check_owner])
@pytest.mark.parametrize("bad", [None, 5, b"ref", ["a"], 1.0, True])
def test_text_rejects_non_strings(check: Any, bad: object) -> None:
    with pytest.raises(errors.InvalidArgument, match=f"must be a string, got {type(bad).__name__}"):
        check(bad)


@pytest.mark.parametrize(
    ("check", "what", "limit"),
    [
        (statemodel.check_ref, "ref", statemodel.MAX_REF_BYTES),
        (statemodel.check_owner, "owner", statemodel.MAX_OWNER_BYTES),
    ],
)
@pytest.mark.parametrize("char", ["a", "é", "€", "😀"])  # 1, 2, 3 and 4 bytes in UTF-8
def test_text_size_limit_counts_utf8_bytes(check: Any, what: str, limit: int, char: str) -> None:
    width = len(char.encode())
    fits = "a" * (limit % width) + char * (limit // width)
    assert len(fits.encode()) == limit
    assert check(fits) == fits
    # The last character straddles the limit: one byte too many.
    over = "a" * (limit - width + 1) + char
    assert len(over.encode()) == limit + 1
    with pytest.raises(
        errors.InvalidArgument, match=f"^{what} is {limit + 1} bytes, at most {limit}$"
    ):
        check(over)


def test_ref_limit_is_bytes_not_characters() -> None:
    # 1024 characters but 1025 bytes: over the limit.
    ref = "a" * (statemodel.MAX_REF_BYTES - 1) + "é"
    assert len(ref) == statemodel.MAX_REF_BYTES
    with pytest.raises(errors.InvalidArgument, match="ref is 1025 bytes, at most 1024"):
        statemodel.check_ref(ref)


# -- TTL ---------------------------------------------------------------------------------------


def test_ttl_accepts_exact_bounds() -> None:
    assert statemodel.check_ttl(statemodel.DEFAULT_MIN_TTL_SECONDS) == 2
    assert statemodel.check_ttl(statemodel.MAX_TTL_SECONDS) == 24 * 3600
    assert statemodel.check_ttl(30) == 30


@pytest.mark.parametrize("bad", [True, False, 2.0, "30", None, [30]])
def test_ttl_rejects_non_integers(bad: object) -> None:
    with pytest.raises(errors.InvalidArgument, match="ttl must be whole seconds"):
        statemodel.check_ttl(bad)


@pytest.mark.parametrize("bad", [1, 0, -5])
def test_ttl_below_minimum(bad: int) -> None:
    with pytest.raises(errors.InvalidArgument, match=f"ttl must be at least 2s .*got {bad}s"):
        statemodel.check_ttl(bad)


def test_ttl_above_maximum() -> None:
    with pytest.raises(errors.InvalidArgument, match="ttl must be at most 86400s, got 86401s"):
        statemodel.check_ttl(statemodel.MAX_TTL_SECONDS + 1)


def test_ttl_custom_minimum() -> None:
    assert statemodel.check_ttl(5, min_ttl=5) == 5
    with pytest.raises(errors.InvalidArgument, match="at least 5s"):
        statemodel.check_ttl(4, min_ttl=5)


@PROPERTY
@given(st.integers(-(2**40), 2**40))
def test_ttl_property(ttl: int) -> None:
    if statemodel.DEFAULT_MIN_TTL_SECONDS <= ttl <= statemodel.MAX_TTL_SECONDS:
        assert statemodel.check_ttl(ttl) == ttl
    else:
        with pytest.raises(errors.InvalidArgument):
            statemodel.check_ttl(ttl)


# -- node ids ----------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [" n1", "n1 ", " ", "\u00a0n1", "n1\u2003"])
def test_node_id_rejects_surrounding_spaces(bad: str) -> None:
    with pytest.raises(errors.InvalidArgument, match="must not start or end with spaces"):
        statemodel.check_node_id(bad)


def test_node_id_inner_space_is_fine() -> None:
    assert statemodel.check_node_id("rack 1 node 2") == "rack 1 node 2"


def test_node_id_length_limit_in_bytes() -> None:
    limit = ringmodel.MAX_NODE_ID_BYTES
    assert limit == 253
    assert statemodel.check_node_id("n" * limit) == "n" * limit
    assert statemodel.check_node_id("é" * 126 + "n") == "é" * 126 + "n"  # 253 bytes
    with pytest.raises(errors.InvalidArgument, match="node id is 254 bytes, at most 253"):
        statemodel.check_node_id("n" * (limit + 1))
    with pytest.raises(errors.InvalidArgument, match="node id is 254 bytes, at most 253"):
        statemodel.check_node_id("é" * 127)


@pytest.mark.parametrize("bad", ["", "a\x00", 7, None])
def test_node_id_rejects_empty_control_and_non_strings(bad: object) -> None:
    with pytest.raises(errors.InvalidArgument, match="node id"):
        statemodel.check_node_id(bad)


# -- feature flag names ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "good", ["a", "0", "a1", "fast-path", "b.beta_1", "a" * 63, "0" + "-" * 61 + "9", "x.y"]
)
def test_flag_name_accepts(good: str) -> None:
    assert statemodel.check_flag_name(good) == good


@pytest.mark.parametrize(
    "bad", ["A", "Fast", "-a", "a-", ".a", "a.", "_a", "a_", "a b", "a/b", "é", "a:b", "a+b"]
)
def test_flag_name_rejects_pattern(bad: str) -> None:
    with pytest.raises(errors.InvalidArgument, match="must be lower-case letters, digits"):
        statemodel.check_flag_name(bad)


def test_flag_name_length_boundary() -> None:
    assert statemodel.check_flag_name("a" * 63) == "a" * 63
    with pytest.raises(errors.InvalidArgument, match="is 64 bytes, at most 63"):
        statemodel.check_flag_name("a" * 64)
    with pytest.raises(errors.InvalidArgument, match="must not be empty"):
        statemodel.check_flag_name("")


_FLAG_ALPHABET = set(string.ascii_lowercase + string.digits + "._-")
_FLAG_EDGE = set(string.ascii_lowercase + string.digits)


@PROPERTY
@given(st.text(alphabet=string.ascii_letters + string.digits + "._- /é", max_size=70))
def test_flag_name_matches_independent_oracle(name: str) -> None:
    valid = (
        1 <= len(name) <= 63
        and set(name) <= _FLAG_ALPHABET
        and name[0] in _FLAG_EDGE
        and name[-1] in _FLAG_EDGE
    )
    if valid:
        assert statemodel.check_flag_name(name) == name
    else:
        with pytest.raises(errors.InvalidArgument):
            statemodel.check_flag_name(name)


# -- cluster config ----------------------------------------------------------------------------


def test_config_accepts_objects_strings_and_bytes() -> None:
    assert statemodel.check_config({"a": 1}) == {"a": 1}
    assert statemodel.check_config('{"a": [1, 2]}') == {"a": [1, 2]}
    assert statemodel.check_config(b'{"b": null}') == {"b": None}
    assert statemodel.check_config("") == {}
    assert statemodel.check_config(b"") == {}


@pytest.mark.parametrize(
    ("doc", "typename"),
    [("[1, 2]", "list"), ("1", "int"), ("null", "NoneType"), ('"x"', "str"), ([], "list")],
)
def test_config_rejects_non_objects(doc: object, typename: str) -> None:
    with pytest.raises(
        errors.InvalidArgument, match=f"cluster config must be a JSON object, got {typename}"
    ):
        statemodel.check_config(doc)


@pytest.mark.parametrize("doc", ["{", "{'a': 1}", "nope", b"\xff", '{"a": 1e400}'])
def test_config_rejects_invalid_json(doc: str | bytes) -> None:
    with pytest.raises(errors.InvalidArgument, match="cluster config is not valid JSON"):
        statemodel.check_config(doc)


def test_config_size_limit_is_exact() -> None:
    overhead = len(statemodel.dump({"k": ""}))
    at_limit = {"k": "x" * (statemodel.MAX_CONFIG_BYTES - overhead)}
    assert len(statemodel.dump(at_limit)) == statemodel.MAX_CONFIG_BYTES
    assert statemodel.check_config(at_limit) is at_limit
    over = {"k": "x" * (statemodel.MAX_CONFIG_BYTES - overhead + 1)}
    with pytest.raises(
        errors.InvalidArgument, match=r"^cluster config is 65537 bytes, at most 65536$"
    ):
        statemodel.check_config(over)
    with pytest.raises(errors.InvalidArgument, match="at most 65536"):
        statemodel.check_config(orjson.dumps(over).decode())


def test_dump_is_canonical() -> None:
    assert statemodel.dump({"b": 1, "a": {"d": 2, "c": 3}}) == b'{"a":{"c":3,"d":2},"b":1}'
    assert statemodel.dump({"a": 1, "b": 2}) == statemodel.dump({"b": 2, "a": 1})


# -- NodeInfo ----------------------------------------------------------------------------------


def test_node_coerces_strings_to_enums() -> None:
    node = NodeInfo("n1", "Object", "addr", status="Active")  # type: ignore[arg-type]
    assert node.kind is NodeKind.OBJECT
    assert node.status is NodeStatus.ACTIVE
    assert node.weight == 1
    assert node.zone == ""
    assert node.ring_node() == RingNode("n1", "", 1, "addr", NodeStatus.ACTIVE)


def test_node_defaults() -> None:
    node = _node()
    assert node.status is NodeStatus.JOINING
    assert node.last_heartbeat_ms == 0


@pytest.mark.parametrize("kind", ["Storage", "object", "", None, 3])
def test_node_rejects_unknown_kind(kind: object) -> None:
    with pytest.raises(
        errors.InvalidArgument,
        match="node 'n1': kind must be one of ControlPlane, Metadata, Object, Frontend",
    ):
        _node(kind=kind)


@pytest.mark.parametrize("status", ["Up", "active", "", None])
def test_node_rejects_unknown_status(status: object) -> None:
    with pytest.raises(
        errors.InvalidArgument,
        match="node 'n1': status must be one of Joining, Active, Draining, Down",
    ):
        _node(status=status)


@pytest.mark.parametrize("weight", [0, -1, True, False, 1.0, "2", None, ringmodel.MAX_WEIGHT + 1])
def test_node_rejects_bad_weight(weight: object) -> None:
    with pytest.raises(errors.InvalidArgument, match="weight must be an integer from 1 to 10000"):
        _node(weight=weight)


@pytest.mark.parametrize("weight", [1, 2, ringmodel.MAX_WEIGHT])
def test_node_accepts_weight_bounds(weight: int) -> None:
    assert _node(weight=weight).weight == weight


def test_node_address_and_zone_limits() -> None:
    with pytest.raises(errors.InvalidArgument, match="address must not be empty"):
        _node(address="")
    assert _node(address="a" * statemodel.MAX_ADDRESS_BYTES).address == "a" * 512
    with pytest.raises(errors.InvalidArgument, match="address is 513 bytes, at most 512"):
        _node(address="a" * (statemodel.MAX_ADDRESS_BYTES + 1))
    assert _node(zone="").zone == ""
    assert _node(zone="é" * 64).zone == "é" * 64
    with pytest.raises(errors.InvalidArgument, match="zone is 129 bytes, at most 128"):
        _node(zone="é" * 64 + "z")
    with pytest.raises(errors.InvalidArgument, match="zone must not contain control"):
        _node(zone="z\n")


def test_node_rejects_bad_id() -> None:
    with pytest.raises(errors.InvalidArgument, match="must not start or end with spaces"):
        _node(" n1")


def test_node_to_json_layout() -> None:
    node = _node(zone="z", weight=2, status=NodeStatus.DOWN, last_heartbeat_ms=5)
    assert node.to_json() == {
        "id": "n1",
        "kind": "Object",
        "address": "10.0.0.1:7000",
        "zone": "z",
        "weight": 2,
        "status": "Down",
        "last_heartbeat_ms": 5,
    }


def test_node_from_json_defaults() -> None:
    node = NodeInfo.from_json({"id": "n", "kind": "Frontend", "address": "a"})
    assert node == NodeInfo("n", NodeKind.FRONTEND, "a", "", 1, NodeStatus.JOINING, 0)


@PROPERTY
@given(nodes_st)
def test_node_json_round_trip(node: NodeInfo) -> None:
    assert NodeInfo.from_json(node.to_json()) == node
    assert NodeInfo.from_json(orjson.loads(statemodel.dump(node.to_json()))) == node


# -- arbitrary input: InvalidArgument or success, nothing else ---------------------------------

_VALIDATORS = [
    statemodel.check_ref,
    statemodel.check_owner,
    statemodel.check_node_id,
    statemodel.check_flag_name,
    statemodel.check_config,
    statemodel.check_ttl,
    statemodel.parse_snapshot,
]


@PROPERTY
@given(st.sampled_from(_VALIDATORS), st.text() | anything)
def test_validators_raise_only_invalid_argument(check: Any, value: object) -> None:
    try:
        result = check(value)
    except errors.InvalidArgument:
        return
    if check is statemodel.parse_snapshot:
        assert isinstance(result, ClusterState)
    elif check is statemodel.check_config:
        assert isinstance(result, dict)
    else:
        assert result is value


@PROPERTY
@given(
    st.text(),
    st.text(),
    st.text(),
    st.text() | anything,
    st.text() | anything,
    st.text() | anything,
)
def test_node_info_from_arbitrary_fields(
    node_id: str, address: str, zone: str, kind: object, weight: object, status: object
) -> None:
    try:
        node = NodeInfo(node_id, kind, address, zone, weight, status)  # type: ignore[arg-type]
    except errors.InvalidArgument:
        return
    assert isinstance(node.kind, NodeKind)
    assert isinstance(node.status, NodeStatus)
    assert NodeInfo.from_json(node.to_json()) == node


# Text that validates must also be storable: the owner goes into the lock's JSON value, a node
# id into its etcd key and JSON record. A lone surrogate passes the validators today (their
# size check encodes with "surrogatepass") and then fails to store with a TypeError /
# UnicodeEncodeError instead of InvalidArgument.  BUG: fails until the validators reject it.
_LONE_SURROGATES = [pytest.param("\ud800", id="high"), pytest.param("ok\udcff", id="low")]


@pytest.mark.parametrize("text", _LONE_SURROGATES)
def test_validated_owner_is_storable(text: str) -> None:
    try:
        owner = statemodel.check_owner(text)
    except errors.InvalidArgument:
        return
    # The lock value LockService.acquire writes.
    statemodel.dump({"owner": owner, "ttl": 2, "acquired_at_ms": 0})


@pytest.mark.parametrize("text", _LONE_SURROGATES)
def test_validated_node_id_is_storable(text: str) -> None:
    try:
        node = _node(text)
    except errors.InvalidArgument:
        return
    # What StateMachine.add_node writes.
    keys.node(node.id)
    statemodel.dump(node.to_json())


# -- snapshots ---------------------------------------------------------------------------------


def test_snapshot_document_layout() -> None:
    doc = _state().to_snapshot()
    assert doc["format"] == statemodel.SNAPSHOT_FORMAT == "pilothouse.controlplane.snapshot/v1"
    assert doc["version"] == 42
    assert [n["id"] for n in doc["nodes"]] == ["n1", "nœud-2"]
    assert doc["hash_ring"]["node_kind"] == "Object"
    assert doc["locks"] == [
        {
            "ref": "refs/heads/main",
            "owner": "o",
            "token": 12,
            "ttl_seconds": 30,
            "acquired_at_ms": 1000,
        }
    ]
    assert list(doc["feature_flags"]) == ["b.beta_1", "fast-path"]


@pytest.mark.parametrize("encode", [lambda d: d, orjson.dumps, lambda d: orjson.dumps(d).decode()])
def test_snapshot_round_trip(encode: Any) -> None:
    state = _state()
    parsed = statemodel.parse_snapshot(encode(state.to_snapshot()))
    assert parsed.version == 42
    assert parsed.nodes == state.nodes
    assert parsed.ring is not None and state.ring is not None
    assert parsed.ring.topology == state.ring.topology
    assert parsed.ring.node_kind is NodeKind.OBJECT
    assert parsed.ring.fingerprint == state.ring.fingerprint
    assert parsed.config == state.config
    assert parsed.feature_flags == state.feature_flags
    assert parsed.locks == {}  # locks are never restored


def test_snapshot_minimal() -> None:
    parsed = statemodel.parse_snapshot({"format": statemodel.SNAPSHOT_FORMAT, "version": 0})
    assert parsed == ClusterState(0, {}, None, {}, {}, {})


@PROPERTY
@given(
    st.lists(nodes_st, max_size=5, unique_by=lambda n: n.id),
    st.dictionaries(
        st.from_regex(r"[a-z0-9]([a-z0-9._-]{0,8}[a-z0-9])?", fullmatch=True),
        st.booleans(),
        max_size=4,
    ),
    st.dictionaries(st.text(clean_chars, max_size=6), json_values, max_size=4),
    st.integers(0, 2**62),
)
def test_snapshot_round_trip_property(
    nodes: list[NodeInfo], flags: dict[str, bool], config: dict[str, Any], version: int
) -> None:
    state = ClusterState(version, {n.id: n for n in nodes}, None, {}, config, flags)
    parsed = statemodel.parse_snapshot(orjson.dumps(state.to_snapshot()))
    assert parsed == state


def test_snapshot_rejects_tampered_fingerprint() -> None:
    doc = _snapshot()
    doc["hash_ring"]["topology"]["fingerprint"] = "blake2b256:" + "0" * 64
    with pytest.raises(errors.InvalidArgument, match="hash ring is invalid: fingerprint mismatch"):
        statemodel.parse_snapshot(doc)


def test_snapshot_rejects_tampered_ring_content() -> None:
    doc = _snapshot()
    doc["hash_ring"]["topology"]["nodes"][0]["weight"] = 2  # fingerprint left as it was
    with pytest.raises(errors.InvalidArgument, match="fingerprint mismatch"):
        statemodel.parse_snapshot(doc)


def _with(path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    doc = copy.deepcopy(_snapshot())
    target: Any = doc
    for step in path[:-1]:
        target = target[step]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return doc


_DELETE = object()

_MALFORMED: list[tuple[str, tuple[Any, ...], Any]] = [
    ("format missing", ("format",), _DELETE),
    ("format wrong", ("format",), "pilothouse.controlplane.snapshot/v2"),
    ("version missing", ("version",), _DELETE),
    ("version negative", ("version",), -1),
    ("version bool", ("version",), True),
    ("version string", ("version",), "1"),
    ("version float", ("version",), 1.5),
    ("nodes not a list", ("nodes",), 5),
    ("nodes null", ("nodes",), None),
    ("nodes a string", ("nodes",), "n1"),
    ("nodes an object", ("nodes",), {"id": "n1"}),
    ("node not an object", ("nodes", 0), 5),
    ("node without id", ("nodes", 0, "id"), _DELETE),
    ("node without kind", ("nodes", 0, "kind"), _DELETE),
    ("node without address", ("nodes", 0, "address"), _DELETE),
    ("node id with spaces", ("nodes", 0, "id"), " n1"),
    ("node id not a string", ("nodes", 0, "id"), 1),
    ("node kind unknown", ("nodes", 0, "kind"), "Storage"),
    ("node status unknown", ("nodes", 0, "status"), "Up"),
    ("node weight zero", ("nodes", 0, "weight"), 0),
    ("node weight bool", ("nodes", 0, "weight"), True),
    ("node weight string", ("nodes", 0, "weight"), "3"),
    ("node zone not a string", ("nodes", 0, "zone"), 3),
    ("node heartbeat null", ("nodes", 0, "last_heartbeat_ms"), None),
    ("node heartbeat list", ("nodes", 0, "last_heartbeat_ms"), [1]),
    ("duplicate node id", ("nodes", 1, "id"), "n1"),
    ("ring not an object", ("hash_ring",), 5),
    ("ring a list", ("hash_ring",), []),
    ("ring without topology", ("hash_ring", "topology"), _DELETE),
    ("ring without node_kind", ("hash_ring", "node_kind"), _DELETE),
    ("ring node_kind unknown", ("hash_ring", "node_kind"), "Storage"),
    ("ring topology not an object", ("hash_ring", "topology"), "x"),
    ("ring topology format", ("hash_ring", "topology", "format"), "other/v9"),
    ("ring topology extra field", ("hash_ring", "topology", "extra"), 1),
    ("ring topology no fingerprint", ("hash_ring", "topology", "fingerprint"), _DELETE),
    ("ring topology nodes not a list", ("hash_ring", "topology", "nodes"), {}),
    ("ring topology node weight", ("hash_ring", "topology", "nodes", 0, "weight"), 0),
    ("ring topology config", ("hash_ring", "topology", "config", "vnodes_per_weight"), 0),
    ("flags a list", ("feature_flags",), ["a"]),
    ("flags null", ("feature_flags",), None),
    ("flag value not bool", ("feature_flags", "fast-path"), 1),
    ("flag value string", ("feature_flags", "fast-path"), "true"),
    ("flag name invalid", ("feature_flags", "Bad Name"), True),
    ("config a list", ("cluster_config",), [1]),
    ("config null", ("cluster_config",), None),
    ("config a number", ("cluster_config",), 3),
    ("config invalid JSON text", ("cluster_config",), "{nope"),
    ("config oversized", ("cluster_config",), {"k": "x" * statemodel.MAX_CONFIG_BYTES}),
]


@pytest.mark.parametrize(("path", "value"), [pytest.param(p, v, id=i) for i, p, v in _MALFORMED])
def test_snapshot_rejects_malformed_field(path: tuple[Any, ...], value: Any) -> None:
    doc = _with(path, value)
    with pytest.raises(errors.InvalidArgument):
        statemodel.parse_snapshot(doc)
    with pytest.raises(errors.InvalidArgument):
        statemodel.parse_snapshot(orjson.dumps(doc))


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ("{", "snapshot is not valid JSON"),
        (b"\xff", "snapshot is not valid JSON"),
        ("[]", "snapshot must be a JSON object"),
        (5, "snapshot must be a JSON object"),
        (None, "snapshot must be a JSON object"),
        ('{"format": "x"}', "snapshot format must be"),
    ],
)
def test_snapshot_rejects_malformed_document(doc: object, message: str) -> None:
    with pytest.raises(errors.InvalidArgument, match=message):
        statemodel.parse_snapshot(doc)


# BUG: a node's last_heartbeat_ms goes through int() and only KeyError / TypeError /
# AttributeError are turned into InvalidArgument, so a non-numeric string escapes as a plain
# ValueError (and a restore request would be answered INTERNAL instead of INVALID_ARGUMENT).
def test_snapshot_rejects_non_numeric_heartbeat() -> None:
    doc = _with(("nodes", 0, "last_heartbeat_ms"), "soon")
    with pytest.raises(errors.InvalidArgument):
        statemodel.parse_snapshot(doc)

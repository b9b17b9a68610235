"""The topology document (round trip, fingerprint) and validation errors."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pilothouse.controlplane import (
    DuplicateNodeError,
    HashRing,
    InvalidConfigError,
    InvalidNodeError,
    InvalidTopologyError,
    NodeStatus,
    RingConfig,
    RingError,
    RingNode,
    TooManyVnodesError,
)

nodes_st = st.lists(
    st.builds(
        RingNode,
        id=st.text(min_size=1, max_size=8),  # st.text never draws surrogates
        zone=st.text(max_size=4),
        weight=st.integers(1, 5),
        address=st.text(max_size=10),
        status=st.sampled_from(list(NodeStatus)),
    ),
    max_size=8,
    unique_by=lambda n: n.id,
)
configs_st = st.builds(
    RingConfig,
    vnodes_per_weight=st.integers(1, 16),
    replication_factor=st.integers(1, 4),
    bounded_load_epsilon=st.none() | st.floats(0.01, 3.0),
    partitions_log2=st.integers(4, 8),
)


@settings(max_examples=60, deadline=None)
@given(nodes_st, configs_st, st.lists(st.binary(max_size=8), max_size=20))
def test_topology_round_trip(nodes: list[RingNode], config: RingConfig, keys: list[bytes]) -> None:
    ring = HashRing.build(nodes, config)
    doc = json.loads(json.dumps(ring.topology()))
    again = HashRing.from_topology(doc)
    assert again == ring
    assert again.topology() == ring.topology()
    assert again.config == config
    assert again.nodes == ring.nodes
    if ring.active_nodes:
        for key in keys:
            assert again.nodes_for(key) == ring.nodes_for(key)
    # The node order given to build() does not matter.
    assert HashRing.build(list(reversed(nodes)), config) == ring


def test_fingerprint_tells_rings_apart() -> None:
    base = [RingNode("a"), RingNode("b")]
    prints = {
        HashRing.build(base).fingerprint,
        HashRing.build([*base, RingNode("c")]).fingerprint,
        HashRing.build([RingNode("a", weight=2), RingNode("b")]).fingerprint,
        HashRing.build(base, RingConfig(replication_factor=2)).fingerprint,
        HashRing.build(base, RingConfig(bounded_load_epsilon=0.5)).fingerprint,
        HashRing.build([RingNode("a", status=NodeStatus.DOWN), RingNode("b")]).fingerprint,
    }
    assert len(prints) == 6


def _doc() -> dict[str, Any]:
    return HashRing.build([RingNode("a", zone="z"), RingNode("b")]).topology()


def test_tampered_or_malformed_topologies_are_rejected() -> None:
    tampered = _doc()
    tampered["nodes"][0]["weight"] = 3
    with pytest.raises(InvalidTopologyError, match="fingerprint mismatch"):
        HashRing.from_topology(tampered)
    wrong_format = {**_doc(), "format": "pilothouse.hashring/v0"}
    with pytest.raises(InvalidTopologyError, match="unsupported topology format"):
        HashRing.from_topology(wrong_format)
    with pytest.raises(InvalidTopologyError, match="unknown fields"):
        HashRing.from_topology({**_doc(), "extra": 1})
    missing = _doc()
    del missing["nodes"][0]["zone"]
    with pytest.raises(InvalidTopologyError, match="missing fields"):
        HashRing.from_topology(missing)
    bad_ppm = _doc()
    bad_ppm["config"]["bounded_load_epsilon_ppm"] = 0
    with pytest.raises(InvalidTopologyError, match="ppm"):
        HashRing.from_topology(bad_ppm)


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda: RingNode(""), InvalidNodeError, "non-empty"),
        (lambda: RingNode("a" * 254), InvalidNodeError, "at most 253"),
        (lambda: RingNode("\ud800"), InvalidNodeError, "UTF-8"),
        (lambda: RingNode("a", weight=0), InvalidNodeError, "between 1 and"),
        (lambda: RingNode("a", weight=-1), InvalidNodeError, "between 1 and"),
        (lambda: RingNode("a", weight=1.5), InvalidNodeError, "integer"),  # type: ignore[arg-type]
        (lambda: RingNode("a", weight=True), InvalidNodeError, "integer"),
        (lambda: RingNode("a", status="Sleeping"), InvalidNodeError, "unknown status"),  # type: ignore[arg-type]
        (lambda: RingConfig(replication_factor=0), InvalidConfigError, "replication_factor"),
        (lambda: RingConfig(vnodes_per_weight=0), InvalidConfigError, "vnodes_per_weight"),
        (lambda: RingConfig(hash_algorithm="md5"), InvalidConfigError, "hash_algorithm"),
        (lambda: RingConfig(bounded_load_epsilon=0.0), InvalidConfigError, "epsilon"),
        (lambda: RingConfig(bounded_load_epsilon=float("nan")), InvalidConfigError, "epsilon"),
        (lambda: RingConfig(partitions_log2=30), InvalidConfigError, "partitions_log2"),
        (lambda: HashRing.build([RingNode("a"), RingNode("a")]), DuplicateNodeError, "'a'"),
        (
            lambda: HashRing.build([RingNode("a", weight=40)]),
            TooManyVnodesError,
            "81920 vnodes",
        ),
        (
            lambda: HashRing.build(
                [RingNode(f"n{i}", weight=100) for i in range(50)],
                RingConfig(vnodes_per_weight=512),
            ),
            TooManyVnodesError,
            "2560000 vnodes",
        ),
        (lambda: HashRing.build([RingNode("a")]).nodes_for("k", 0), RingError, "replicas"),
    ],
)
def test_validation_errors(make: Any, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match) as info:
        make()
    assert isinstance(info.value, ValueError)


def test_epsilon_is_normalised_to_ppm() -> None:
    config = RingConfig(bounded_load_epsilon=0.1234567)
    assert config.bounded_load_epsilon == 0.123457
    assert config.epsilon_ppm == 123457
    assert RingConfig.from_json(config.to_json()) == config


def test_status_strings_are_coerced() -> None:
    assert RingNode("a", status="Draining").status is NodeStatus.DRAINING  # type: ignore[arg-type]

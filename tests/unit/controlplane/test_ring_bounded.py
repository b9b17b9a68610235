"""Bounded-load mode: capacities, forced overflow, determinism and movement."""

from __future__ import annotations

import statistics

from hypothesis import given, settings
from hypothesis import strategies as st

from pilothouse.controlplane import HashRing, RingConfig, RingNode, diff


def _check_accounting(ring: HashRing) -> None:
    bl = ring.bounded_load
    assert bl is not None
    excess = sum(max(0, bl.load[n] - bl.capacity[n]) for n in bl.load)
    excess += sum(max(0, bl.primary_load[n] - bl.primary_capacity[n]) for n in bl.load)
    assert bl.overflow == excess
    parts = 1 << ring.config.partitions_log2
    assert sum(bl.primary_load.values()) == parts
    r = min(ring.config.replication_factor, len(ring.active_nodes))
    assert sum(bl.load.values()) == parts * r


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.integers(1, 5), min_size=1, max_size=10),
    st.integers(1, 4),
    st.floats(0.05, 1.0),
    st.integers(1, 16),
)
def test_single_replica_never_exceeds_capacity(
    weights: list[int], zones: int, eps: float, vnodes: int
) -> None:
    """With r = 1 nothing forces an overflow: total capacity exceeds the partition count."""
    nodes = [RingNode(f"n{i}", zone=f"z{i % zones}", weight=w) for i, w in enumerate(weights)]
    config = RingConfig(
        vnodes_per_weight=vnodes, replication_factor=1, bounded_load_epsilon=eps, partitions_log2=8
    )
    ring = HashRing.build(nodes, config)
    _check_accounting(ring)
    assert ring.bounded_load is not None and ring.bounded_load.overflow == 0


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 12), st.integers(1, 4), st.floats(0.05, 1.0), st.integers(1, 16))
def test_capacity_holds_when_no_constraint_forces_overflow(
    n: int, r: int, eps: float, vnodes: int
) -> None:
    """One zone, equal weights: at most j < r nodes could be full only if n*e/(1+e) < r-1."""
    nodes = [RingNode(f"n{i}") for i in range(n)]
    config = RingConfig(
        vnodes_per_weight=vnodes, replication_factor=r, bounded_load_epsilon=eps, partitions_log2=8
    )
    ring = HashRing.build(nodes, config)
    _check_accounting(ring)
    eps_norm = config.bounded_load_epsilon
    assert eps_norm is not None
    if n * eps_norm / (1 + eps_norm) >= min(r, n) - 1 + 1e-9:
        assert ring.bounded_load is not None and ring.bounded_load.load
        bl = ring.bounded_load
        assert all(bl.load[x] <= bl.capacity[x] for x in bl.load)
    for i in range(50):
        got = ring.nodes_for(f"k{i}")
        assert len({x.id for x in got}) == len(got) == min(r, n)
        assert ring.nodes_for(f"k{i}", r + 2)[: len(got)] == got


def test_zone_spread_beats_capacity() -> None:
    """Three zones, r = 3, one tiny zone: every partition needs the tiny node, so it overflows
    (reported), and zone spread still holds."""
    nodes = [RingNode(f"a{i}", zone="A", weight=4) for i in range(3)]
    nodes += [RingNode(f"b{i}", zone="B", weight=4) for i in range(3)] + [RingNode("c", zone="C")]
    ring = HashRing.build(nodes, RingConfig(bounded_load_epsilon=0.1, partitions_log2=8))
    _check_accounting(ring)
    bl = ring.bounded_load
    assert bl is not None and bl.overflow > 0
    assert bl.load["c"] == 256 > bl.capacity["c"]
    for i in range(100):
        assert {n.zone for n in ring.nodes_for(f"k{i}")} == {"A", "B", "C"}


def test_balance_and_movement_at_scale() -> None:
    """100 nodes, e = 0.1: slot load max/mean <= 1 + e (+ one slot of ceil rounding); adding or
    removing a node moves a bounded multiple of the ideal (measured 1.0-1.6x at 4096
    partitions; 2x asserted)."""
    nodes = [RingNode(f"node-{i}", zone=f"z{i % 3}") for i in range(100)]
    config = RingConfig(vnodes_per_weight=64, bounded_load_epsilon=0.1)
    ring = HashRing.build(nodes, config)
    _check_accounting(ring)
    bl = ring.bounded_load
    assert bl is not None and bl.overflow == 0
    mean = statistics.mean(bl.load.values())
    assert max(bl.load.values()) <= (1.1 * mean) + 1
    keys = [f"obj/{i}" for i in range(20_000)]
    grown = HashRing.build([*nodes, RingNode("node-new", zone="z1")], config)
    moved = diff(ring, grown, keys)
    assert len(moved.primary_moved) <= 2 * len(keys) / 101
    assert moved.copies <= 2 * 3 * len(keys) / 101
    shrunk = HashRing.build(nodes[1:], config)
    moved = diff(ring, shrunk, keys)
    assert len(moved.primary_moved) <= 2 * len(keys) / 100

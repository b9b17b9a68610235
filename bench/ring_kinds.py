"""The kinds of ring the ring bench compares, behind one face (:class:`Ring`): Pilothouse's
plain ring, the same in bounded-load mode for each epsilon, and ``uhashring.HashRing``, each
built from the same node ids and weights."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from uhashring import HashRing as UHashRing

from pilothouse.controlplane import HashRing, RingConfig, RingNode
from pilothouse.controlplane.ringmodel import DEFAULT_VNODES_PER_WEIGHT

REPLICAS = 3
WIDE = 5
"""A replica count above the configured factor (3): Pilothouse does not cache these."""


@dataclass(frozen=True, slots=True)
class Ring:
    """One ring behind a common face: the raw lookup calls (timed) and ``place``, node ids
    primary first (counted)."""

    build_seconds: float
    primary: Callable[[str], object]
    replicas: Callable[[str], object]
    wide: Callable[[str], object]
    place: Callable[[str], list[str]]
    shares: Callable[[], dict[str, float]]
    """Exact hash-space share of each node as primary."""


def pilothouse_ring(
    weights: dict[str, int], epsilon: float | None = None, vnodes: int = DEFAULT_VNODES_PER_WEIGHT
) -> Ring:
    nodes = [RingNode(node_id, weight=w) for node_id, w in weights.items()]
    config = RingConfig(
        vnodes_per_weight=vnodes, replication_factor=REPLICAS, bounded_load_epsilon=epsilon
    )
    t0 = time.perf_counter()
    ring = HashRing.build(nodes, config)
    built = time.perf_counter() - t0
    nodes_for = ring.nodes_for
    return Ring(
        built,
        ring.primary,
        lambda key: nodes_for(key, REPLICAS),
        lambda key: nodes_for(key, WIDE),
        lambda key: [n.id for n in nodes_for(key, REPLICAS)],
        ring.ownership,
    )


def uhashring_ring(weights: dict[str, int]) -> Ring:
    t0 = time.perf_counter()
    ring = UHashRing({node_id: {"weight": w} for node_id, w in weights.items()})
    built = time.perf_counter() - t0
    walk = ring.range

    def shares() -> dict[str, float]:
        # A key goes to the first point strictly after its MD5 (bisect_right), so each
        # point owns the arc (previous point, point]; the hash space is 128 bits.
        points = ring.get_points()
        size = 1 << 128
        out = dict.fromkeys(weights, 0.0)
        for j, (point, node) in enumerate(points):
            arc = point - points[j - 1][0] if j else point + size - points[-1][0]
            out[node] += arc / size
        return out

    return Ring(
        built,
        ring.get_node,
        lambda key: list(walk(key, REPLICAS)),
        lambda key: list(walk(key, WIDE)),
        lambda key: [conf["nodename"] for conf in walk(key, REPLICAS)],
        shares,
    )


@dataclass(frozen=True, slots=True)
class Kind:
    """A kind of ring, compared in every case: a label and how to build one."""

    label: str
    epsilon: float | None = None
    uhashring: bool = False
    vnodes: int = DEFAULT_VNODES_PER_WEIGHT

    def build(self, weights: dict[str, int]) -> Ring:
        if self.uhashring:
            return uhashring_ring(weights)
        return pilothouse_ring(weights, self.epsilon, self.vnodes)


def kinds(epsilons: Sequence[float], vnodes: int = DEFAULT_VNODES_PER_WEIGHT) -> list[Kind]:
    suffix = "" if vnodes == DEFAULT_VNODES_PER_WEIGHT else f" {vnodes} vnodes"
    return [
        Kind(f"pilothouse{suffix}", vnodes=vnodes),
        *(Kind(f"pilothouse{suffix} bounded ε={e:g}", epsilon=e, vnodes=vnodes) for e in epsilons),
        Kind("uhashring", uhashring=True),
    ]

"""The hash ring's figures, side by side with uhashring on the same keys in one run.

For each case (equal weights at each ``--nodes`` count, default 10 and 50, and 12 nodes
weighted 4/2/1) the rings compared are built from the same node ids and weights:
Pilothouse's plain ring (``--vnodes`` per unit of weight, default 2,048 as ``RingConfig``),
the same in bounded-load mode for each ``--epsilon`` (default 0.1 and 0.05; ``RingConfig``
has no default epsilon; 4,096 partitions) and ``uhashring.HashRing`` (its defaults: MD5,
160 vnodes per unit of weight). Keys are ``--keys`` (default 1,000,000) SHA-1 hex strings,
like Git object ids.

* **lookups** -- ``primary(key)`` / ``get_node(key)``, ``nodes_for(key, 3)`` /
  ``list(range(key, 3))`` and the same for 5 replicas, over the first ``--lookups`` keys
  (default 200,000), timed with ``time.perf_counter`` around the whole loop: one untimed
  pass first (it fills Pilothouse's per-vnode cache of replica selections for the
  configured factor, 3, as a long-lived ring has; 5 is above it, so never cached), then
  ``--repeats`` timed passes, the rings taking turns; the fastest pass is reported (other
  processes on the machine only ever add time; every pass is in the ``--json`` output).
* **balance** -- every key's primary: max/mean and min/mean of the primary load per node,
  each node's load divided by its weight share (``K * w / W``). A second row gives the same
  ratios over the exact hash-space shares (arc lengths; partitions in bounded mode), which
  carry no key-sampling noise.
* **movement** -- one node added (``node-N``; weight 2 in the weighted case) and one removed
  (``node-000``), each a fresh ring of the same kind. Primaries: keys whose primary changed,
  over the ideal ``K * w_new / (W + w_new)`` (``K / (N + 1)`` for equal weights) for an
  add and over the keys the removed node was primary for; in brackets over the minimum
  (an add must move the keys the new node now owns, a remove those the node held).
  Replicas (3): keys whose replica *set* changed, and copies (a node newly in a key's set)
  over ``3 * K * w_new / (W + w_new)`` (add) or over the replicas the removed node held.
  As one add is one draw of the new node's share, ``--add-trials`` (default 20) more adds
  of other node ids report the new node's exact share over its ideal: the keys an add must
  move (a plain ring moves exactly these).

Primaries for balance and movement are the first node of each key's 3-replica list, which
both libraries define to be the primary (``nodes_for(key, r)[0] == primary(key)``,
``range(key, r)``'s first node is ``get_node(key)``); one placement per key and ring keeps a
1M-key run to about two minutes.

``python -m bench ring [--keys N] [--quick] [--json]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from uhashring import HashRing as UHashRing

from pilothouse.controlplane import HashRing, RingConfig, RingNode
from pilothouse.controlplane.ringmodel import DEFAULT_VNODES_PER_WEIGHT

REPLICAS = 3
WIDE = 5
"""A replica count above the configured factor (3): Pilothouse does not cache these."""
LOOKUP_TARGET_US = 2.0
BALANCE_TARGET = 1.10
MOVE_TARGET = 1.05


@dataclass(frozen=True, slots=True)
class Case:
    name: str
    weights: dict[str, int]
    """Node id -> weight, before the change."""
    added: tuple[str, int]
    removed: str


def cases(node_counts: Sequence[int]) -> list[Case]:
    out = [
        Case(
            f"{n} nodes",
            {f"node-{i:03d}": 1 for i in range(n)},
            (f"node-{n:03d}", 1),
            "node-000",
        )
        for n in node_counts
    ]
    weighted = {f"node-{i:03d}": (4, 2, 1)[i % 3] for i in range(12)}
    out.append(Case("12 nodes, weights 4/2/1 x4", weighted, ("node-012", 2), "node-000"))
    return out


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


def make_keys(n: int) -> list[str]:
    """SHA-1 hex strings of 0..n-1 (8-byte big-endian): Git-object-id-like and fixed."""
    return [hashlib.sha1(i.to_bytes(8, "big")).hexdigest() for i in range(n)]


def time_lookups(fn: Callable[[str], object], keys: Sequence[str]) -> float:
    """Seconds per call of ``fn`` over ``keys`` (loop overhead included)."""
    t0 = time.perf_counter()
    for key in keys:
        fn(key)
    return (time.perf_counter() - t0) / len(keys)


def balance(load: Counter[str] | dict[str, float], weights: dict[str, int]) -> tuple[float, float]:
    """(max/mean, min/mean) of each node's load over its weight share of the total."""
    total = sum(load.values())
    weight_sum = sum(weights.values())
    ratios = [load.get(node, 0) / (total * w / weight_sum) for node, w in weights.items()]
    return max(ratios), min(ratios)


@dataclass(slots=True)
class Change:
    """Counts for one ring change (old -> new), over every key."""

    node: str
    adding: bool
    primaries_moved: int = 0
    sets_changed: int = 0
    copies: int = 0
    node_primaries: int = 0
    """Keys whose primary is ``node`` (in the new ring for an add, the old for a remove):
    the keys that must move."""
    node_replicas: int = 0
    """Keys with a replica on ``node`` (same ring): the copies that must be made."""

    def tally(self, old: Sequence[str], new: Sequence[str]) -> None:
        if old == new:
            # Most keys; nothing to count: ``node`` is in neither list (an added node is not
            # in the old ring, a removed one not in the new).
            return
        if old[0] != new[0]:
            self.primaries_moved += 1
        holder = new if self.adding else old
        if holder[0] == self.node:
            self.node_primaries += 1
        if self.node in holder:
            self.node_replicas += 1
        copies = sum(1 for n in new if n not in old)
        if copies or any(n not in new for n in old):
            self.sets_changed += 1
            self.copies += copies


@dataclass(slots=True)
class Placement:
    """Per ring kind: primary load in the old ring and the two changes."""

    load: Counter[str]
    add: Change
    remove: Change


def measure(
    keys: Sequence[str],
    old: Callable[[str], list[str]],
    added: Callable[[str], list[str]],
    removed: Callable[[str], list[str]],
    case: Case,
) -> Placement:
    load: Counter[str] = Counter()
    add = Change(case.added[0], adding=True)
    remove = Change(case.removed, adding=False)
    for key in keys:
        before = old(key)
        load[before[0]] += 1
        add.tally(before, added(key))
        remove.tally(before, removed(key))
    return Placement(load, add, remove)


@dataclass(slots=True)
class Figures:
    """One kind of ring in one case."""

    build_ms: float
    primary_us: list[float] = field(default_factory=list)
    replicas_us: list[float] = field(default_factory=list)
    wide_us: list[float] = field(default_factory=list)
    max_mean: float = 0.0
    min_mean: float = 0.0
    exact_max_mean: float = 0.0
    exact_min_mean: float = 0.0
    add: dict[str, float] = field(default_factory=dict)
    remove: dict[str, float] = field(default_factory=dict)
    add_shares: list[float] = field(default_factory=list)
    """Over candidate added nodes: the new node's exact share ÷ its ideal share."""


def change_figures(change: Change, keys: int, ideal: float) -> dict[str, float]:
    """Counts and ratios of one change; ``ideal`` is the ideal number of primaries moved."""
    copies_ideal = REPLICAS * ideal if change.adding else change.node_replicas
    return {
        "primaries_moved": change.primaries_moved,
        "primaries_ideal": ideal,
        "primaries_needed": change.node_primaries,
        "primaries_vs_ideal": change.primaries_moved / ideal,
        "primaries_vs_needed": change.primaries_moved / max(change.node_primaries, 1),
        "sets_changed": change.sets_changed,
        "sets_changed_fraction": change.sets_changed / keys,
        "copies": change.copies,
        "copies_ideal": copies_ideal,
        "copies_needed": change.node_replicas,
        "copies_vs_ideal": change.copies / copies_ideal,
        "copies_vs_needed": change.copies / max(change.node_replicas, 1),
    }


def add_shares(kind: Kind, case: Case, trials: int) -> list[float]:
    """The exact share a node added to the case takes, ÷ its ideal ``w / (W + w)``, for
    ``trials`` different new node ids: the keys an add must move (a plain ring moves just
    these), without key sampling, over many adds rather than one."""
    w = case.added[1]
    ideal = w / (sum(case.weights.values()) + w)
    out = []
    for i in range(trials):
        new_id = f"new-{i:03d}"
        out.append(kind.build({**case.weights, new_id: w}).shares()[new_id] / ideal)
    return out


def run_case(
    case: Case,
    ring_kinds: Sequence[Kind],
    keys: Sequence[str],
    lookups: int,
    repeats: int,
    add_trials: int,
    log: Callable[[str], None] = lambda _: None,
) -> list[Figures]:
    rings = [k.build(case.weights) for k in ring_kinds]
    figures = [Figures(r.build_seconds * 1000) for r in rings]
    sample = keys[:lookups]
    for r in rings:  # warm-up: fills the replica cache (WIDE is never cached)
        time_lookups(r.primary, sample)
        time_lookups(r.replicas, sample)
    for _ in range(repeats):  # the rings take turns, so drift hits all alike
        for r, f in zip(rings, figures, strict=True):
            f.primary_us.append(time_lookups(r.primary, sample) * 1e6)
            f.replicas_us.append(time_lookups(r.replicas, sample) * 1e6)
            f.wide_us.append(time_lookups(r.wide, sample) * 1e6)
    log(f"{case.name}: lookups timed")
    grown = {**case.weights, case.added[0]: case.added[1]}
    shrunk = {n: w for n, w in case.weights.items() if n != case.removed}
    w_total, w_new = sum(case.weights.values()), case.added[1]
    ideal_add = len(keys) * w_new / (w_total + w_new)
    for kind, r, f in zip(ring_kinds, rings, figures, strict=True):
        placed = measure(keys, r.place, kind.build(grown).place, kind.build(shrunk).place, case)
        f.max_mean, f.min_mean = balance(placed.load, case.weights)
        f.exact_max_mean, f.exact_min_mean = balance(r.shares(), case.weights)
        f.add = change_figures(placed.add, len(keys), ideal_add)
        f.remove = change_figures(placed.remove, len(keys), placed.remove.node_primaries)
        f.add_shares = add_shares(kind, case, add_trials)
        log(f"{case.name}: {kind.label} placed")
    return figures


# ----------------------------------------------------------------------------- report

Results = list[tuple[Case, list[Figures]]]


def _us(samples: list[float]) -> str:
    best = min(samples)
    return f"{best:.2f} µs ({1 / best:.2f} M/s){_mark(best <= LOOKUP_TARGET_US)}"


def _mark(ok: bool) -> str:
    return "" if ok else " ✗"


def report(results: Results, ring_kinds: Sequence[Kind], args: argparse.Namespace) -> None:
    labels = " | ".join(k.label for k in ring_kinds)
    head = f"| case | figure | {labels} | target |\n|---|---|{'---|' * len(ring_kinds)}---|"

    def row(case: Case, title: str, cells: Iterable[str], target: str = "") -> None:
        print(f"| {case.name} | {title} | " + " | ".join(cells) + f" | {target} |")

    print(
        f"Lookups: fastest of {args.repeats} timed pass{'es' * (args.repeats > 1)} over "
        f"{args.lookups:,} keys, µs per "
        "lookup (lookups per second). ✗: target missed.\n"
    )
    print(head)
    for case, figs in results:
        row(case, "primary(key) / get_node(key)", (_us(f.primary_us) for f in figs), "≤ 2 µs")
        row(
            case,
            f"nodes_for(key, {REPLICAS}) / range(key, {REPLICAS})",
            (_us(f.replicas_us) for f in figs),
            "≤ 2 µs",
        )
        row(
            case,
            f"nodes_for(key, {WIDE}) / range(key, {WIDE}): above the configured factor",
            (_us(f.wide_us) for f in figs),
            "≤ 2 µs",
        )
        row(case, "build", (f"{f.build_ms:.1f} ms" for f in figs))
    print(
        f"\nBalance: primary load per node ÷ its weight share, max/mean (min/mean); "
        f"{args.keys:,} keys, and the exact hash-space shares.\n"
    )
    print(head)
    for case, figs in results:
        row(
            case,
            "primary load, keys",
            (
                f"{f.max_mean:.3f} ({f.min_mean:.3f}){_mark(f.max_mean <= BALANCE_TARGET)}"
                for f in figs
            ),
            f"≤ {BALANCE_TARGET:.2f}",
        )
        row(
            case,
            "primary share, exact",
            (f"{f.exact_max_mean:.3f} ({f.exact_min_mean:.3f})" for f in figs),
        )
    print(
        f"\nMovement, {args.keys:,} keys: primaries moved ÷ ideal (÷ the keys that had to "
        f"move); {REPLICAS}-replica copies made ÷ ideal (÷ needed) and the share of keys whose "
        f"replica set changed; over {args.add_trials} other adds, the new node's exact share "
        "÷ ideal: mean (max), and how many exceed 1.05.\n"
    )
    print(head)
    for case, figs in results:
        for what, label in (
            ("add", f"add {case.added[0]} (w {case.added[1]})"),
            ("remove", f"remove {case.removed} (w {case.weights[case.removed]})"),
        ):
            changes = [f.add if what == "add" else f.remove for f in figs]
            row(
                case,
                f"{label}: primaries moved",
                (
                    f"{c['primaries_vs_ideal']:.3f}x ({c['primaries_vs_needed']:.3f}x)"
                    + _mark(c["primaries_vs_ideal"] <= MOVE_TARGET)
                    for c in changes
                ),
                f"≤ {MOVE_TARGET:.2f}x ideal",
            )
            row(
                case,
                f"{label}: {REPLICAS}-replica copies",
                (
                    f"{c['copies_vs_ideal']:.3f}x ({c['copies_vs_needed']:.3f}x), "
                    f"{c['sets_changed_fraction']:.1%} of sets"
                    for c in changes
                ),
            )
        if args.add_trials:
            row(
                case,
                f"{args.add_trials} adds (w {case.added[1]}): new node's share ÷ ideal",
                (
                    f"{statistics.mean(f.add_shares):.3f} ({max(f.add_shares):.3f}), "
                    f"{sum(s > MOVE_TARGET for s in f.add_shares)} > {MOVE_TARGET:.2f}"
                    for f in figs
                ),
            )


def to_json(results: Results, ring_kinds: Sequence[Kind], args: argparse.Namespace) -> Any:
    return {
        "keys": args.keys,
        "lookups": args.lookups,
        "repeats": args.repeats,
        "add_trials": args.add_trials,
        "replicas": REPLICAS,
        "wide_replicas": WIDE,
        "vnodes_per_weight": args.vnodes,
        "targets": {
            "lookup_us": LOOKUP_TARGET_US,
            "max_mean": BALANCE_TARGET,
            "moved_vs_ideal": MOVE_TARGET,
        },
        "cases": [
            {
                "name": case.name,
                "weights": case.weights,
                "added": list(case.added),
                "removed": case.removed,
                "rings": {
                    k.label: dataclasses.asdict(f) for k, f in zip(ring_kinds, figs, strict=True)
                },
            }
            for case, figs in results
        ],
    }


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench ring")
    parser.add_argument("--keys", type=int, default=1_000_000, help="keys for balance, movement")
    parser.add_argument("--lookups", type=int, default=200_000, help="keys per timed pass")
    parser.add_argument("--repeats", type=int, default=3, help="timed passes per lookup")
    parser.add_argument("--nodes", default="10,50", help="equal-weight node counts")
    parser.add_argument(
        "--epsilon", default="0.1,0.05", help="bounded-load epsilons, comma-separated, or ''"
    )
    parser.add_argument(
        "--vnodes", type=int, default=DEFAULT_VNODES_PER_WEIGHT, help="Pilothouse's, per weight"
    )
    parser.add_argument("--add-trials", type=int, default=20, help="adds for the share spread")
    parser.add_argument("--quick", action="store_true", help="200,000 keys, one timed pass")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    if args.quick:
        args.keys, args.repeats = min(args.keys, 200_000), 1
    args.lookups = min(args.lookups, args.keys)
    ring_kinds = kinds([float(e) for e in args.epsilon.split(",") if e], args.vnodes)
    t0 = time.perf_counter()

    def log(msg: str) -> None:
        print(f"[{time.perf_counter() - t0:6.1f} s] {msg}", file=sys.stderr)

    keys = make_keys(args.keys)
    log(f"{len(keys):,} keys")
    results = [
        (
            case,
            run_case(case, ring_kinds, keys, args.lookups, args.repeats, args.add_trials, log),
        )
        for case in cases([int(n) for n in args.nodes.split(",")])
    ]
    if args.json:
        print(json.dumps(to_json(results, ring_kinds, args), indent=2, ensure_ascii=False))
    else:
        report(results, ring_kinds, args)

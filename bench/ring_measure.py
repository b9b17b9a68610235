"""What the ring bench measures in one case, for every kind of ring on the same keys:

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
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from bench.ring_kinds import REPLICAS, Kind


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

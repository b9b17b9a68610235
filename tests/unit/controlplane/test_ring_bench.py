"""Smoke test of ``python -m bench ring`` at a tiny size: the counting is right (checked by
hand and against :func:`pilothouse.controlplane.diff`) and the output has its structure.
No timing is asserted."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys
from collections import Counter

import pytest

from pilothouse.controlplane import HashRing, RingConfig, RingNode, diff

ROOT = pathlib.Path(__file__).resolve().parents[3]
if str(ROOT) not in sys.path:  # bench/ is a top-level directory, not an installed package
    sys.path.insert(0, str(ROOT))

from bench import ring as ring_bench  # noqa: E402

TINY = ring_bench.Case("4 nodes", {"a": 1, "b": 1, "c": 2, "d": 1}, added=("e", 1), removed="c")


def test_tally_counts_a_hand_checked_change() -> None:
    add = ring_bench.Change("e", adding=True)
    add.tally(["a", "b", "c"], ["a", "b", "c"])  # untouched
    add.tally(["a", "b", "c"], ["e", "a", "b"])  # e is new primary: 1 copy
    add.tally(["b", "c", "d"], ["b", "e", "c"])  # e joins as a replica: 1 copy
    add.tally(["c", "a", "b"], ["c", "b", "a"])  # order only: not a set change
    assert (add.primaries_moved, add.sets_changed, add.copies) == (1, 2, 2)
    assert (add.node_primaries, add.node_replicas) == (1, 2)

    remove = ring_bench.Change("c", adding=False)
    remove.tally(["c", "a", "b"], ["a", "b", "d"])  # c was primary
    remove.tally(["a", "c", "b"], ["a", "b", "d"])
    remove.tally(["a", "b", "d"], ["a", "b", "d"])
    assert (remove.primaries_moved, remove.sets_changed, remove.copies) == (1, 2, 2)
    assert (remove.node_primaries, remove.node_replicas) == (1, 2)

    figs = ring_bench.change_figures(add, keys=4, ideal=0.8)
    assert figs["primaries_vs_ideal"] == pytest.approx(1 / 0.8)
    assert figs["primaries_vs_needed"] == 1.0
    assert figs["copies_vs_ideal"] == pytest.approx(2 / (3 * 0.8))
    assert figs["sets_changed_fraction"] == 0.5


def test_measure_over_placement_tables() -> None:
    old = {"k1": ["a", "b", "c"], "k2": ["c", "a", "b"], "k3": ["b", "c", "a"]}
    grown = {"k1": ["e", "a", "b"], "k2": ["c", "a", "b"], "k3": ["b", "c", "e"]}
    shrunk = {"k1": ["a", "b", "d"], "k2": ["a", "b", "d"], "k3": ["b", "a", "d"]}
    placed = ring_bench.measure(
        list(old), old.__getitem__, grown.__getitem__, shrunk.__getitem__, TINY
    )
    assert placed.load == Counter({"a": 1, "c": 1, "b": 1})
    assert (placed.add.primaries_moved, placed.add.copies, placed.add.node_primaries) == (1, 2, 1)
    assert placed.add.sets_changed == 2
    assert (placed.remove.primaries_moved, placed.remove.copies) == (1, 3)
    assert (placed.remove.node_primaries, placed.remove.node_replicas) == (1, 3)


def test_balance_divides_by_weight_share() -> None:
    weights = {"a": 1, "b": 1, "c": 2}
    assert ring_bench.balance(Counter({"a": 25, "b": 25, "c": 50}), weights) == (1.0, 1.0)
    assert ring_bench.balance(Counter({"a": 30, "b": 10, "c": 60}), weights) == pytest.approx(
        (1.2, 0.4)
    )
    # A node with no keys at all counts as 0, not as missing.
    assert ring_bench.balance(Counter({"a": 50, "c": 50}), weights)[1] == 0.0


def test_run_case_matches_the_ring_and_diff() -> None:
    keys = ring_bench.make_keys(3000)
    assert len(set(keys)) == 3000
    kinds = ring_bench.kinds([0.25])
    assert [k.label for k in kinds] == ["pilothouse", "pilothouse bounded ε=0.25", "uhashring"]
    assert [k.label for k in ring_bench.kinds([], vnodes=64)] == [
        "pilothouse 64 vnodes",
        "uhashring",
    ]
    figures = ring_bench.run_case(TINY, kinds, keys, lookups=200, repeats=2, add_trials=3)
    assert len(figures) == 3
    for kind, f in zip(kinds, figures, strict=True):
        ring = kind.build(TINY.weights)
        for key in keys[:200]:  # the primary the bench counts is the library's primary
            primary = ring.primary(key)
            assert ring.place(key)[0] == (primary.id if isinstance(primary, RingNode) else primary)
            assert len(ring.place(key)) == ring_bench.REPLICAS
        assert len(f.primary_us) == len(f.replicas_us) == len(f.wide_us) == 2
        assert all(t > 0 for t in f.primary_us + f.replicas_us + f.wide_us)
        assert f.max_mean >= 1.0 >= f.min_mean > 0
        assert f.exact_max_mean >= 1.0 >= f.exact_min_mean > 0
        assert len(f.add_shares) == 3
        assert f.add["primaries_ideal"] == pytest.approx(3000 / 6)  # w 1 of W 5 + 1
        assert f.remove["primaries_ideal"] == f.remove["primaries_needed"]

    # Plain mode: cross-check every count with diff() on the same rings.
    plain = figures[0]
    nodes = [RingNode(n, weight=w) for n, w in TINY.weights.items()]
    config = RingConfig(replication_factor=3)
    old = HashRing.build(nodes, config)
    for change, new_nodes in (
        (plain.add, [*nodes, RingNode("e")]),
        (plain.remove, [n for n in nodes if n.id != "c"]),
    ):
        d = diff(old, HashRing.build(new_nodes, config), keys, replicas=3)
        assert change["primaries_moved"] == len(d.primary_moved)
        assert change["copies"] == d.copies
        assert change["sets_changed"] == sum(set(m.old) != set(m.new) for m in d.moves)
        # Minimal movement: only the keys that had to move did.
        assert change["primaries_vs_needed"] == 1.0
        assert change["copies_vs_needed"] == 1.0
    exact = old.ownership()
    assert plain.exact_max_mean == pytest.approx(
        max(exact[n] * 5 / w for n, w in TINY.weights.items())  # W = 5
    )


def test_cli_json_and_markdown(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--keys", "1500", "--lookups", "300", "--repeats", "1", "--nodes", "4"]
    ring_bench.main([*argv, "--add-trials", "2", "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert doc["keys"] == 1500
    assert [c["name"] for c in doc["cases"]] == ["4 nodes", "12 nodes, weights 4/2/1 x4"]
    rings = doc["cases"][0]["rings"]
    assert list(rings) == [
        "pilothouse",
        "pilothouse bounded ε=0.1",
        "pilothouse bounded ε=0.05",
        "uhashring",
    ]
    assert set(rings["uhashring"]["add"]) >= {"primaries_vs_ideal", "copies_vs_needed"}

    ring_bench.main([*argv, "--add-trials", "0", "--epsilon", ""])
    out = capsys.readouterr().out
    assert out.count("| case | figure | pilothouse | uhashring | target |") == 3
    assert "| 4 nodes | primary(key) / get_node(key) |" in out
    assert "remove node-000 (w 4): primaries moved" in out


def test_registered_with_the_harness() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "bench", "ring", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert "python -m bench ring" in out.stdout

"""The ring bench's report: three Markdown tables (lookups, balance, movement) with the
missed targets marked, or the same figures as JSON."""

from __future__ import annotations

import argparse
import dataclasses
import statistics
from collections.abc import Iterable, Sequence
from typing import Any

from bench.ring_kinds import REPLICAS, WIDE, Kind
from bench.ring_measure import Case, Figures

LOOKUP_TARGET_US = 2.0
BALANCE_TARGET = 1.10
MOVE_TARGET = 1.05

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

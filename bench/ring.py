"""The hash ring's figures, side by side with uhashring on the same keys in one run.

For each case (equal weights at each ``--nodes`` count, default 10 and 50, and 12 nodes
weighted 4/2/1) the rings compared are built from the same node ids and weights:
Pilothouse's plain ring (``--vnodes`` per unit of weight, default 2,048 as ``RingConfig``),
the same in bounded-load mode for each ``--epsilon`` (default 0.1 and 0.05; ``RingConfig``
has no default epsilon; 4,096 partitions) and ``uhashring.HashRing`` (its defaults: MD5,
160 vnodes per unit of weight). Keys are ``--keys`` (default 1,000,000) SHA-1 hex strings,
like Git object ids.

* **lookups**, **balance** and **movement** (:mod:`bench.ring_measure`, which says how each
  is counted) over the rings of :mod:`bench.ring_kinds`;
* the report, Markdown tables or JSON (:mod:`bench.ring_report`).

``python -m bench ring [--keys N] [--quick] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from bench.ring_kinds import REPLICAS, WIDE, Kind, kinds
from bench.ring_measure import (
    Case,
    Change,
    Figures,
    balance,
    cases,
    change_figures,
    make_keys,
    measure,
    run_case,
)
from bench.ring_report import report, to_json
from pilothouse.controlplane.ringmodel import DEFAULT_VNODES_PER_WEIGHT

__all__ = [  # the pieces, re-exported: ``bench.ring`` is the bench's face
    "REPLICAS",
    "WIDE",
    "Case",
    "Change",
    "Figures",
    "Kind",
    "balance",
    "cases",
    "change_figures",
    "kinds",
    "main",
    "make_keys",
    "measure",
    "report",
    "run_case",
    "to_json",
]


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

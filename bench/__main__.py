"""``python -m bench NAME [options]``: run one benchmark."""

from __future__ import annotations

import sys

from bench import (
    apiserver_bench,
    controlplane,
    ring,
    runtime,
    sessions,
    simulation_bench,
    storm,
)

BENCHES = {
    "apiserver": apiserver_bench.main,
    "simulation": simulation_bench.main,
    "runtime": runtime.main,
    "ring": ring.main,
    "controlplane": controlplane.main,
    "storm": storm.main,
    "sessions": sessions.main,
}


def main() -> None:
    name = sys.argv[1] if len(sys.argv) > 1 else "apiserver"
    if name not in BENCHES:
        raise SystemExit(f"unknown benchmark {name!r}; choose from {', '.join(BENCHES)}")
    BENCHES[name](sys.argv[2:])


main()

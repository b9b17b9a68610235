"""Benchmarks. Run ``make bench`` or ``python -m bench <name>``; figures go to
``docs/benchmarks.md``."""

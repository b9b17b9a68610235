"""The control-plane bench's pure figures: a percentile, the summary of one measured run
(ops/s, p50 and p99 latency, errors), the median of several rounds, ratios and the summary
of failover times. No I/O."""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass


def percentile(samples: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) with linear interpolation between the closest
    ranks (numpy's default); NaN for no samples."""
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} is not in 0..100")
    if not samples:
        return math.nan
    ordered = sorted(samples)
    pos = (len(ordered) - 1) * q / 100
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


@dataclass(frozen=True, slots=True)
class Summary:
    """One measured run of a path at one concurrency."""

    ops: int
    seconds: float
    ops_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int = 0


def summarize(latencies: Sequence[float], seconds: float, errors: int = 0) -> Summary:
    """Ops/s and p50/p99 in ms from op latencies (seconds) completed in ``seconds``."""
    if seconds <= 0:
        raise ValueError(f"a measured window of {seconds} s")
    return Summary(
        ops=len(latencies),
        seconds=seconds,
        ops_per_s=len(latencies) / seconds,
        p50_ms=percentile(latencies, 50) * 1000,
        p99_ms=percentile(latencies, 99) * 1000,
        errors=errors,
    )


def ratio(a: float, b: float) -> float:
    """``a / b``; NaN when ``b`` is 0 or either is NaN."""
    return a / b if b and not (math.isnan(a) or math.isnan(b)) else math.nan


def combine(rounds: Sequence[Summary], latencies: Sequence[float]) -> Summary:
    """Several rounds of one case: the median round's ops/s, percentiles of the pooled
    latencies, errors added up."""
    if not rounds:
        raise ValueError("no rounds")
    pooled = summarize(latencies, sum(r.seconds for r in rounds), sum(r.errors for r in rounds))
    return dataclasses.replace(pooled, ops_per_s=statistics.median(r.ops_per_s for r in rounds))


def failover_summary(seconds: Sequence[float]) -> dict[str, float]:
    """Median, max and min of failover times; NaN for none."""
    if not seconds:
        return {"median": math.nan, "max": math.nan, "min": math.nan}
    return {"median": statistics.median(seconds), "max": max(seconds), "min": min(seconds)}

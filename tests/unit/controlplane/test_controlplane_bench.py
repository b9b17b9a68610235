"""Smoke test of ``python -m bench controlplane``'s pure parts: the percentile and summary
math, the ratios and verdicts, ``/proc`` parsing, and the report and JSON built from
made-up figures. No cluster is started and no timing is asserted."""

from __future__ import annotations

import argparse
import json
import math
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]
if str(ROOT) not in sys.path:  # bench/ is a top-level directory, not an installed package
    sys.path.insert(0, str(ROOT))

from bench import controlplane as cp  # noqa: E402


def test_percentile_interpolates_between_ranks() -> None:
    samples = [4.0, 1.0, 3.0, 2.0]  # unsorted on purpose
    assert cp.percentile(samples, 0) == 1.0
    assert cp.percentile(samples, 100) == 4.0
    assert cp.percentile(samples, 50) == 2.5
    assert cp.percentile(samples, 25) == pytest.approx(1.75)
    assert cp.percentile(list(range(101)), 99) == pytest.approx(99.0)
    assert cp.percentile([7.0], 99) == 7.0
    assert math.isnan(cp.percentile([], 50))
    with pytest.raises(ValueError):
        cp.percentile(samples, 101)


def test_summarize_gives_rate_and_milliseconds() -> None:
    s = cp.summarize([0.010, 0.020, 0.030, 0.040], seconds=2.0, errors=1)
    assert (s.ops, s.seconds, s.ops_per_s, s.errors) == (4, 2.0, 2.0, 1)
    assert s.p50_ms == pytest.approx(25.0)
    assert s.p99_ms == pytest.approx(39.7)
    empty = cp.summarize([], seconds=1.0)
    assert empty.ops_per_s == 0 and math.isnan(empty.p50_ms)
    with pytest.raises(ValueError):
        cp.summarize([0.1], seconds=0)


def test_combine_takes_the_median_round_and_pools_latencies() -> None:
    rounds = [cp.summarize([0.1] * n, 1.0) for n in (10, 30, 20)]
    latencies = [0.1] * 59 + [1.0]
    c = cp.combine(rounds, latencies)
    assert c.ops_per_s == 20.0  # the median round, not the pooled rate (60 / 3 s)
    assert c.ops == 60 and c.seconds == 3.0
    assert c.p50_ms == pytest.approx(100.0)
    assert c.p99_ms > 100.0
    with pytest.raises(ValueError):
        cp.combine([], [])


def test_ratio_and_failover_summary() -> None:
    assert cp.ratio(30.0, 60.0) == 0.5
    assert math.isnan(cp.ratio(1.0, 0.0))
    assert math.isnan(cp.ratio(math.nan, 2.0))
    fs = cp.failover_summary([1.2, 0.9, 3.0, 1.1])
    assert fs == {"median": pytest.approx(1.15), "max": 3.0, "min": 0.9}
    assert all(math.isnan(v) for v in cp.failover_summary([]).values())


def test_parse_proc_stat_counts_fields_after_the_command_name() -> None:
    # The command name may hold spaces and parentheses; utime 14 + stime 15 in ticks.
    fields = ["S", "42"] + ["0"] * 9 + ["150", "25"] + ["0"] * 30
    line = "1234 (etcd (x) y) " + " ".join(fields)
    assert cp.parse_proc_stat(line) == (42, 175)
    me = cp._stat(__import__("os").getpid())
    assert me is not None and me[1] >= 0


def test_entry_order_puts_the_entry_replica_first() -> None:
    names = ["r0", "r1", "r2"]
    assert cp.entry_order(names, "r0", "follower") == ["r1", "r0", "r2"]
    assert cp.entry_order(names, "r1", "follower") == ["r0", "r1", "r2"]
    assert cp.entry_order(names, "r2", "leader") == ["r2", "r0", "r1"]
    with pytest.raises(ValueError):
        cp.entry_order(names, "r0", "any")


def _case(path: str, clients: int, ops_per_s: float) -> cp.Case:
    n = int(ops_per_s)
    case = cp.Case(path, clients, rounds=[cp.summarize([0.01] * n, 1.0)], latencies=[0.01] * n)
    case.cpu = {"bench": n * 0.001, "replicas": n * 0.002, "etcd": n * 0.003}
    return case


def _rounds(*writes: float) -> list[cp.Round]:
    return [cp.Round("r0", False, w - 0.2, w - 0.1, w, 0, "r1", 1.0, 2.0) for w in writes]


def test_ratios_and_verdicts() -> None:
    cases = [
        _case(cp.GRPC, 16, 300),
        _case(cp.SERVICE, 16, 500),
        _case(cp.RAW, 16, 600),
        _case(cp.GRPC, 1, 100),
        _case(cp.RAW, 1, 100),
    ]
    r = cp.ratios(cases)
    assert r[(cp.GRPC, 16)] == pytest.approx(0.5)
    assert r[(cp.SERVICE, 16)] == pytest.approx(500 / 600)
    assert r[(cp.RAW, 16)] == 1.0
    assert r[(cp.GRPC, 1)] == 1.0
    assert cases[0].cpu_ms_per_op() == pytest.approx({"bench": 1.0, "replicas": 2.0, "etcd": 3.0})

    v = cp.verdicts(cases, _rounds(1.0, 1.4, 2.0))
    assert v["grpc_vs_raw_at_16"]["met"] is True
    assert v["failover_median_s"] == {"value": 1.4, "target": 1.5, "met": True}
    v = cp.verdicts(cases[:1], _rounds(1.6, 1.7))
    assert v["grpc_vs_raw_at_16"]["met"] is None  # no raw figure to compare with
    assert v["failover_median_s"]["met"] is False


def _args(**over: object) -> argparse.Namespace:
    base = dict(
        duration=5.0,
        warmup=1.0,
        rounds=1,
        client_per_task=False,
        election_ms=1000,
        heartbeat_ms=100,
        failover_timeout=0.5,
        failover_backoff=0.05,
        failover_max_backoff=1.0,
        entry="follower",
    )
    base.update(over)
    return argparse.Namespace(**base)


def test_report_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    cases = [_case(p, 16, n) for p, n in zip(cp.PATHS, (300, 500, 600), strict=True)]
    rounds = _rounds(1.0, 2.0)
    meta = {"etcd_leader": "r1", "entry_replica": "r0", "elections_during_throughput": 0}
    cp.report(cases, rounds, _args(), meta)
    out = capsys.readouterr().out
    assert "every path enters through r0" in out
    assert "LockService in-process" in out
    assert "50%" in out  # gRPC ÷ raw
    assert "grpc_vs_raw_at_16: 0.5" in out
    assert "failover_median_s: 1.5" in out

    doc = cp._nan_to_none(cp.to_json(cases, rounds, _args(), meta))
    assert doc["entry_replica"] == "r0" and doc["entry"] == "follower"
    text = json.dumps(doc)  # strict JSON: no NaN left
    assert "NaN" not in text
    first = doc["throughput"][0]
    assert (first["path"], first["clients"], first["ops_per_s"]) == (cp.GRPC, 16, 300.0)
    assert first["vs_raw"] == pytest.approx(0.5)
    assert doc["failover"]["write_s"]["median"] == 1.5
    assert doc["failover"]["rounds"][0]["served_by"] == "r1"
    assert doc["targets"]["failover_median_s"]["met"] is True

    empty = cp._nan_to_none(cp.to_json([], [], _args()))
    assert empty["failover"]["write_s"]["median"] is None


def test_registered_with_the_harness() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "bench", "controlplane", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert "python -m bench controlplane" in out.stdout
    assert "--failovers" in out.stdout

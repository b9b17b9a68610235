"""Runtime metrics (pilothouse.runtime.metrics): controller-runtime's exact names, and the
work queue's metrics through them."""

from __future__ import annotations

import gc
import re

import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from pilothouse.runtime.clock import FakeClock
from pilothouse.runtime.metrics import RECONCILE_RESULTS, RuntimeMetrics
from pilothouse.runtime.ratelimit import ItemExponentialFailureRateLimiter
from pilothouse.runtime.workqueue import RateLimitingQueue, WorkqueueMetricsProvider

EXPECTED_TYPES = {
    "controller_runtime_reconcile_total": "counter",
    "controller_runtime_reconcile_errors_total": "counter",
    "controller_runtime_terminal_reconcile_errors_total": "counter",
    "controller_runtime_reconcile_panics_total": "counter",
    "controller_runtime_reconcile_time_seconds": "histogram",
    "controller_runtime_max_concurrent_reconciles": "gauge",
    "controller_runtime_active_workers": "gauge",
    "workqueue_depth": "gauge",
    "workqueue_adds_total": "counter",
    "workqueue_queue_duration_seconds": "histogram",
    "workqueue_work_duration_seconds": "histogram",
    "workqueue_unfinished_work_seconds": "gauge",
    "workqueue_longest_running_processor_seconds": "gauge",
    "workqueue_retries_total": "counter",
    "leader_election_master_status": "gauge",
    "rest_client_requests_total": "counter",
    "rest_client_request_duration_seconds": "histogram",
    "pilothouse_informer_relists_total": "counter",
}

EXPECTED_LABELS = {
    "controller_runtime_reconcile_total": {"controller", "result"},
    "controller_runtime_reconcile_errors_total": {"controller"},
    "controller_runtime_terminal_reconcile_errors_total": {"controller"},
    "controller_runtime_reconcile_panics_total": {"controller"},
    "controller_runtime_reconcile_time_seconds": {"controller"},
    "controller_runtime_max_concurrent_reconciles": {"controller"},
    "controller_runtime_active_workers": {"controller"},
    "leader_election_master_status": {"name"},
    "rest_client_requests_total": {"code", "method", "host"},
    "rest_client_request_duration_seconds": {"verb", "host"},
    "pilothouse_informer_relists_total": {"kind", "reason"},
    **{name: {"name", "controller"} for name in EXPECTED_TYPES if name.startswith("workqueue_")},
}

RECONCILE_LE = [
    "0.005", "0.01", "0.025", "0.05", "0.1", "0.15", "0.2", "0.25", "0.3", "0.35", "0.4", "0.45",
    "0.5", "0.6", "0.7", "0.8", "0.9", "1.0", "1.25", "1.5", "1.75", "2.0", "2.5", "3.0", "3.5",
    "4.0", "4.5", "5.0", "6.0", "7.0", "8.0", "9.0", "10.0", "15.0", "20.0", "25.0", "30.0",
    "40.0", "50.0", "60.0", "+Inf",
]  # fmt: skip
WORKQUEUE_LE = [
    "1e-08", "1e-07", "1e-06", "9.999999999999999e-06", "9.999999999999999e-05", "0.001", "0.01",
    "0.1", "1.0", "10.0", "100.0", "1000.0", "+Inf",
]  # fmt: skip
REST_LE = [
    "0.005", "0.025", "0.1", "0.25", "0.5", "1.0", "2.0", "4.0", "8.0", "15.0", "30.0", "60.0",
    "+Inf",
]  # fmt: skip


def populated() -> tuple[RuntimeMetrics, RateLimitingQueue[str]]:
    """A RuntimeMetrics with a sample of every series."""
    m = RuntimeMetrics(process_metrics=False)
    m.init_controller("pods", 3)
    m.observe_reconcile("pods", "success", 0.02)
    m.set_leader("pilothouse-lock", True)
    m.observe_rest_request("GET", "127.0.0.1:6443", 200, 0.004)
    m.observe_relist("v1/Pod", "initial")
    q: RateLimitingQueue[str] = RateLimitingQueue(name="pods", clock=FakeClock(), metrics=m)
    q.add("a")
    return m, q


def type_lines(text: str) -> dict[str, str]:
    return dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.MULTILINE))


def sample_names(text: str) -> set[str]:
    return set(re.findall(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]", text, re.MULTILINE))


def le_values(text: str, histogram: str) -> list[str]:
    return re.findall(rf'^{histogram}_bucket{{[^}}]*le="([^"]+)"', text, re.MULTILINE)


def test_exported_names_and_types_are_controller_runtime_s() -> None:
    m, _q = populated()
    text = m.render().decode()
    assert type_lines(text) == EXPECTED_TYPES
    expected_samples = set()
    for name, kind in EXPECTED_TYPES.items():
        if kind == "histogram":
            expected_samples |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
        else:
            expected_samples.add(name)
    assert sample_names(text) == expected_samples
    assert "_created" not in text
    assert "_total_total" not in text


def test_label_names() -> None:
    m, _q = populated()
    families = {f.name: f for f in text_string_to_metric_families(m.render().decode())}
    for name, labels in EXPECTED_LABELS.items():
        family = families.get(name) or families[name.removesuffix("_total")]
        assert family.samples, name
        for sample in family.samples:
            assert set(sample.labels) - {"le"} == labels, name


def test_histogram_buckets() -> None:
    m, _q = populated()
    text = m.render().decode()
    assert le_values(text, "controller_runtime_reconcile_time_seconds") == RECONCILE_LE
    assert le_values(text, "workqueue_queue_duration_seconds") == WORKQUEUE_LE
    assert le_values(text, "workqueue_work_duration_seconds") == WORKQUEUE_LE
    assert le_values(text, "rest_client_request_duration_seconds") == REST_LE


def test_process_metrics_are_optional() -> None:
    with_process = RuntimeMetrics().render().decode()
    assert "process_cpu_seconds_total" in with_process
    assert "process_" not in RuntimeMetrics(process_metrics=False).render().decode()


def test_registries_are_independent_and_never_global() -> None:
    a = RuntimeMetrics(process_metrics=False)
    b = RuntimeMetrics(process_metrics=False)
    a.observe_reconcile("c", "error", 0.1)
    assert (
        a.registry.get_sample_value(
            "controller_runtime_reconcile_total", {"controller": "c", "result": "error"}
        )
        == 1.0
    )
    assert (
        b.registry.get_sample_value(
            "controller_runtime_reconcile_total", {"controller": "c", "result": "error"}
        )
        is None
    )
    assert (
        REGISTRY.get_sample_value(
            "controller_runtime_reconcile_total", {"controller": "c", "result": "error"}
        )
        is None
    )


def test_controller_helpers() -> None:
    m = RuntimeMetrics(process_metrics=False)
    m.init_controller("c", 4)
    value = m.registry.get_sample_value
    for result in RECONCILE_RESULTS:
        assert (
            value("controller_runtime_reconcile_total", {"controller": "c", "result": result}) == 0
        )
    assert value("controller_runtime_max_concurrent_reconciles", {"controller": "c"}) == 4
    assert value("controller_runtime_active_workers", {"controller": "c"}) == 0
    assert value("controller_runtime_reconcile_panics_total", {"controller": "c"}) == 0
    m.observe_reconcile("c", "error", 0.3)
    m.observe_reconcile("c", "requeue_after", 0.001)
    assert value("controller_runtime_reconcile_errors_total", {"controller": "c"}) == 1
    assert value("controller_runtime_reconcile_time_seconds_count", {"controller": "c"}) == 2
    assert (
        value("controller_runtime_reconcile_time_seconds_bucket", {"controller": "c", "le": "0.3"})
        == 2
    )
    with pytest.raises(ValueError):
        m.observe_reconcile("c", "bogus", 0.0)
    m.set_leader("lock", True)
    assert value("leader_election_master_status", {"name": "lock"}) == 1
    m.set_leader("lock", False)
    assert value("leader_election_master_status", {"name": "lock"}) == 0
    m.observe_rest_request("PUT", "h:443", "<error>")
    m.observe_rest_request("PUT", "h:443", 409, 0.2)
    total = "rest_client_requests_total"
    assert value(total, {"code": "<error>", "method": "PUT", "host": "h:443"}) == 1
    assert value(total, {"code": "409", "method": "PUT", "host": "h:443"}) == 1
    duration = "rest_client_request_duration_seconds_count"
    assert value(duration, {"verb": "PUT", "host": "h:443"}) == 1
    m.observe_relist("v1/Pod", "gone")
    m.observe_relist("v1/Pod", "gone")
    relists = "pilothouse_informer_relists_total"
    assert value(relists, {"kind": "v1/Pod", "reason": "gone"}) == 2


# -- the work queue's metrics ------------------------------------------------------------


def wq_value(m: RuntimeMetrics, name: str, queue: str = "q", **labels: str) -> float | None:
    return m.registry.get_sample_value(name, {"name": queue, "controller": queue, **labels})


def test_runtime_metrics_is_a_workqueue_metrics_provider() -> None:
    provider: WorkqueueMetricsProvider = RuntimeMetrics(process_metrics=False)
    assert provider is not None


async def test_workqueue_metric_values() -> None:
    clock = FakeClock()
    m = RuntimeMetrics(process_metrics=False)
    q: RateLimitingQueue[str] = RateLimitingQueue(
        ItemExponentialFailureRateLimiter(1.0, 100.0), name="q", clock=clock, metrics=m
    )
    q.add("a")
    q.add("a")  # deduplicated: not an add
    q.add("b")
    assert wq_value(m, "workqueue_adds_total") == 2
    assert wq_value(m, "workqueue_depth") == 2

    clock.advance(2.0)
    assert await q.get() == "a"
    assert wq_value(m, "workqueue_depth") == 1
    assert wq_value(m, "workqueue_queue_duration_seconds_count") == 1
    assert wq_value(m, "workqueue_queue_duration_seconds_sum") == 2.0
    assert wq_value(m, "workqueue_queue_duration_seconds_bucket", le="1.0") == 0
    assert wq_value(m, "workqueue_queue_duration_seconds_bucket", le="10.0") == 1

    clock.advance(3.0)
    assert await q.get() == "b"  # waited 5 s
    assert wq_value(m, "workqueue_queue_duration_seconds_sum") == 7.0
    assert wq_value(m, "workqueue_unfinished_work_seconds") == 3.0  # a: 3 s, b: 0 s
    assert wq_value(m, "workqueue_longest_running_processor_seconds") == 3.0
    clock.advance(1.0)
    assert wq_value(m, "workqueue_unfinished_work_seconds") == 5.0  # a: 4 s, b: 1 s
    assert wq_value(m, "workqueue_longest_running_processor_seconds") == 4.0

    q.add("a")  # while processing: dirty, and counted in depth as client-go does
    assert wq_value(m, "workqueue_adds_total") == 3
    assert wq_value(m, "workqueue_depth") == 1
    q.done("a")
    assert wq_value(m, "workqueue_work_duration_seconds_count") == 1
    assert wq_value(m, "workqueue_work_duration_seconds_sum") == 4.0
    assert wq_value(m, "workqueue_depth") == 1  # re-queued: still one dirty key
    assert wq_value(m, "workqueue_unfinished_work_seconds") == 1.0
    q.done("b")
    assert wq_value(m, "workqueue_unfinished_work_seconds") == 0.0
    assert wq_value(m, "workqueue_longest_running_processor_seconds") == 0.0

    assert wq_value(m, "workqueue_retries_total") == 0
    q.add_rate_limited("c")
    q.add_rate_limited("c")
    q.add_after("d", 5.0)  # client-go counts every AddAfter as a retry
    q.add_after("d", 0)
    assert wq_value(m, "workqueue_retries_total") == 4
    q.shutdown()
    q.add_after("d", 5.0)
    assert wq_value(m, "workqueue_retries_total") == 4


def test_queue_without_a_name_records_nothing() -> None:
    m = RuntimeMetrics(process_metrics=False)
    q: RateLimitingQueue[str] = RateLimitingQueue(clock=FakeClock(), metrics=m)
    q.add("a")
    q.add_after("b", 1)
    text = m.render().decode()
    assert 'name="' not in text
    assert wq_value(m, "workqueue_adds_total", queue="") is None


def test_sampled_gauges_do_not_keep_the_queue_alive() -> None:
    m = RuntimeMetrics(process_metrics=False)
    q: RateLimitingQueue[str] = RateLimitingQueue(name="gone", clock=FakeClock(), metrics=m)
    q.add("a")
    assert wq_value(m, "workqueue_depth", queue="gone") == 1
    del q
    gc.collect()
    assert wq_value(m, "workqueue_depth", queue="gone") == 0
    assert wq_value(m, "workqueue_unfinished_work_seconds", queue="gone") == 0


def test_two_managers_with_same_queue_name() -> None:
    a, b = RuntimeMetrics(process_metrics=False), RuntimeMetrics(process_metrics=False)
    qa: RateLimitingQueue[int] = RateLimitingQueue(name="x", clock=FakeClock(), metrics=a)
    qb: RateLimitingQueue[int] = RateLimitingQueue(name="x", clock=FakeClock(), metrics=b)
    qa.add(1)
    qa.add(2)
    qb.add(1)
    assert wq_value(a, "workqueue_depth", queue="x") == 2
    assert wq_value(b, "workqueue_depth", queue="x") == 1

"""Prometheus metrics of the operator runtime, named exactly as controller-runtime names them.

Dashboards and alerts written for controller-runtime operators (the kubebuilder Grafana
dashboards, ``rate(controller_runtime_reconcile_errors_total[5m])``, workqueue depth alerts)
should work unchanged against a Pilothouse operator, so every metric here copies
controller-runtime's name, type, help text, label names and histogram buckets:

* ``pkg/internal/controller/metrics`` -- ``controller_runtime_reconcile_total{controller,
  result}``, ``controller_runtime_reconcile_errors_total``,
  ``controller_runtime_terminal_reconcile_errors_total``,
  ``controller_runtime_reconcile_panics_total``, ``controller_runtime_reconcile_time_seconds``
  (its 40 buckets from 5 ms to 60 s), ``controller_runtime_max_concurrent_reconciles``,
  ``controller_runtime_active_workers`` (all ``{controller}``);
* ``pkg/metrics/workqueue.go`` -- ``workqueue_*{name,controller}``, both labels set to the
  queue's name as controller-runtime >= 0.15 does; the two duration histograms use
  ``ExponentialBuckets(10e-9, 10, 12)`` (10 ns .. 1000 s). controller-runtime >= 0.20 also
  puts a ``priority`` label on ``workqueue_depth`` for its priority queue; Pilothouse's queue
  has no priorities, so it keeps the pre-0.20 label set;
* ``pkg/metrics/leaderelection.go`` -- ``leader_election_master_status{name}``;
* ``pkg/metrics/client_go_adapter.go`` -- ``rest_client_requests_total{code,method,host}``.
  Current controller-runtime exports no request-latency histogram (it was dropped for its
  per-path cardinality); the one here is Kubernetes' own (``k8s.io/component-base``)
  ``rest_client_request_duration_seconds{verb,host}`` with its buckets.

One series is Pilothouse's own, and prefixed so: ``pilothouse_informer_relists_total{kind,
reason}``, fed by the informers' relist hook.

Each :class:`RuntimeMetrics` owns its own :class:`~prometheus_client.CollectorRegistry` (one
per manager), never the process-global ``REGISTRY``: several managers can run in one process
(tests do) without "Duplicated timeseries" errors or metrics bleeding between them.

prometheus_client strips and re-appends ``_total`` on counters, so counters are declared here
with their full controller-runtime names and the exposition shows them unchanged. It also
exports an OpenMetrics ``<name>_created`` series per counter and histogram child, which
controller-runtime does not; :meth:`RuntimeMetrics.render` leaves those out (without touching
the library's process-global switch).

:class:`RuntimeMetrics` is also the work queue's
:class:`~pilothouse.runtime.workqueue.WorkqueueMetricsProvider` (pass it as ``metrics=``); the
queue's gauges are sampled from the queue's state when scraped.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

__all__ = [
    "CONTENT_TYPE_LATEST",
    "RECONCILE_BUCKETS",
    "RECONCILE_RESULTS",
    "REST_CLIENT_LATENCY_BUCKETS",
    "WORKQUEUE_DURATION_BUCKETS",
    "RuntimeMetrics",
]

# controller-runtime's ReconcileTime buckets.
RECONCILE_BUCKETS: Final[tuple[float, ...]] = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8,
    0.9, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0,
    15.0, 20.0, 25.0, 30.0, 40.0, 50.0, 60.0,
)  # fmt: skip


def _exponential_buckets(start: float, factor: float, count: int) -> tuple[float, ...]:
    """``prometheus.ExponentialBuckets``, float for float (``start *= factor``, as Go does)."""
    buckets: list[float] = []
    for _ in range(count):
        buckets.append(start)
        start *= factor
    return tuple(buckets)


# 1e-08 .. 1000.0, including Go's 9.999999999999999e-06 and 9.999999999999999e-05.
WORKQUEUE_DURATION_BUCKETS: Final[tuple[float, ...]] = _exponential_buckets(10e-9, 10, 12)

# k8s.io/component-base/metrics/prometheus/restclient: rest_client_request_duration_seconds.
REST_CLIENT_LATENCY_BUCKETS: Final[tuple[float, ...]] = (
    0.005, 0.025, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0,
)  # fmt: skip

RECONCILE_RESULTS: Final[tuple[str, ...]] = ("success", "error", "requeue", "requeue_after")

_UNFINISHED_HELP = (
    "How many seconds of work has been done that is in progress and hasn't been observed by "
    "work_duration. Large values indicate stuck threads. One can deduce the number of stuck "
    "threads by observing the rate at which this increases."
)
_LEADER_HELP = (
    "Gauge of if the reporting system is master of the relevant lease, 0 indicates backup, 1 "
    "indicates master. 'name' is the string used to identify the lease. Please make sure to "
    "group by name."
)


class RuntimeMetrics:
    """The runtime's metrics, in a registry of their own (one per manager)."""

    def __init__(
        self, registry: CollectorRegistry | None = None, *, process_metrics: bool = True
    ) -> None:
        """``process_metrics`` adds the ``process_*`` series (CPU, memory, file descriptors)
        that controller-runtime also exports."""
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        c = ["controller"]
        self.reconcile_total = Counter(
            "controller_runtime_reconcile_total",
            "Total number of reconciliations per controller",
            ["controller", "result"],
            registry=r,
        )
        self.reconcile_errors_total = Counter(
            "controller_runtime_reconcile_errors_total",
            "Total number of reconciliation errors per controller",
            c,
            registry=r,
        )
        self.terminal_reconcile_errors_total = Counter(
            "controller_runtime_terminal_reconcile_errors_total",
            "Total number of terminal reconciliation errors per controller",
            c,
            registry=r,
        )
        self.reconcile_panics_total = Counter(
            "controller_runtime_reconcile_panics_total",
            "Total number of reconciliation panics per controller",
            c,
            registry=r,
        )
        self.reconcile_time_seconds = Histogram(
            "controller_runtime_reconcile_time_seconds",
            "Length of time per reconciliation per controller",
            c,
            registry=r,
            buckets=RECONCILE_BUCKETS,
        )
        self.max_concurrent_reconciles = Gauge(
            "controller_runtime_max_concurrent_reconciles",
            "Maximum number of concurrent reconciles per controller",
            c,
            registry=r,
        )
        self.active_workers = Gauge(
            "controller_runtime_active_workers",
            "Number of currently used workers per controller",
            c,
            registry=r,
        )

        q = ["name", "controller"]
        self.workqueue_depth = Gauge("workqueue_depth", "Current depth of workqueue", q, registry=r)
        self.workqueue_adds_total = Counter(
            "workqueue_adds_total", "Total number of adds handled by workqueue", q, registry=r
        )
        self.workqueue_queue_duration_seconds = Histogram(
            "workqueue_queue_duration_seconds",
            "How long in seconds an item stays in workqueue before being requested",
            q,
            registry=r,
            buckets=WORKQUEUE_DURATION_BUCKETS,
        )
        self.workqueue_work_duration_seconds = Histogram(
            "workqueue_work_duration_seconds",
            "How long in seconds processing an item from workqueue takes.",
            q,
            registry=r,
            buckets=WORKQUEUE_DURATION_BUCKETS,
        )
        self.workqueue_unfinished_work_seconds = Gauge(
            "workqueue_unfinished_work_seconds", _UNFINISHED_HELP, q, registry=r
        )
        self.workqueue_longest_running_processor_seconds = Gauge(
            "workqueue_longest_running_processor_seconds",
            "How many seconds has the longest running processor for workqueue been running.",
            q,
            registry=r,
        )
        self.workqueue_retries_total = Counter(
            "workqueue_retries_total", "Total number of retries handled by workqueue", q, registry=r
        )

        self.leader_election_master_status = Gauge(
            "leader_election_master_status", _LEADER_HELP, ["name"], registry=r
        )
        self.rest_client_requests_total = Counter(
            "rest_client_requests_total",
            "Number of HTTP requests, partitioned by status code, method, and host.",
            ["code", "method", "host"],
            registry=r,
        )
        self.rest_client_request_duration_seconds = Histogram(
            "rest_client_request_duration_seconds",
            "Request latency in seconds. Broken down by verb, and host.",
            ["verb", "host"],
            registry=r,
            buckets=REST_CLIENT_LATENCY_BUCKETS,
        )
        # Pilothouse's own (controller-runtime has no equivalent), hence the prefix.
        self.informer_relists_total = Counter(
            "pilothouse_informer_relists_total",
            "Number of informer relists (full LIST), by kind and reason (initial, gone, error).",
            ["kind", "reason"],
            registry=r,
        )
        if process_metrics:
            ProcessCollector(registry=r)

    # -- controllers ---------------------------------------------------------------------

    def init_controller(self, controller: str, max_concurrent_reconciles: int) -> None:
        """Create a controller's series at zero, as controller-runtime does when it starts."""
        self.active_workers.labels(controller).set(0)
        self.max_concurrent_reconciles.labels(controller).set(max_concurrent_reconciles)
        for result in RECONCILE_RESULTS:
            self.reconcile_total.labels(controller, result).inc(0)
        self.reconcile_errors_total.labels(controller).inc(0)
        self.terminal_reconcile_errors_total.labels(controller).inc(0)
        self.reconcile_panics_total.labels(controller).inc(0)

    def observe_reconcile(self, controller: str, result: str, seconds: float) -> None:
        """Count one reconcile with its ``result`` (one of :data:`RECONCILE_RESULTS`) and time.

        ``result == "error"`` also counts ``controller_runtime_reconcile_errors_total``;
        terminal errors and panics are counted by the caller.
        """
        if result not in RECONCILE_RESULTS:
            raise ValueError(f"unknown reconcile result {result!r}")
        self.reconcile_total.labels(controller, result).inc()
        if result == "error":
            self.reconcile_errors_total.labels(controller).inc()
        self.reconcile_time_seconds.labels(controller).observe(seconds)

    # -- leader election and the REST client ---------------------------------------------

    def set_leader(self, name: str, is_leader: bool) -> None:
        """``leader_election_master_status{name}``: 1 while leading the lease ``name``."""
        self.leader_election_master_status.labels(name).set(1.0 if is_leader else 0.0)

    def observe_rest_request(
        self, method: str, host: str, code: int | str, seconds: float | None = None
    ) -> None:
        """The REST client's hook, once per HTTP request (client-go's adapters).

        ``code`` is the status code, or ``"<error>"`` when no response arrived (client-go's
        value); ``host`` is ``host:port``; ``seconds`` the request latency, if measured.
        """
        self.rest_client_requests_total.labels(str(code), method, host).inc()
        if seconds is not None:
            self.rest_client_request_duration_seconds.labels(method, host).observe(seconds)

    def observe_relist(self, kind: str, reason: str) -> None:
        """The informers' hook, once per relist (``reason``: initial, gone, error)."""
        self.informer_relists_total.labels(kind, reason).inc()

    # -- workqueue metrics provider (pilothouse.runtime.workqueue.WorkqueueMetricsProvider) --

    def new_depth_metric(self, name: str) -> Gauge:
        return self.workqueue_depth.labels(name, name)

    def new_adds_metric(self, name: str) -> Counter:
        return self.workqueue_adds_total.labels(name, name)

    def new_latency_metric(self, name: str) -> Histogram:
        return self.workqueue_queue_duration_seconds.labels(name, name)

    def new_work_duration_metric(self, name: str) -> Histogram:
        return self.workqueue_work_duration_seconds.labels(name, name)

    def new_unfinished_work_seconds_metric(self, name: str) -> Gauge:
        return self.workqueue_unfinished_work_seconds.labels(name, name)

    def new_longest_running_processor_seconds_metric(self, name: str) -> Gauge:
        return self.workqueue_longest_running_processor_seconds.labels(name, name)

    def new_retries_metric(self, name: str) -> Counter:
        return self.workqueue_retries_total.labels(name, name)

    # -- exposition ----------------------------------------------------------------------

    def render(self) -> bytes:
        """The registry in the Prometheus text format (serve as :data:`CONTENT_TYPE_LATEST`)."""
        return generate_latest(_WithoutCreated(self.registry))


class _WithoutCreated(Collector):
    """A view of a registry without the OpenMetrics-only ``*_created`` series."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._registry = registry

    def collect(self) -> Iterable[Metric]:
        for metric in self._registry.collect():
            if metric.type not in ("counter", "histogram", "summary", "gaugehistogram"):
                yield metric
                continue
            created = metric.name + "_created"
            copy = Metric(metric.name, metric.documentation, metric.type, metric.unit)
            copy.samples = [s for s in metric.samples if s.name != created]
            yield copy

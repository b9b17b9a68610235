"""The webhook server's Prometheus metrics, named as controller-runtime names them so the
dashboards and alerts written for Go operators work unchanged:

* ``controller_runtime_webhook_requests_total{webhook,code}`` -- requests by HTTP status;
* ``controller_runtime_webhook_latency_seconds{webhook}`` -- a histogram of handling time;
* ``controller_runtime_webhook_requests_in_flight{webhook}`` -- requests being served.

``webhook`` is the request path (``/validate-widgets``), as in controller-runtime. The
metrics are registered on the :class:`~prometheus_client.CollectorRegistry` given, never on
the process-global default registry, so several servers (and tests) never collide.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class WebhookMetrics:
    """The three webhook metrics on one registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.requests = Counter(
            "controller_runtime_webhook_requests_total",
            "Total number of admission requests by HTTP status code.",
            ["webhook", "code"],
            registry=registry,
        )
        self.latency = Histogram(
            "controller_runtime_webhook_latency_seconds",
            "Histogram of the latency of processing admission requests",
            ["webhook"],
            registry=registry,
        )
        self.in_flight = Gauge(
            "controller_runtime_webhook_requests_in_flight",
            "Current number of admission requests being served.",
            ["webhook"],
            registry=registry,
        )

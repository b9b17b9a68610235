"""The printer registry as a whole: which kinds have printers, every printer tolerating
malformed objects, and every column description resolving from the OpenAPI docs."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from printer_rows import NOW

from pilothouse.apiserver import printers


def test_no_printer_for_default_convertor_kinds() -> None:
    for group, resource in [
        ("rbac.authorization.k8s.io", "roles"),
        ("rbac.authorization.k8s.io", "clusterroles"),
        ("apiextensions.k8s.io", "customresourcedefinitions"),
        ("", "limitranges"),
    ]:
        assert printers.printer_for(group, resource) is None


_FIELDS = [
    "metadata",
    "spec",
    "status",
    "name",
    "creationTimestamp",
    "deletionTimestamp",
    "labels",
    "annotations",
    "containers",
    "initContainers",
    "containerStatuses",
    "initContainerStatuses",
    "state",
    "lastState",
    "terminated",
    "waiting",
    "running",
    "reason",
    "conditions",
    "type",
    "replicas",
    "selector",
    "matchLabels",
    "matchExpressions",
    "ports",
    "port",
    "subsets",
    "addresses",
    "ip",
    "template",
    "jobTemplate",
    "metrics",
    "currentMetrics",
    "resource",
    "target",
    "current",
    "series",
    "involvedObject",
    "regarding",
    "roleRef",
    "subjects",
    "ownerReferences",
    "loadBalancer",
    "ingress",
    "rules",
    "capacity",
    "accessModes",
    "phase",
    "startTime",
    "completionTime",
    "restartCount",
    "ready",
    "started",
    "restartPolicy",
    "readinessGates",
    "podIPs",
    "service",
    "parameters",
    "webhooks",
    "endpoints",
    "nodeInfo",
]
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-3, 3)
    | st.floats(allow_nan=False)
    | st.sampled_from(["", "True", "Always", "Ready", "Resource", "2024-05-01T11:00:00Z", "x"])
)
_JSON = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(_FIELDS), inner, max_size=5)
    ),
    max_leaves=25,
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(printers.printed_resources()),
    st.dictionaries(st.sampled_from(_FIELDS), _JSON, max_size=6),
)
def test_printers_tolerate_malformed_objects(key: tuple[str, str], obj: dict[str, Any]) -> None:
    printer = printers.printer_for(*key)
    assert printer is not None
    row = printer.cells(obj, NOW)
    assert len(row) == len(printer.columns)
    if printer.conditions is not None:
        printer.conditions(obj)


def test_every_swagger_description_resolves() -> None:
    for key in printers.printed_resources():
        printer = printers.printer_for(*key)
        assert printer is not None
        for column in printer.columns:
            definition = column.definition()
            assert definition["description"], (key, column.name)
            assert definition["priority"] in (0, 1)

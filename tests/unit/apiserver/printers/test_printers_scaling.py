"""Printers of HorizontalPodAutoscalers (metric targets) and PodDisruptionBudgets, checked
against printers_test.go cases. Objects are the versioned JSON the server stores."""

from __future__ import annotations

from typing import Any

import pytest
from printer_rows import cells


def _hpa(metrics: list[dict[str, Any]], current: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "metadata": {"name": "h"},
        "spec": {
            "scaleTargetRef": {"kind": "Deployment", "name": "web"},
            "minReplicas": 1,
            "maxReplicas": 10,
            "metrics": metrics,
        },
        "status": {"currentReplicas": 3, "currentMetrics": current},
    }


CPU_UTIL = {
    "type": "Resource",
    "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}},
}


@pytest.mark.parametrize(
    ("metrics", "current", "targets"),
    [
        ([], [], "<none>"),
        ([CPU_UTIL], [], "cpu: <unknown>/80%"),
        (
            [CPU_UTIL],
            [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "current": {"averageUtilization": 45, "averageValue": "100m"},
                    },
                }
            ],
            "cpu: 45%/80%",
        ),
        (
            [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "memory",
                        "target": {"type": "AverageValue", "averageValue": "100Mi"},
                    },
                }
            ],
            [{"type": "Resource", "resource": {"current": {"averageValue": "50Mi"}}}],
            "memory: 50Mi/100Mi",
        ),
        (
            [
                {
                    "type": "Pods",
                    "pods": {
                        "metric": {"name": "qps"},
                        "target": {"type": "AverageValue", "averageValue": "10"},
                    },
                }
            ],
            [],
            "<unknown>/10",
        ),
        (
            [
                {
                    "type": "External",
                    "external": {
                        "metric": {"name": "q"},
                        "target": {"type": "AverageValue", "averageValue": "30"},
                    },
                }
            ],
            [{"type": "External", "external": {"current": {"averageValue": "12"}}}],
            "12/30 (avg)",
        ),
        (
            [{"type": "Object", "object": {"target": {"type": "Value", "value": "5"}}}],
            [{"type": "Object", "object": {"current": {"value": "7"}}}],
            "7/5",
        ),
        (
            [CPU_UTIL, CPU_UTIL, CPU_UTIL, {"type": "Weird"}],
            [],
            "cpu: <unknown>/80%, cpu: <unknown>/80% + 2 more...",
        ),
    ],
)
def test_hpa_targets(
    metrics: list[dict[str, Any]], current: list[dict[str, Any]], targets: str
) -> None:
    assert cells("autoscaling", "horizontalpodautoscalers", _hpa(metrics, current)) == [
        "h",
        "Deployment/web",
        targets,
        "1",
        10,
        3,
        "<unknown>",
    ]


def test_pod_disruption_budget() -> None:
    obj: dict[str, Any] = {
        "metadata": {"name": "pdb"},
        "spec": {"minAvailable": "50%"},
        "status": {"disruptionsAllowed": 1},
    }
    assert cells("policy", "poddisruptionbudgets", obj) == ["pdb", "50%", "N/A", 1, "<unknown>"]
    obj["spec"] = {"maxUnavailable": 1}
    assert cells("policy", "poddisruptionbudgets", obj)[1:3] == ["N/A", "1"]

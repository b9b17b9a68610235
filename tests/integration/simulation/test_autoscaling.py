"""The simulated HPA scales a Deployment from the ``pilothouse.dev/cpu-utilization`` pod
annotation. No Deployment controller runs here: the test makes the target's pods itself and
checks the HPA's writes to the Deployment's ``spec.replicas``."""

from __future__ import annotations

import json
import pathlib
from collections.abc import Iterator
from typing import Any

import pytest

from pilothouse.apiserver import server
from pilothouse.apiserver.simulation import autoscaling
from pilothouse.testing.apiserver import ServerThread
from pilothouse.testing.eventually import eventually


@pytest.fixture
def cluster(tmp_path: pathlib.Path) -> Iterator[ServerThread]:
    cfg = server.ServerConfig(
        simulation=True,
        simulation_controllers=(autoscaling.HorizontalPodAutoscalerController,),
    )
    with ServerThread(cfg).start(kubeconfig=tmp_path / "kubeconfig") as st:
        yield st


def _get(cluster: ServerThread, *args: str) -> Any:
    return json.loads(cluster.kubectl("get", *args, "-o", "json").stdout)


def _pod(cluster: ServerThread, name: str, cpu: str) -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "labels": {"app": "web"},
            "annotations": {autoscaling.CPU_ANNOTATION: cpu},
        },
        "spec": {"containers": [{"name": "c", "image": "nginx"}]},
    }
    cluster.kubectl("apply", "-f", "-", input=json.dumps(pod))
    status = {"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}}
    cluster.kubectl(
        "patch", "pod", name, "--subresource=status", "--type=merge", "-p", json.dumps(status)
    )


def _deployment(cluster: ServerThread, replicas: int) -> None:
    dep = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "c", "image": "nginx"}]},
            },
        },
    }
    cluster.kubectl("apply", "-f", "-", input=json.dumps(dep))


def _hpa(cluster: ServerThread, behavior: dict[str, Any] | None = None) -> None:
    hpa: dict[str, Any] = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web"},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "minReplicas": 1,
            "maxReplicas": 5,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": 50},
                    },
                }
            ],
        },
    }
    if behavior is not None:
        hpa["spec"]["behavior"] = behavior
    cluster.kubectl("apply", "-f", "-", input=json.dumps(hpa))


def _replicas(cluster: ServerThread) -> int:
    return int(_get(cluster, "deployment", "web")["spec"]["replicas"])


def test_hpa_scales_up_and_down(cluster: ServerThread) -> None:
    _deployment(cluster, 2)
    _pod(cluster, "p1", "50")
    _pod(cluster, "p2", "50")
    _hpa(cluster, {"scaleDown": {"stabilizationWindowSeconds": 0}})

    def steady() -> bool:
        status = _get(cluster, "hpa", "web").get("status") or {}
        assert status.get("desiredReplicas") == 2, status
        assert status["currentMetrics"][0]["resource"]["current"]["averageUtilization"] == 50
        conds = {c["type"]: c["status"] for c in status["conditions"]}
        assert conds == {"AbleToScale": "True", "ScalingActive": "True", "ScalingLimited": "False"}
        assert "lastScaleTime" not in status
        return True

    eventually(steady, timeout=10)
    assert _replicas(cluster) == 2
    # Average 100% of a 50% target: double.
    cluster.kubectl(
        "annotate", "pod", "p1", "p2", f"{autoscaling.CPU_ANNOTATION}=100", "--overwrite"
    )
    eventually(lambda: _replicas(cluster) == 4, timeout=10)
    status = _get(cluster, "hpa", "web")["status"]
    assert status["desiredReplicas"] == 4 and status["lastScaleTime"]
    # Far above: limited by maxReplicas.
    cluster.kubectl(
        "annotate", "pod", "p1", "p2", f"{autoscaling.CPU_ANNOTATION}=400", "--overwrite"
    )
    eventually(lambda: _replicas(cluster) == 5, timeout=10)

    def limited() -> bool:
        conds = {c["type"]: c for c in _get(cluster, "hpa", "web")["status"]["conditions"]}
        assert conds["ScalingLimited"]["status"] == "True"
        assert conds["ScalingLimited"]["reason"] == "TooManyReplicas"
        return True

    eventually(limited, timeout=10)
    # Down with no stabilization window: ceil(2 pods * 10/50) = 1.
    cluster.kubectl(
        "annotate", "pod", "p1", "p2", f"{autoscaling.CPU_ANNOTATION}=10", "--overwrite"
    )
    eventually(lambda: _replicas(cluster) == 1, timeout=10)


def test_default_scale_down_window_holds(cluster: ServerThread) -> None:
    _deployment(cluster, 2)
    _pod(cluster, "p1", "100")
    _pod(cluster, "p2", "100")
    _hpa(cluster)
    eventually(lambda: _replicas(cluster) == 4, timeout=10)
    cluster.kubectl(
        "annotate", "pod", "p1", "p2", f"{autoscaling.CPU_ANNOTATION}=10", "--overwrite"
    )

    def recomputed() -> bool:
        status = _get(cluster, "hpa", "web")["status"]
        assert status["currentMetrics"][0]["resource"]["current"]["averageUtilization"] == 10
        return True

    eventually(recomputed, timeout=10)
    # The 300s default scale-down window keeps the recent recommendation of 4.
    assert _replicas(cluster) == 4
    assert _get(cluster, "hpa", "web")["status"]["desiredReplicas"] == 4


def test_missing_target(cluster: ServerThread) -> None:
    _hpa(cluster)

    def failed() -> bool:
        conds = {c["type"]: c for c in _get(cluster, "hpa", "web")["status"]["conditions"]}
        assert conds["AbleToScale"]["status"] == "False"
        assert conds["AbleToScale"]["reason"] == "FailedGetScale"
        return True

    eventually(failed, timeout=10)


def test_desired_replicas() -> None:
    assert autoscaling.desired_replicas(3, 3, 54, 50) == 3  # within tolerance
    assert autoscaling.desired_replicas(3, 3, 100, 50) == 6
    assert autoscaling.desired_replicas(4, 2, 100, 50) == 4  # pods not yet created
    assert autoscaling.desired_replicas(4, 4, 10, 50) == 1

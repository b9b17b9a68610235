"""``kubectl autoscale`` (autoscaling/v1) and autoscaling/v2 clients see the same object."""

from __future__ import annotations

import json

from pilothouse.testing.apiserver import ServerThread
from pilothouse.testing.http import RawClient


def test_autoscale_v1_is_stored_as_v2(cluster: ServerThread) -> None:
    cluster.kubectl("create", "deployment", "web", "--image=nginx")
    cluster.kubectl("autoscale", "deployment", "web", "--min=2", "--max=5", "--cpu-percent=60")
    v2 = RawClient(cluster).request(
        "GET", "/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers/web"
    )
    assert v2.status == 200
    spec = v2.json()["spec"]
    assert spec["minReplicas"] == 2 and spec["maxReplicas"] == 5
    assert spec["metrics"][0]["resource"]["target"] == {
        "type": "Utilization",
        "averageUtilization": 60,
    }
    out = cluster.kubectl("get", "horizontalpodautoscalers.v1.autoscaling", "web", "-o", "json")
    v1 = json.loads(out.stdout)
    assert (
        v1["apiVersion"] == "autoscaling/v1" and v1["spec"]["targetCPUUtilizationPercentage"] == 60
    )
    assert "web" in cluster.kubectl("get", "hpa").stdout

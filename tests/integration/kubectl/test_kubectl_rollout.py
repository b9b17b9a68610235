"""``kubectl rollout status`` and ``kubectl wait`` follow what a controller writes to the
status subresource (here the test plays the controller; the simulated cluster does it for
real)."""

from __future__ import annotations

import json
import subprocess
import threading

from pilothouse.testing.apiserver import ServerThread
from pilothouse.testing.eventually import eventually
from pilothouse.testing.http import RawClient

DEP = "/apis/apps/v1/namespaces/default/deployments/web"


def test_rollout_status_completes_when_status_catches_up(cluster: ServerThread) -> None:
    cluster.kubectl("create", "deployment", "web", "--image=nginx", "--replicas=2")
    raw = RawClient(cluster)
    results: list[subprocess.CompletedProcess[str]] = []
    waiter = threading.Thread(
        target=lambda: results.append(
            cluster.kubectl("rollout", "status", "deployment/web", "--timeout=30s", check=False)
        )
    )
    waiter.start()
    # rollout status is watching: the deployment is not available yet.
    state = cluster.server.state
    assert state is not None
    eventually(lambda: state.store.hub.watcher_count() > 0, message="rollout status watching")
    generation = raw.request("GET", DEP).json()["metadata"]["generation"]
    status = {
        "observedGeneration": generation,
        "replicas": 2,
        "updatedReplicas": 2,
        "readyReplicas": 2,
        "availableReplicas": 2,
        "conditions": [
            {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
            {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"},
        ],
    }
    resp = raw.request(
        "PATCH",
        DEP + "/status",
        {"status": status},
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert resp.status == 200, resp.body
    waiter.join(40)
    assert results and results[0].returncode == 0, results
    assert "Waiting for deployment" in results[0].stdout
    assert "successfully rolled out" in results[0].stdout
    out = cluster.kubectl(
        "wait", "--for=condition=Available", "deployment/web", "--timeout=10s"
    ).stdout
    assert "condition met" in out
    got = json.loads(cluster.kubectl("get", "deploy", "web", "-o", "json").stdout)
    assert got["status"]["availableReplicas"] == 2

"""The whole simulated cluster at once (every controller, as ``pilothouse cluster up`` runs
it), driven by unmodified kubectl."""

from __future__ import annotations

import pathlib
from collections.abc import Iterator

import pytest

from pilothouse.apiserver import server
from pilothouse.testing.apiserver import ServerThread
from pilothouse.testing.eventually import eventually

PDB = """
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: web}
spec:
  minAvailable: 3
  selector: {matchLabels: {app: web}}
"""

STS = """
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  serviceName: db
  replicas: 2
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers: [{name: db, image: "postgres:16"}]
  volumeClaimTemplates:
  - metadata: {name: data}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {requests: {storage: 1Gi}}
"""


@pytest.fixture
def sim(tmp_path: pathlib.Path) -> Iterator[ServerThread]:
    srv = ServerThread(server.ServerConfig(nodes=3, state_dir=tmp_path / "state"))
    srv.start(kubeconfig=tmp_path / "kubeconfig")
    try:
        yield srv
    finally:
        srv.stop()


def test_deployment_lifecycle_drain_and_budget(sim: ServerThread) -> None:
    sim.kubectl("create", "deployment", "web", "--image=nginx", "--replicas=3")
    assert (
        "successfully rolled out"
        in sim.kubectl("rollout", "status", "deploy/web", "--timeout=30s").stdout
    )
    sim.kubectl("wait", "--for=condition=Ready", "pod", "-l", "app=web", "--timeout=30s")
    sim.kubectl("scale", "deploy/web", "--replicas=5")
    sim.kubectl("rollout", "status", "deploy/web", "--timeout=30s")
    assert len(sim.get_json("pods", "-l", "app=web")["items"]) == 5
    sim.kubectl("scale", "deploy/web", "--replicas=3")
    eventually(lambda: len(sim.get_json("pods", "-l", "app=web")["items"]) == 3)

    # A budget that allows no disruption blocks the drain...
    sim.kubectl("apply", "-f", "-", input=PDB)
    eventually(lambda: sim.get_json("pdb", "web")["status"]["currentHealthy"] == 3)
    node = sim.get_json("pods", "-l", "app=web")["items"][0]["spec"]["nodeName"]
    blocked = sim.kubectl("drain", node, "--timeout=3s", check=False)
    assert blocked.returncode != 0 and "disruption budget" in blocked.stderr
    # ...and once it allows one, the drain goes through and the pods move elsewhere.
    sim.kubectl("patch", "pdb", "web", "--type=merge", "-p", '{"spec":{"minAvailable":2}}')
    sim.kubectl("drain", node, "--timeout=60s")
    sim.kubectl("rollout", "status", "deploy/web", "--timeout=30s")
    pods = sim.get_json("pods", "-l", "app=web")["items"]
    assert all(p["spec"]["nodeName"] != node for p in pods)
    assert sim.get_json("node", node)["spec"]["unschedulable"] is True


@pytest.mark.parametrize("cascade", ["background", "foreground", "orphan"])
def test_deleting_a_deployment_with_each_propagation_policy(
    sim: ServerThread, cascade: str
) -> None:
    sim.kubectl("create", "deployment", "web", "--image=nginx", "--replicas=2")
    sim.kubectl("rollout", "status", "deploy/web", "--timeout=30s")
    sim.kubectl("delete", "deploy/web", f"--cascade={cascade}", "--wait=true", "--timeout=60s")
    if cascade == "orphan":
        rs = sim.get_json("rs")["items"]
        assert len(rs) == 1 and "ownerReferences" not in rs[0]["metadata"]
        assert len(sim.get_json("pods")["items"]) == 2
    else:
        eventually(lambda: not sim.get_json("rs")["items"], message="ReplicaSets collected")
        eventually(lambda: not sim.get_json("pods")["items"], message="pods collected")


def test_statefulset_volumes_namespace_cascade_and_restart(tmp_path: pathlib.Path) -> None:
    cfg = server.ServerConfig(nodes=2, state_dir=tmp_path / "state")
    srv = ServerThread(cfg).start(kubeconfig=tmp_path / "kubeconfig")
    try:
        srv.kubectl("create", "namespace", "data")
        srv.kubectl("-n", "data", "apply", "-f", "-", input=STS)
        srv.kubectl("-n", "data", "rollout", "status", "sts/db", "--timeout=30s")
        claims = srv.kubectl_json("-n", "data", "get", "pvc")["items"]
        assert sorted(c["metadata"]["name"] for c in claims) == ["data-db-0", "data-db-1"]
        assert all(c["status"]["phase"] == "Bound" for c in claims)
    finally:
        srv.stop()
    # The controllers pick up where they were after a restart.
    again = ServerThread(cfg).start(kubeconfig=tmp_path / "kubeconfig")
    try:
        again.kubectl("-n", "data", "scale", "sts/db", "--replicas=3")
        again.kubectl("-n", "data", "rollout", "status", "sts/db", "--timeout=30s")
        again.kubectl("delete", "namespace", "data", "--wait=true", "--timeout=60s")
        assert again.get_json("pods", "-A")["items"] == []
    finally:
        again.stop()


def test_hpa_scales_its_deployment_when_the_metric_rises(sim: ServerThread) -> None:
    sim.kubectl("create", "deployment", "api", "--image=nginx", "--replicas=2")
    sim.kubectl("set", "resources", "deploy/api", "--requests=cpu=100m")
    sim.kubectl("rollout", "status", "deploy/api", "--timeout=30s")
    sim.kubectl("autoscale", "deploy/api", "--min=2", "--max=6", "--cpu-percent=50")
    for pod in sim.get_json("pods", "-l", "app=api")["items"]:
        name = pod["metadata"]["name"]
        sim.kubectl("annotate", "pod", name, "pilothouse.dev/cpu-utilization=100", "--overwrite")
    eventually(lambda: sim.get_json("deploy", "api")["spec"]["replicas"] == 4, timeout=30)
    sim.kubectl("rollout", "status", "deploy/api", "--timeout=30s")

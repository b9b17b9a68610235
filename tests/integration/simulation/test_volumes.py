"""PersistentVolumeClaim binding, dynamic provisioning and reclaiming, through kubectl."""

from __future__ import annotations

import pathlib
from collections.abc import Iterator
from typing import Any

import pytest

from pilothouse.apiserver import server
from pilothouse.apiserver.simulation.volumes import VolumeController
from pilothouse.testing.apiserver import ServerThread
from pilothouse.testing.eventually import eventually


@pytest.fixture
def sim(tmp_path: pathlib.Path) -> Iterator[ServerThread]:
    cfg = server.ServerConfig(simulation=True, simulation_controllers=(VolumeController,))
    srv = ServerThread(cfg).start(kubeconfig=tmp_path / "kubeconfig")
    try:
        yield srv
    finally:
        srv.stop()


def _pvc(name: str, size: str = "1Gi", extra: str = "") -> str:
    return f"""
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {{name: {name}}}
spec:
  accessModes: [ReadWriteOnce]
  resources: {{requests: {{storage: {size}}}}}
{extra}"""


def _pv(name: str, size: str, reclaim: str = "Retain", cls: str = "manual") -> str:
    return f"""
apiVersion: v1
kind: PersistentVolume
metadata: {{name: {name}}}
spec:
  capacity: {{storage: {size}}}
  accessModes: [ReadWriteOnce, ReadOnlyMany]
  persistentVolumeReclaimPolicy: {reclaim}
  storageClassName: {cls}
  hostPath: {{path: /tmp/{name}}}
"""


def _bound(srv: ServerThread, name: str) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        pvc: dict[str, Any] = srv.get_json("pvc", name)
        return pvc if pvc.get("status", {}).get("phase") == "Bound" else None

    return eventually(check)


def test_default_storage_class(sim: ServerThread) -> None:
    sc = eventually(lambda: sim.get_json("storageclass")["items"])
    assert [s["metadata"]["name"] for s in sc] == ["standard"]
    assert sc[0]["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"] == (
        "true"
    )
    assert sc[0]["provisioner"] == "pilothouse.dev/simulated"
    assert sc[0]["volumeBindingMode"] == "Immediate"
    assert "(default)" in sim.kubectl("get", "sc").stdout


def test_dynamic_provisioning_and_delete_reclaim(sim: ServerThread) -> None:
    sim.kubectl("apply", "-f", "-", input=_pvc("data", "2Gi"))
    pvc = _bound(sim, "data")
    uid = pvc["metadata"]["uid"]
    pv_name = f"pvc-{uid}"
    assert pvc["spec"]["volumeName"] == pv_name
    # The server's PVC update validation does not yet allow nil -> class (the real
    # RetroactiveDefaultStorageClass rule), so the claim may keep no class; it still binds
    # through the default class.
    assert pvc["spec"].get("storageClassName") in (None, "standard")
    assert pvc["status"]["capacity"] == {"storage": "2Gi"}
    assert pvc["status"]["accessModes"] == ["ReadWriteOnce"]
    assert pvc["metadata"]["annotations"]["pv.kubernetes.io/bind-completed"] == "yes"
    pv = sim.get_json("pv", pv_name)
    assert pv["status"]["phase"] == "Bound"
    assert pv["spec"]["claimRef"]["uid"] == uid
    assert pv["spec"]["storageClassName"] == "standard"
    assert pv["spec"]["persistentVolumeReclaimPolicy"] == "Delete"
    assert pv["spec"]["hostPath"]["path"] == f"/var/lib/pilothouse/{pv_name}"
    assert pv["spec"]["capacity"] == {"storage": "2Gi"}
    sim.kubectl("delete", "pvc", "data")
    eventually(lambda: not sim.get_json("pv")["items"])


def test_precreated_volume_binds_smallest_fit_and_is_retained(sim: ServerThread) -> None:
    sim.kubectl("apply", "-f", "-", input=_pv("big", "10Gi"))
    sim.kubectl("apply", "-f", "-", input=_pv("small", "3Gi"))
    sim.kubectl("apply", "-f", "-", input=_pv("tiny", "1Gi"))
    sim.kubectl("apply", "-f", "-", input=_pvc("claim", "2Gi", "  storageClassName: manual"))
    pvc = _bound(sim, "claim")
    assert pvc["spec"]["volumeName"] == "small"
    assert pvc["status"]["capacity"] == {"storage": "3Gi"}
    pv = sim.get_json("pv", "small")
    assert pv["status"]["phase"] == "Bound"
    assert pv["spec"]["claimRef"]["name"] == "claim"
    phases = {p["metadata"]["name"]: p["status"]["phase"] for p in sim.get_json("pv")["items"]}
    assert phases["big"] == phases["tiny"] == "Available"
    sim.kubectl("delete", "pvc", "claim")
    eventually(lambda: sim.get_json("pv", "small")["status"]["phase"] == "Released")


def test_unmatched_claim_stays_pending_until_volume_appears(sim: ServerThread) -> None:
    sim.kubectl("apply", "-f", "-", input=_pvc("later", "5Gi", "  storageClassName: manual"))
    # A class nobody provisions: the claim waits for a matching volume.
    sim.kubectl("apply", "-f", "-", input=_pv("small", "1Gi"))
    eventually(lambda: sim.get_json("pv", "small")["status"]["phase"] == "Available")
    assert sim.get_json("pvc", "later")["status"]["phase"] == "Pending"
    sim.kubectl("apply", "-f", "-", input=_pv("fits", "5Gi"))
    assert _bound(sim, "later")["spec"]["volumeName"] == "fits"

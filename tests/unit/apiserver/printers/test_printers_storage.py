"""Printers of PersistentVolumes, PersistentVolumeClaims and StorageClasses, checked against
printers_test.go cases. Objects are the versioned JSON the server stores."""

from __future__ import annotations

from typing import Any

from printer_rows import ago, cells


def test_persistent_volume_and_claim() -> None:
    pv: dict[str, Any] = {
        "metadata": {"name": "pv1"},
        "spec": {
            "capacity": {"storage": "10Gi"},
            "accessModes": ["ReadWriteMany", "ReadWriteOnce"],
            "persistentVolumeReclaimPolicy": "Retain",
            "storageClassName": "fast",
            "claimRef": {"namespace": "ns", "name": "data"},
            "volumeMode": "Filesystem",
        },
        "status": {"phase": "Bound"},
    }
    assert cells("", "persistentvolumes", pv) == [
        "pv1",
        "10Gi",
        "RWO,RWX",
        "Retain",
        "Bound",
        "ns/data",
        "fast",
        "<unset>",
        "",
        "<unknown>",
        "Filesystem",
    ]
    pv["metadata"]["deletionTimestamp"] = ago(seconds=1)
    pv["metadata"]["annotations"] = {"volume.beta.kubernetes.io/storage-class": "old"}
    assert cells("", "persistentvolumes", pv)[4:7] == ["Terminating", "ns/data", "old"]
    pvc: dict[str, Any] = {
        "metadata": {"name": "data"},
        "spec": {"storageClassName": "fast", "resources": {"requests": {"storage": "1Gi"}}},
        "status": {"phase": "Pending"},
    }
    assert cells("", "persistentvolumeclaims", pvc) == [
        "data",
        "Pending",
        "",
        "",
        "",
        "fast",
        "<unset>",
        "<unknown>",
        "<unset>",
    ]
    pvc["spec"]["volumeName"] = "pv1"
    pvc["status"] = {
        "phase": "Bound",
        "capacity": {"storage": "10Gi"},
        "accessModes": ["ReadOnlyMany"],
    }
    assert cells("", "persistentvolumeclaims", pvc)[1:5] == ["Bound", "pv1", "10Gi", "ROX"]


def test_storage_class() -> None:
    obj: dict[str, Any] = {
        "metadata": {
            "name": "std",
            "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
        },
        "provisioner": "csi.x",
    }
    assert cells("storage.k8s.io", "storageclasses", obj) == [
        "std (default)",
        "csi.x",
        "Delete",
        "Immediate",
        False,
        "<unknown>",
    ]
    obj = {
        "metadata": {"name": "slow"},
        "provisioner": "p",
        "reclaimPolicy": "Retain",
        "volumeBindingMode": "WaitForFirstConsumer",
        "allowVolumeExpansion": True,
    }
    assert cells("storage.k8s.io", "storageclasses", obj)[:5] == [
        "slow",
        "p",
        "Retain",
        "WaitForFirstConsumer",
        True,
    ]

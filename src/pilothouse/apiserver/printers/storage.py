"""Printers of storage: PersistentVolumes, PersistentVolumeClaims and StorageClasses.

Design choice: the storage class comes from the beta annotation when present, as upstream's
``GetPersistentVolumeClass`` does, and quantities print as stored.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from pilothouse.apiserver.printers.format import age, quantity
from pilothouse.apiserver.printers.reading import (
    Obj,
    as_str,
    is_deleting,
    list_at,
    map_at,
    name_of,
    namespaced_name,
)
from pilothouse.apiserver.printers.registry import AGE, NAME, column, register, wide


def _access_modes(modes: list[Any]) -> str:
    short = {"ReadWriteOnce": "RWO", "ReadOnlyMany": "ROX", "ReadWriteMany": "RWX"}
    short["ReadWriteOncePod"] = "RWOP"
    return ",".join(abbr for mode, abbr in short.items() if mode in modes)


def _phase(obj: Obj, status: Obj) -> str:
    return "Terminating" if is_deleting(obj) else as_str(status.get("phase"))


def _storage_class(obj: Obj) -> str:
    beta = map_at(obj, "metadata", "annotations").get("volume.beta.kubernetes.io/storage-class")
    return beta if isinstance(beta, str) else as_str(map_at(obj, "spec").get("storageClassName"))


_PV = "core.v1.PersistentVolume"


@register(
    "",
    "persistentvolumes",
    NAME,
    column("Capacity", (f"{_PV}Spec", "capacity")),
    column("Access Modes", (f"{_PV}Spec", "accessModes")),
    column("Reclaim Policy", (f"{_PV}Spec", "persistentVolumeReclaimPolicy")),
    column("Status", (f"{_PV}Status", "phase")),
    column("Claim", (f"{_PV}Spec", "claimRef")),
    column("StorageClass", "StorageClass of the pv"),
    column("VolumeAttributesClass", "VolumeAttributesClass of the pv"),
    column("Reason", (f"{_PV}Status", "reason")),
    AGE,
    wide("VolumeMode", (f"{_PV}Spec", "volumeMode")),
)
def _persistent_volume(obj: Obj, now: dt.datetime) -> list[Any]:
    spec, status = map_at(obj, "spec"), map_at(obj, "status")
    claim = spec.get("claimRef")
    claim_text = namespaced_name(claim) if isinstance(claim, Mapping) else ""
    return [
        name_of(obj),
        quantity(map_at(spec, "capacity").get("storage")),
        _access_modes(list_at(spec, "accessModes")),
        as_str(spec.get("persistentVolumeReclaimPolicy")),
        _phase(obj, status),
        claim_text,
        _storage_class(obj),
        as_str(spec.get("volumeAttributesClassName"), "<unset>"),
        as_str(status.get("reason")),
        age(obj, now),
        as_str(spec.get("volumeMode"), "<unset>"),
    ]


_PVC = "core.v1.PersistentVolumeClaim"


@register(
    "",
    "persistentvolumeclaims",
    NAME,
    column("Status", (f"{_PVC}Status", "phase")),
    column("Volume", (f"{_PVC}Spec", "volumeName")),
    column("Capacity", (f"{_PVC}Status", "capacity")),
    column("Access Modes", (f"{_PVC}Status", "accessModes")),
    column("StorageClass", "StorageClass of the pvc"),
    column("VolumeAttributesClass", "VolumeAttributesClass of the pvc"),
    AGE,
    wide("VolumeMode", (f"{_PVC}Spec", "volumeMode")),
)
def _persistent_volume_claim(obj: Obj, now: dt.datetime) -> list[Any]:
    spec, status = map_at(obj, "spec"), map_at(obj, "status")
    volume = as_str(spec.get("volumeName"))
    bound = bool(volume)  # capacity and modes show once the claim names its volume
    return [
        name_of(obj),
        _phase(obj, status),
        volume,
        quantity(map_at(status, "capacity").get("storage")) if bound else "",
        _access_modes(list_at(status, "accessModes")) if bound else "",
        _storage_class(obj),
        as_str(spec.get("volumeAttributesClassName"), "<unset>"),
        age(obj, now),
        as_str(spec.get("volumeMode"), "<unset>"),
    ]


_SC = "storage.v1.StorageClass"


@register(
    "storage.k8s.io",
    "storageclasses",
    NAME,
    column("Provisioner", (_SC, "provisioner")),
    column("ReclaimPolicy", (_SC, "reclaimPolicy")),
    column("VolumeBindingMode", (_SC, "volumeBindingMode")),
    column("AllowVolumeExpansion", (_SC, "allowVolumeExpansion")),
    AGE,
)
def _storage_class_row(obj: Obj, now: dt.datetime) -> list[Any]:
    annotations = map_at(obj, "metadata", "annotations")
    default = any(
        annotations.get(f"storageclass.{beta}kubernetes.io/is-default-class") == "true"
        for beta in ("", "beta.")
    )
    expansion = obj.get("allowVolumeExpansion")
    return [
        name_of(obj) + (" (default)" if default else ""),
        as_str(obj.get("provisioner")),
        as_str(obj.get("reclaimPolicy"), "Delete"),
        as_str(obj.get("volumeBindingMode"), "Immediate"),
        expansion if isinstance(expansion, bool) else False,
        age(obj, now),
    ]
